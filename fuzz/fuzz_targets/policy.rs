//! Policy documents of every kind, as PutResourcePolicy, PutUserPolicy and a
//! role's trust policy hand them in.
#![no_main]
use coffer_policy::{Kind, Policy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = std::str::from_utf8(data) else {
        return;
    };
    for kind in [Kind::Identity, Kind::Resource, Kind::Trust] {
        if let Ok(p) = Policy::parse(doc, kind) {
            let _ = format!("{p:?}");
        }
    }
});
