//! Stateless address validation for UDP (the idea of DTLS's HelloVerifyRequest and
//! QUIC's Retry): a token that only the server can compute, bound to the source address
//! and a time bucket, so a peer that sends it back has shown it receives what is sent to
//! that address — and the server remembered nothing in between.
//!
//! The token is SipHash-2-4, keyed with 128 random bits drawn once per server, over
//! (IP, port, bucket). It is valid in the bucket it was made in and the next, so for
//! between one and two [`UdpConfig::cookie_period`](super::UdpConfig)s. Binary peers get
//! all 64 bits ([`CookieJar::token`]); a person with netcat types a 6-character code
//! ([`CookieJar::code`], 30 bits from a separate hash) — short enough to type, and with
//! answers from unvalidated sources on a global budget, too many guesses to forge.

use siphasher::sip::SipHasher24;
use std::hash::Hasher;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::time::Instant;

/// Letters and digits that cannot be mistaken for one another (no 0/O, 1/I).
const CODE_ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Characters in a text code (5 bits each).
pub(super) const CODE_LEN: usize = 6;

/// Makes and checks tokens for one server.
pub(super) struct CookieJar {
    key: [u8; 16],
    epoch: Instant,
    period: Duration,
}

impl CookieJar {
    /// A jar with a fresh random key.
    pub(super) fn new(period: Duration) -> Self {
        let mut key = [0u8; 16];
        if let Err(e) = getrandom::fill(&mut key) {
            // std's hasher keys come from the OS too, by another path.
            tracing::warn!(error = %e, "getrandom failed; keying UDP tokens from std's RandomState");
            for half in key.chunks_mut(8) {
                use std::hash::BuildHasher;
                let r = std::collections::hash_map::RandomState::new().hash_one(half.as_ptr());
                half.copy_from_slice(&r.to_le_bytes());
            }
        }
        Self::with_key(key, period, Instant::now())
    }

    pub(super) fn with_key(key: [u8; 16], period: Duration, epoch: Instant) -> Self {
        CookieJar {
            key,
            epoch,
            period: period.max(Duration::from_millis(1)),
        }
    }

    fn bucket(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.epoch).as_nanos();
        (elapsed / self.period.as_nanos()) as u64
    }

    fn mac(&self, domain: u8, addr: SocketAddr, bucket: u64) -> u64 {
        let mut h = SipHasher24::new_with_key(&self.key);
        h.write_u8(domain);
        match addr.ip() {
            IpAddr::V4(v4) => h.write(&v4.octets()),
            IpAddr::V6(v6) => h.write(&v6.octets()),
        }
        h.write_u16(addr.port());
        h.write_u64(bucket);
        h.finish()
    }

    /// The binary token for `addr` now.
    pub(super) fn token(&self, addr: SocketAddr, now: Instant) -> [u8; 8] {
        self.mac(b'B', addr, self.bucket(now)).to_be_bytes()
    }

    /// Whether `token` was made for `addr` in this bucket or the previous one.
    pub(super) fn check_token(&self, addr: SocketAddr, token: [u8; 8], now: Instant) -> bool {
        self.recent(now)
            .any(|b| self.mac(b'B', addr, b).to_be_bytes() == token)
    }

    /// The text code for `addr` now.
    pub(super) fn code(&self, addr: SocketAddr, now: Instant) -> String {
        code_of(self.mac(b'T', addr, self.bucket(now)))
    }

    /// Whether `typed` (any case, spaces around ignored) is `addr`'s code, this bucket or
    /// the previous one.
    pub(super) fn check_code(&self, addr: SocketAddr, typed: &str, now: Instant) -> bool {
        let typed = typed.trim().to_ascii_uppercase();
        typed.len() == CODE_LEN
            && self
                .recent(now)
                .any(|b| code_of(self.mac(b'T', addr, b)) == typed)
    }

    fn recent(&self, now: Instant) -> impl Iterator<Item = u64> {
        let b = self.bucket(now);
        std::iter::once(b).chain(b.checked_sub(1))
    }
}

fn code_of(mac: u64) -> String {
    (0..CODE_LEN)
        .map(|i| char::from(CODE_ALPHABET[((mac >> (5 * i)) & 31) as usize]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bound_to_address_key_and_time() {
        let t0 = Instant::now();
        let period = Duration::from_secs(60);
        let jar = CookieJar::with_key([7; 16], period, t0);
        let a: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:40001".parse().unwrap();
        let tok = jar.token(a, t0);
        assert!(jar.check_token(a, tok, t0));
        assert!(!jar.check_token(b, tok, t0), "another port");
        assert!(!jar.check_token(a, [0; 8], t0), "forged");
        let other = CookieJar::with_key([8; 16], period, t0);
        assert!(!other.check_token(a, tok, t0), "another key");
        // Valid through the next bucket, not after.
        assert!(jar.check_token(a, tok, t0 + period + period / 2));
        assert!(!jar.check_token(a, tok, t0 + period * 2));

        let code = jar.code(a, t0);
        assert_eq!(code.len(), CODE_LEN);
        assert!(code.bytes().all(|c| CODE_ALPHABET.contains(&c)));
        assert!(jar.check_code(a, &code.to_lowercase(), t0));
        assert!(jar.check_code(a, &format!(" {code} "), t0 + period));
        assert!(!jar.check_code(b, &code, t0));
        assert!(!jar.check_code(a, &code, t0 + period * 2));
        assert!(!jar.check_code(a, "", t0));
    }
}
