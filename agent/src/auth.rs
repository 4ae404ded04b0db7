//! Authentication: password hashing, login sessions, CSRF tokens and the throttles that slow
//! down guessing of passwords and setup codes.
//!
//! Invariants:
//! - Passwords are stored as argon2id PHC strings; plain passwords never reach the store or a log.
//! - A session cookie holds a random 256-bit token; the store keeps only its SHA-256. Sessions
//!   expire after [`IDLE_SECS`] without use; "log out everywhere" deletes all of an admin's rows.
//! - Every session has its own CSRF token, required on every state-changing request made with
//!   the session cookie (form field `csrf` or header `X-CSRF-Token`). Before login, forms use a
//!   double-submit cookie instead.
//! - Throttles are per client address and per purpose: failures from one address never slow
//!   down an admin logging in from another.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Sessions end after an hour without a request.
pub const IDLE_SECS: i64 = 3600;
pub const SESSION_COOKIE: &str = "panier_session";
pub const CSRF_COOKIE: &str = "panier_csrf";

pub fn hash_password(password: &crate::names::Password) -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let salt = SaltString::encode_b64(&bytes).expect("16 bytes make a valid salt");
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .expect("argon2 hashing cannot fail with default parameters")
        .to_string()
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash that no password matches, verified when the username is unknown so that the time
/// to answer does not tell which usernames exist.
pub fn dummy_hash() -> &'static str {
    static HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        hash_password(&crate::names::Password::parse("dummy-password-never-used").unwrap())
    });
    &HASH
}

/// A random token, hex-encoded (256 bits).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Constant-time string comparison for tokens.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// What a throttle guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    Login,
    SetupCode,
}

struct Entry {
    failures: u32,
    blocked_until: Option<Instant>,
}

/// Growing delays after repeated failures from one address: the first
/// [`Throttle::FREE_FAILURES`] failures are free, then 1 s, 2 s, 4 s… up to 15 minutes.
#[derive(Clone, Default)]
pub struct Throttle {
    entries: Arc<Mutex<HashMap<(Purpose, IpAddr), Entry>>>,
}

impl Throttle {
    pub const FREE_FAILURES: u32 = 3;
    pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);

    /// `Err(wait)` if this address must wait before trying again.
    pub fn check(&self, purpose: Purpose, ip: IpAddr) -> Result<(), Duration> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(&(purpose, ip)).and_then(|e| e.blocked_until) {
            Some(until) if until > Instant::now() => Err(until - Instant::now()),
            _ => Ok(()),
        }
    }

    pub fn failure(&self, purpose: Purpose, ip: IpAddr) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        // Forget addresses whose delay ran out long ago, so the map cannot grow without bound.
        if entries.len() > 10_000 {
            let now = Instant::now();
            entries.retain(|_, e| e.blocked_until.is_some_and(|u| u + Self::MAX_DELAY > now));
        }
        let entry = entries.entry((purpose, ip)).or_insert(Entry {
            failures: 0,
            blocked_until: None,
        });
        entry.failures += 1;
        if entry.failures >= Self::FREE_FAILURES {
            let exp = (entry.failures - Self::FREE_FAILURES).min(20);
            let delay = Duration::from_secs(1u64 << exp).min(Self::MAX_DELAY);
            entry.blocked_until = Some(Instant::now() + delay);
        }
    }

    pub fn success(&self, purpose: Purpose, ip: IpAddr) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(purpose, ip));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify() {
        let hash = hash_password(&crate::names::Password::parse("correct horse").unwrap());
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse!", &hash));
        assert!(!verify_password("anything", dummy_hash()));
    }

    #[test]
    fn throttle_is_per_address_and_grows() {
        let t = Throttle::default();
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        for _ in 0..Throttle::FREE_FAILURES - 1 {
            t.failure(Purpose::Login, a);
            assert!(t.check(Purpose::Login, a).is_ok());
        }
        t.failure(Purpose::Login, a);
        assert!(t.check(Purpose::Login, a).is_err());
        assert!(
            t.check(Purpose::Login, b).is_ok(),
            "another address is not slowed down"
        );
        assert!(
            t.check(Purpose::SetupCode, a).is_ok(),
            "another purpose is not slowed down"
        );
        for _ in 0..40 {
            t.failure(Purpose::Login, a);
        }
        assert!(t.check(Purpose::Login, a).unwrap_err() <= Throttle::MAX_DELAY);
        t.success(Purpose::Login, a);
        assert!(t.check(Purpose::Login, a).is_ok());
    }
}
