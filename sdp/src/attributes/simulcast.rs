//! `a=rid` (RFC 8851) and `a=simulcast` (RFC 8853).

use std::fmt;

use crate::error::AttributeError;

use super::{TypedAttribute, err, word};

/// Direction of an `a=rid` (RFC 8851).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RidDirection {
    /// The offerer (or answerer) sends this stream.
    Send,
    /// It receives it.
    Recv,
}

impl RidDirection {
    /// The value as written.
    pub fn as_str(self) -> &'static str {
        match self {
            RidDirection::Send => "send",
            RidDirection::Recv => "recv",
        }
    }

    /// The other direction.
    pub fn reverse(self) -> Self {
        match self {
            RidDirection::Send => RidDirection::Recv,
            RidDirection::Recv => RidDirection::Send,
        }
    }
}

fn is_rid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `a=rid:<id> <send|recv> [pt=<fmt>,...;<key>=<value>;...]` (RFC 8851).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rid<'a> {
    /// RTP stream identifier.
    pub id: &'a str,
    /// Direction.
    pub direction: RidDirection,
    /// Restrictions (`pt=` list and `;`-separated `key=value` parameters), as written.
    pub restrictions: Option<&'a str>,
}

impl<'a> Rid<'a> {
    /// Parses the attribute value.
    pub fn parse(v: &'a str) -> Result<Self, AttributeError> {
        let (id, rest) = word(v);
        if !is_rid_id(id) {
            return Err(err("rid", "rid-id is not 1-255 alphanumerics, - or _"));
        }
        let (dir, restrictions) = word(rest);
        let direction = if dir.eq_ignore_ascii_case("send") {
            RidDirection::Send
        } else if dir.eq_ignore_ascii_case("recv") {
            RidDirection::Recv
        } else {
            return Err(err("rid", "direction is not send or recv"));
        };
        let restrictions = restrictions.trim_ascii_end();
        let rid = Self {
            id,
            direction,
            restrictions: (!restrictions.is_empty()).then_some(restrictions),
        };
        for (k, value) in rid.parameters() {
            if k.is_empty() {
                return Err(err("rid", "empty restriction name"));
            }
            if k == "pt" && value.is_some_and(|v| v.split(',').any(|f| f.is_empty())) {
                return Err(err("rid", "empty format in pt="));
            }
        }
        Ok(rid)
    }

    /// The `;`-separated restrictions as `(name, value)`.
    pub fn parameters(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> + use<'a> {
        self.restrictions
            .unwrap_or("")
            .split(';')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (p, None),
            })
    }

    /// The payload types allowed by `pt=`, empty when unrestricted.
    pub fn payload_types(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        self.parameters()
            .filter(|(k, _)| *k == "pt")
            .flat_map(|(_, v)| v.unwrap_or("").split(','))
    }
}

impl fmt::Display for Rid<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.id, self.direction.as_str())?;
        if let Some(r) = self.restrictions {
            write!(f, " {r}")?;
        }
        Ok(())
    }
}

impl TypedAttribute for Rid<'_> {
    const NAME: &'static str = "rid";
}

/// One RID in an `a=simulcast` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimulcastRid<'a> {
    /// The RID.
    pub id: &'a str,
    /// Whether it starts paused (`~`).
    pub paused: bool,
}

/// `a=simulcast:send <list> [recv <list>]` (RFC 8853): each list is `;`-separated streams, each a
/// `,`-separated set of alternative RIDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Simulcast<'a> {
    /// The send list as written.
    pub send: Option<&'a str>,
    /// The receive list as written.
    pub recv: Option<&'a str>,
    /// Whether `recv` was written first.
    pub recv_first: bool,
}

/// One `~`-prefixed or plain RID of a simulcast list.
fn simulcast_rid(id: &str) -> Result<SimulcastRid<'_>, AttributeError> {
    let (paused, id) = match id.strip_prefix('~') {
        Some(rest) => (true, rest),
        None => (false, id),
    };
    if !is_rid_id(id) {
        return Err(err("simulcast", "bad rid-id in list"));
    }
    Ok(SimulcastRid { id, paused })
}

/// Checks a simulcast list without building it (validation while parsing allocates nothing).
fn check_simulcast_list(list: &str) -> Result<(), AttributeError> {
    list.split([';', ','])
        .try_for_each(|id| simulcast_rid(id).map(drop))
}

fn simulcast_list(list: &str) -> Result<Vec<Vec<SimulcastRid<'_>>>, AttributeError> {
    list.split(';')
        .map(|stream| stream.split(',').map(simulcast_rid).collect())
        .collect()
}

impl<'a> Simulcast<'a> {
    /// Parses the attribute value.
    pub fn parse(v: &'a str) -> Result<Self, AttributeError> {
        let mut s = Self {
            send: None,
            recv: None,
            recv_first: false,
        };
        let mut it = v.split_ascii_whitespace();
        let mut first = true;
        while let Some(dir) = it.next() {
            let list = it
                .next()
                .ok_or_else(|| err("simulcast", "direction without a list"))?;
            check_simulcast_list(list)?;
            let slot = if dir.eq_ignore_ascii_case("send") {
                &mut s.send
            } else if dir.eq_ignore_ascii_case("recv") {
                s.recv_first |= first;
                &mut s.recv
            } else {
                return Err(err("simulcast", "direction is not send or recv"));
            };
            if slot.replace(list).is_some() {
                return Err(err("simulcast", "direction given twice"));
            }
            first = false;
        }
        if first {
            return Err(err("simulcast", "empty"));
        }
        Ok(s)
    }

    /// The streams this side sends: each a list of alternative RIDs.
    pub fn send_streams(&self) -> Vec<Vec<SimulcastRid<'a>>> {
        self.send
            .and_then(|l| simulcast_list(l).ok())
            .unwrap_or_default()
    }

    /// The streams this side receives.
    pub fn recv_streams(&self) -> Vec<Vec<SimulcastRid<'a>>> {
        self.recv
            .and_then(|l| simulcast_list(l).ok())
            .unwrap_or_default()
    }
}

impl fmt::Display for Simulcast<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts = if self.recv_first {
            [("recv", self.recv), ("send", self.send)]
        } else {
            [("send", self.send), ("recv", self.recv)]
        };
        let mut first = true;
        for (dir, list) in parts {
            if let Some(l) = list {
                if !first {
                    f.write_str(" ")?;
                }
                write!(f, "{dir} {l}")?;
                first = false;
            }
        }
        Ok(())
    }
}

impl TypedAttribute for Simulcast<'_> {
    const NAME: &'static str = "simulcast";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rid_and_simulcast() {
        // RFC 8851 section 10 and RFC 8853 section 5.1.
        let r = Rid::parse("1 send pt=97;max-width=1280;max-height=720").unwrap();
        assert_eq!(r.direction, RidDirection::Send);
        assert_eq!(r.payload_types().collect::<Vec<_>>(), vec!["97"]);
        assert_eq!(r.parameters().nth(1), Some(("max-width", Some("1280"))));
        assert!(Rid::parse("1 both").is_err());
        assert!(Rid::parse("a!b send").is_err());
        let s = Simulcast::parse("send 1;~4,2 recv 3").unwrap();
        let send = s.send_streams();
        assert_eq!(send.len(), 2);
        assert_eq!(
            send[1][0],
            SimulcastRid {
                id: "4",
                paused: true
            }
        );
        assert_eq!(s.recv_streams()[0][0].id, "3");
        assert_eq!(s.to_string(), "send 1;~4,2 recv 3");
        let r = Simulcast::parse("recv h;m;l").unwrap();
        assert_eq!(r.recv_streams().len(), 3);
        assert!(Simulcast::parse("send").is_err());
        assert!(Simulcast::parse("send 1 send 2").is_err());
        // Checked without being built: the same errors as building the lists.
        for bad in [
            "send a;;b",
            "send a,",
            "send ~",
            "recv a;b!",
            "send ,a",
            "send a;~~b",
        ] {
            let v = bad.split_once(' ').unwrap().1;
            assert!(simulcast_list(v).is_err(), "{bad}");
            assert!(Simulcast::parse(bad).is_err(), "{bad}");
        }
        let long = format!("send {}", vec!["~a,b"; 2000].join(";"));
        let s = Simulcast::parse(&long).unwrap();
        assert_eq!(s.send_streams().len(), 2000);
        assert!(
            s.send_streams()
                .iter()
                .all(|alts| alts.len() == 2 && alts[0].paused)
        );
    }
}
