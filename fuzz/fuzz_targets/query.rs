//! IAM's and STS's Query protocol: a form body, parsed as the server does.
#![no_main]
use coffer_api::iam_ops::IamOperation;
use coffer_api::query::Params;
use coffer_api::sts_ops::StsOperation;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = Params::from_form(data);
    let _ = p.action();
    if let Ok(op) = IamOperation::parse(&p) {
        let _ = format!("{op:?}");
    }
    if let Ok(op) = StsOperation::parse(&p) {
        let _ = format!("{op:?}");
    }
    let _ = p.tags("Tags.member");
    let _ = p.structs("PolicyArns.member");
});
