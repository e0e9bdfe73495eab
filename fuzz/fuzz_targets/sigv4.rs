//! The Authorization header and X-Amz-Date as a caller sends them.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(auth) = coffer_sigv4::parse_authorization(text) {
        // Whatever parsed must be usable as the verifier uses it.
        let _ = format!("{auth:?}");
    }
    if let Some(secs) = coffer_sigv4::parse_amz_date(text) {
        let _ = coffer_sigv4::check_skew(text, secs, secs);
        let _ = coffer_sigv4::format_amz_date(secs);
    }
});
