//! Validation of every attribute value this crate knows, while parsing.

use crate::candidate::Candidate;
use crate::error::AttributeError;
use crate::parse::parse_num;

use super::{
    Extmap, Fingerprint, Fmtp, Group, Msid, MsidSemantic, Rid, Rtcp, RtcpFb, Rtpmap, Sctpmap,
    Setup, Simulcast, Ssrc, SsrcGroup, err, is_token, parse_decimal,
};

fn ice_credential(name: &'static str, v: &str, min: usize) -> Result<(), AttributeError> {
    if v.len() < min || v.len() > 256 {
        return Err(err(name, "length outside the allowed range"));
    }
    // RFC 8839 ice-char is ALPHA / DIGIT / "+" / "/"; accept every visible ASCII character, as
    // deployed stacks use a few more.
    if !is_token(v) {
        return Err(err(name, "not visible ASCII"));
    }
    Ok(())
}

fn number<T: crate::parse::Num>(name: &'static str, v: &str) -> Result<T, AttributeError> {
    parse_num(v.trim_ascii()).ok_or_else(|| err(name, "not a number in range"))
}

fn decimal(name: &'static str, v: &str) -> Result<f64, AttributeError> {
    parse_decimal(v.trim_ascii()).ok_or_else(|| err(name, "not a non-negative decimal number"))
}

/// Checks the value of every attribute this crate knows; unknown attributes and flags pass.
pub(crate) fn validate(name: &str, value: Option<&str>) -> Result<(), AttributeError> {
    // Names are almost always written in lower case: try them as they are first.
    if check(name, value)? {
        return Ok(());
    }
    if name.len() <= 24 && name.bytes().any(|b| b.is_ascii_uppercase()) {
        let mut buf = [0u8; 24];
        buf[..name.len()].copy_from_slice(name.as_bytes());
        buf[..name.len()].make_ascii_lowercase();
        let lower = std::str::from_utf8(&buf[..name.len()]).unwrap_or("");
        check(lower, value)?;
    }
    Ok(())
}

/// [`validate`] for a lower-case name: `Ok(false)` when the name is not one this crate checks.
fn check(lower: &str, value: Option<&str>) -> Result<bool, AttributeError> {
    let need = |n: &'static str| value.ok_or_else(|| err(n, "missing value"));
    let number_u16 = |n: &'static str| number::<u16>(n, need(n)?).map(drop);
    let decimal = |n: &'static str| decimal(n, need(n)?).map(drop);
    // Dispatch on the first letter, then compare the few names starting with it.
    let Some(&first) = lower.as_bytes().first() else {
        return Ok(false);
    };
    match first {
        b'c' => match lower {
            "candidate" => match Candidate::validate(need("candidate")?) {
                // Well formed but unusable: the line stays, negotiation skips it.
                Err(e) if !e.is_unsupported() => Err(err("candidate", e.reason())),
                _ => Ok(()),
            },
            _ => return Ok(false),
        },
        b'r' => match lower {
            "rtcp-fb" => RtcpFb::parse(need("rtcp-fb")?).map(drop),
            "rtpmap" => Rtpmap::parse(need("rtpmap")?).map(drop),
            "rtcp" => Rtcp::parse(need("rtcp")?).map(drop),
            "rid" => Rid::parse(need("rid")?).map(drop),
            _ => return Ok(false),
        },
        b'f' => match lower {
            "fmtp" => Fmtp::parse(need("fmtp")?).map(drop),
            "fingerprint" => Fingerprint::parse(need("fingerprint")?).map(drop),
            "framerate" => decimal("framerate"),
            _ => return Ok(false),
        },
        b'e' => match lower {
            "extmap" => Extmap::parse(need("extmap")?).map(drop),
            _ => return Ok(false),
        },
        b's' => match lower {
            "ssrc" => Ssrc::parse(need("ssrc")?).map(drop),
            "ssrc-group" => SsrcGroup::parse(need("ssrc-group")?).map(drop),
            "setup" => Setup::parse(need("setup")?).map(drop),
            "simulcast" => Simulcast::parse(need("simulcast")?).map(drop),
            "sctp-port" => number_u16("sctp-port"),
            "sctpmap" => Sctpmap::parse(need("sctpmap")?).map(drop),
            _ => return Ok(false),
        },
        b'm' => match lower {
            "mid" => {
                if need("mid")?.is_empty() {
                    Err(err("mid", "empty identification tag"))
                } else {
                    Ok(())
                }
            }
            "msid" => Msid::parse(need("msid")?).map(drop),
            "msid-semantic" => MsidSemantic::parse(need("msid-semantic")?).map(drop),
            "max-message-size" => {
                number::<u64>("max-message-size", need("max-message-size")?).map(drop)
            }
            "maxptime" => decimal("maxptime"),
            _ => return Ok(false),
        },
        b'g' => match lower {
            "group" => Group::parse(need("group")?).map(drop),
            _ => return Ok(false),
        },
        b'i' => match lower {
            "ice-ufrag" => ice_credential("ice-ufrag", need("ice-ufrag")?, 1),
            "ice-pwd" => ice_credential("ice-pwd", need("ice-pwd")?, 1),
            "ice-options" => {
                if need("ice-options")?
                    .split_ascii_whitespace()
                    .next()
                    .is_none()
                {
                    Err(err("ice-options", "no option"))
                } else {
                    Ok(())
                }
            }
            _ => return Ok(false),
        },
        b'p' => match lower {
            "ptime" => decimal("ptime"),
            _ => return Ok(false),
        },
        _ => return Ok(false),
    }
    .map(|()| true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(validate("PTIME", Some("x")).is_err());
        assert!(validate("x-unknown", Some("whatever")).is_ok());
        assert!(validate("rtpmap", None).is_err());
    }
}
