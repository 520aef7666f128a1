//! Random dependency descriptor extension elements: nothing panics, and what parses writes and
//! parses back to itself (with the structure in effect, the last one that came).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sansrtc_rtp::dependency_descriptor::{DependencyDescriptor, FrameDependencyStructure};

fuzz_target!(|data: &[u8]| {
    let mut structure: Option<FrameDependencyStructure> = None;
    let mut rest = data;
    // [len][element]...
    while let [len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (element, next) = tail.split_at(len);
        rest = next;
        let Ok(d) = DependencyDescriptor::parse(element, structure.as_ref()) else {
            continue;
        };
        let mut out = Vec::new();
        d.write(structure.as_ref(), &mut out)
            .expect("a parsed descriptor writes");
        let again = DependencyDescriptor::parse(&out, structure.as_ref()).expect("ours parses");
        assert_eq!(again, d);
        if let Some(s) = d.structure {
            structure = Some(s);
        }
    }
});
