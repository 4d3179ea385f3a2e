#![no_main]
//! Parse and check arbitrary text: any outcome but a panic (or an internal-error
//! diagnostic, which is how the front end reports one it caught) is fine.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err((diags, _)) = rlpc::front_end_source("fuzz.rlp", text, 0) {
            assert!(diags.iter().all(|d| d.code != "internal"), "internal error on {text:?}");
        }
    }
});
