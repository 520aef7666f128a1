//! Dependency descriptor: any bytes parse or fail cleanly, and whatever parses writes and parses
//! back to itself, with and without a structure in effect.

use proptest::prelude::*;
use sansrtc_rtp::dependency_descriptor::{DependencyDescriptor, FrameDependencyStructure};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn what_parses_writes_back(
        elements in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..6),
        structure_bit in any::<bool>(),
    ) {
        let mut structure: Option<FrameDependencyStructure> = None;
        for mut element in elements {
            // Often announce a structure, so the optional fields get exercised.
            if structure_bit && element.len() > 3 {
                element[3] |= 0x80;
            }
            let Ok(d) = DependencyDescriptor::parse(&element, structure.as_ref()) else {
                continue;
            };
            let mut out = Vec::new();
            prop_assert!(d.write(structure.as_ref(), &mut out).is_ok());
            let again = DependencyDescriptor::parse(&out, structure.as_ref()).unwrap();
            prop_assert_eq!(&again, &d);
            if let Some(s) = d.structure {
                structure = Some(s);
            }
        }
    }
}
