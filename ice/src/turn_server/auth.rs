//! Long-term credentials: static users, TURN REST API ephemeral usernames, and stateless nonces
//! that expire.
//!
//! A nonce is `<expiry as 16 hex digits><HMAC-SHA256(server key, expiry, client) as 32 hex>`:
//! the server stores nothing per nonce, a forged or foreign nonce fails its MAC and an old one its
//! expiry (both answered 438 with a fresh nonce).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use ring::hmac;

use crate::stun::IntegrityKey;
use crate::stun::integrity::long_term_md5_bytes;

/// Why a username was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UserError {
    /// Not a static user, and not a valid REST username.
    Unknown,
    /// A REST username whose expiry passed (or no wall clock to check it against).
    Expired,
}

/// Credentials and nonces.
#[derive(Debug, Clone)]
pub(super) struct Auth {
    realm: String,
    users: HashMap<String, [u8; 16]>,
    secret: Option<hmac::Key>,
    nonce_key: hmac::Key,
    nonce_lifetime: Duration,
    epoch: Option<Instant>,
    wall_clock: Option<(Instant, u64)>,
}

impl Auth {
    pub(super) fn new(
        realm: &str,
        users: &[(String, String)],
        secret: Option<&str>,
        nonce_lifetime: Duration,
        nonce_key: &[u8; 32],
    ) -> Self {
        Auth {
            realm: realm.into(),
            users: users
                .iter()
                .map(|(u, p)| (u.clone(), long_term_md5_bytes(u, realm, p)))
                .collect(),
            secret: secret
                .map(|s| hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, s.as_bytes())),
            nonce_key: hmac::Key::new(hmac::HMAC_SHA256, nonce_key),
            nonce_lifetime,
            epoch: None,
            wall_clock: None,
        }
    }

    pub(super) fn realm(&self) -> &str {
        &self.realm
    }

    /// Tells the Unix time at `now` (REST usernames carry Unix expiry times).
    pub(super) fn set_unix_time(&mut self, now: Instant, unix_secs: u64) {
        self.wall_clock = Some((now, unix_secs));
    }

    fn unix_now(&self, now: Instant) -> Option<u64> {
        self.wall_clock
            .map(|(at, secs)| secs.saturating_add(now.saturating_duration_since(at).as_secs()))
    }

    fn seconds(&mut self, now: Instant) -> u64 {
        now.saturating_duration_since(*self.epoch.get_or_insert(now))
            .as_secs()
    }

    fn nonce_mac(&self, expiry: u64, client: SocketAddr) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.nonce_key);
        ctx.update(&expiry.to_be_bytes());
        ctx.update(client.to_string().as_bytes());
        ctx.sign()
    }

    /// A fresh nonce for a client.
    pub(super) fn mint_nonce(&mut self, now: Instant, client: SocketAddr) -> String {
        let expiry = self.seconds(now) + self.nonce_lifetime.as_secs().max(1);
        let mut s = format!("{expiry:016x}");
        for b in &self.nonce_mac(expiry, client).as_ref()[..16] {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    /// Whether a nonce is one we gave this client and has not expired.
    pub(super) fn nonce_valid(&mut self, now: Instant, client: SocketAddr, nonce: &str) -> bool {
        if nonce.len() != 48 || !nonce.is_ascii() {
            return false;
        }
        let Ok(expiry) = u64::from_str_radix(&nonce[..16], 16) else {
            return false;
        };
        let mut mac = [0u8; 16];
        for (i, b) in mac.iter_mut().enumerate() {
            match u8::from_str_radix(&nonce[16 + 2 * i..18 + 2 * i], 16) {
                Ok(v) => *b = v,
                Err(_) => return false,
            }
        }
        let expected = self.nonce_mac(expiry, client);
        let genuine = crate::stun::integrity::mac_matches(expected.as_ref(), &mac);
        genuine && self.seconds(now) < expiry
    }

    /// The integrity key of a username: a static user, or a REST username still valid at `now`.
    pub(super) fn key(&self, now: Instant, username: &str) -> Result<IntegrityKey, UserError> {
        if let Some(k) = self.users.get(username) {
            return Ok(IntegrityKey::from_bytes(k));
        }
        let secret = self.secret.as_ref().ok_or(UserError::Unknown)?;
        let expiry = rest_expiry(username).ok_or(UserError::Unknown)?;
        match self.unix_now(now) {
            Some(t) if t < expiry => {}
            _ => return Err(UserError::Expired),
        }
        let password = rest_password(secret, username);
        Ok(IntegrityKey::long_term_md5(
            username,
            &self.realm,
            &password,
        ))
    }
}

/// The expiry of a REST username `expiry:user` (Unix seconds).
fn rest_expiry(username: &str) -> Option<u64> {
    let (expiry, _user) = username.split_once(':')?;
    if expiry.is_empty() || expiry.len() > 19 || !expiry.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    expiry.parse().ok()
}

/// The name a quota counts a username under: REST usernames by the part after the expiry.
pub(super) fn quota_name(username: &str) -> &str {
    match (rest_expiry(username), username.split_once(':')) {
        (Some(_), Some((_, user))) => user,
        _ => username,
    }
}

/// base64(HMAC-SHA1(secret, username)): the REST API password.
fn rest_password(secret: &hmac::Key, username: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(hmac::sign(secret, username.as_bytes()))
}

/// The REST API password for `username` under `secret` (what an application backend hands out
/// with the username).
pub fn rest_api_password(secret: &str, username: &str) -> String {
    rest_password(
        &hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes()),
        username,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        Auth::new(
            "r",
            &[("alice".into(), "pw".into())],
            Some("s3cret"),
            Duration::from_secs(60),
            &[7; 32],
        )
    }

    #[test]
    fn nonces_expire_and_are_bound_to_the_client() {
        let mut a = auth();
        let now = Instant::now();
        let c1: SocketAddr = "192.0.2.1:1000".parse().unwrap();
        let c2: SocketAddr = "192.0.2.2:1000".parse().unwrap();
        let n = a.mint_nonce(now, c1);
        assert!(a.nonce_valid(now + Duration::from_secs(59), c1, &n));
        assert!(!a.nonce_valid(now + Duration::from_secs(61), c1, &n));
        assert!(!a.nonce_valid(now, c2, &n));
        let mut forged = n.clone().into_bytes();
        forged[47] = if forged[47] == b'0' { b'1' } else { b'0' };
        assert!(!a.nonce_valid(now, c1, std::str::from_utf8(&forged).unwrap()));
        assert!(!a.nonce_valid(now, c1, "x"));
        assert!(!a.nonce_valid(now, c1, &"é".repeat(24)));
    }

    #[test]
    fn rest_credentials() {
        let mut a = auth();
        let now = Instant::now();
        assert_eq!(a.key(now, "1000:bob").err(), Some(UserError::Expired));
        a.set_unix_time(now, 999);
        assert!(a.key(now, "1000:bob").is_ok());
        assert_eq!(
            a.key(now + Duration::from_secs(1), "1000:bob").err(),
            Some(UserError::Expired)
        );
        assert_eq!(a.key(now, "bob").err(), Some(UserError::Unknown));
        assert_eq!(a.key(now, "x1000:bob").err(), Some(UserError::Unknown));
        assert!(a.key(now, "alice").is_ok());
        assert_eq!(quota_name("1000:bob"), "bob");
        assert_eq!(quota_name("alice"), "alice");
        // The password is what coturn's use-auth-secret computes: base64 of a 20-byte HMAC.
        let p = rest_api_password("s3cret", "1000:bob");
        assert_eq!(p.len(), 28);
        assert!(p.ends_with('='));
    }
}
