//! Random text into the ICE candidate attribute parser: parsing never panics, and a parsed
//! candidate formats and parses back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sansrtc_ice::candidate::{Candidate, CandidateAddress};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(c) = Candidate::parse(text) else {
        return;
    };
    let again = Candidate::parse(&c.to_string()).expect("a formatted candidate parses");
    match &c.address {
        // mDNS names are lower-cased on parse; everything else must round-trip exactly.
        CandidateAddress::Mdns(..) => assert_eq!(again.address, c.address),
        CandidateAddress::Ip(_) => assert_eq!(again, c),
    }
});
