//! Every JSON operation's body: the first byte picks the service and the
//! operation, the rest is the body, parsed and validated as the server does.
#![no_main]
use coffer_api::events_ops::EventsOperation;
use coffer_api::kms_ops::{KmsOperation, NAMES as KMS};
use coffer_api::SecretsManagerOperation;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let pick = usize::from(pick);
    let sm = SecretsManagerOperation::NAMES;
    let events = coffer_api::events_ops::NAMES;
    match pick % 3 {
        0 => {
            let name = sm[(pick / 3) % sm.len()];
            if let Ok(op) = SecretsManagerOperation::parse(name, body) {
                let _ = op.target();
                let _ = format!("{op:?}");
            }
        }
        1 => {
            let name = KMS[(pick / 3) % KMS.len()];
            if let Ok(op) = KmsOperation::parse(name, body) {
                let _ = format!("{op:?}");
            }
        }
        _ => {
            let name = events[(pick / 3) % events.len()];
            if let Ok(op) = EventsOperation::parse(name, body) {
                let _ = format!("{op:?}");
            }
        }
    }
});
