//! Runs one SDP implementation's parse (or write) of the Chromium offer used by `benches/sdp.rs`
//! a given number of times, for instruction counting under callgrind, which is steady on a busy
//! machine where wall time is not:
//!
//! ```text
//! cargo build --release -p sansrtc-benches --example sdp_instructions
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/sdp_instructions sansrtc_owned 500      # and with 0
//! ```
//!
//! Instructions per operation = (count at 500 - count at 0) / 500 (`scripts/sdp-instructions`
//! does this for every case). Cases: `sansrtc`, `sansrtc_owned`, `sansrtc_into_owned`,
//! `webrtc-sdp`, `webrtc-rs_sdp`,
//! and `write_sansrtc`, `write_webrtc-sdp`, `write_webrtc-rs_sdp`.

use std::hint::black_box;
use std::io::Cursor;

const OFFER: &str = include_str!("../../sdp/tests/corpus/chromium-av-offer.sdp");

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let case = args.get(1).map(String::as_str).unwrap_or("sansrtc");
    let n: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(1);
    // Setup outside the counted loop is the same for 0 and n iterations.
    let ours = sansrtc_sdp::SessionDescription::parse(OFFER).unwrap();
    let mozilla = webrtc_sdp::parse_sdp(OFFER, false).unwrap();
    let webrtc_rs = sdp::description::session::SessionDescription::unmarshal(&mut Cursor::new(
        OFFER.as_bytes(),
    ))
    .unwrap();
    for _ in 0..n {
        match case {
            "sansrtc" => {
                black_box(sansrtc_sdp::SessionDescription::parse(black_box(OFFER)).unwrap());
            }
            "sansrtc_owned" => {
                black_box(sansrtc_sdp::SessionDescription::parse_owned(black_box(OFFER)).unwrap());
            }
            "sansrtc_into_owned" => {
                black_box(
                    sansrtc_sdp::SessionDescription::parse(black_box(OFFER))
                        .unwrap()
                        .into_owned(),
                );
            }
            "webrtc-sdp" => {
                black_box(webrtc_sdp::parse_sdp(black_box(OFFER), false).unwrap());
            }
            "webrtc-rs_sdp" => {
                let mut reader = Cursor::new(black_box(OFFER).as_bytes());
                black_box(
                    sdp::description::session::SessionDescription::unmarshal(&mut reader).unwrap(),
                );
            }
            "write_sansrtc" => {
                black_box(black_box(&ours).to_sdp_string());
            }
            "write_webrtc-sdp" => {
                black_box(black_box(&mozilla).to_string());
            }
            "write_webrtc-rs_sdp" => {
                black_box(black_box(&webrtc_rs).marshal());
            }
            other => panic!("unknown case {other}"),
        }
    }
}
