//! Random text into the ICE candidate attribute parser (`sansrtc-core`'s, shared by sdp and
//! ice): parsing never panics, `validate` agrees with it, and a parsed candidate formats and
//! parses back to itself (its canonical text is a fixed point).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sansrtc_ice::candidate::Candidate;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = Candidate::parse(text);
    assert_eq!(
        Candidate::validate(text),
        parsed.as_ref().map(drop).map_err(Clone::clone)
    );
    let Ok(c) = parsed else {
        return;
    };
    let canonical = c.to_string();
    let again = Candidate::parse(&canonical).expect("a formatted candidate parses");
    assert_eq!(again, c);
    assert_eq!(again.to_string(), canonical);
});
