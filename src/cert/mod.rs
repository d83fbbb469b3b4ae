//! Certificates and trust without a certificate authority, shared by TLS on TCP
//! (`crate::tcp::tls`) and QUIC ([`crate::quic`]): both use the same identity and the
//! same verification, so TCP+TLS and QUIC are compared with equal cryptography.
//!
//! | module | owns |
//! | --- | --- |
//! | [`identity`] | the server's certificate: `--cert`/`--key` files, or a self-signed one (rcgen) kept in the data directory like an SSH host key |
//! | [`trust`] | the client's verification: trust on first use into a known-hosts file (SSH's `accept-new`), `--pin SHA256:…`, `--insecure` |
//! | [`config`] | the rustls configurations built from those, and what a handshake negotiated |
//!
//! Crypto is rustls's default provider, aws-lc-rs, installed once per process
//! ([`install_provider`]): it negotiates the post-quantum hybrid X25519MLKEM768 by default;
//! [`Kx::Classical`] offers X25519 alone, for comparison. Fingerprints are SHA-256 of the
//! DER certificate, written `SHA256:` and 64 hex digits (`openssl x509 -fingerprint
//! -sha256` prints the same digits in upper case with colons; both forms are accepted).

pub mod config;
pub mod identity;
pub mod trust;

pub use config::{Negotiated, SessionLog};
pub use identity::Identity;
pub use trust::{Trust, Verdict};

use std::path::PathBuf;
use std::sync::Arc;

/// The environment variable that moves nettool's data directory (stored certificate,
/// known hosts); tests point it at a temporary directory.
pub const DATA_DIR_ENV: &str = "NETTOOL_DATA_DIR";

/// Which key exchange groups a handshake offers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Kx {
    /// rustls's defaults: the post-quantum hybrid X25519MLKEM768 first, then X25519,
    /// P-256, P-384.
    #[default]
    PostQuantum,
    /// Classical X25519 only (for comparing the cost of the hybrid).
    Classical,
}

/// Install aws-lc-rs as the process's rustls provider (once; later calls do nothing),
/// with nettool's suite order ([`aws_lc`]).
pub fn install_provider() {
    // An error means a provider is installed already: ours, by an earlier call.
    let _ = aws_lc().install_default();
}

/// aws-lc-rs's default provider with TLS_AES_128_GCM_SHA256 offered first (rustls
/// offers AES-256-GCM first): TLS 1.3's mandatory suite, the first in browsers' and Go's
/// offers and in quinn's `perf`, NIST's post-quantum category 1, and the cheaper one per
/// byte (QUIC's bulk goodput on loopback: median 6.94 against 6.51 Gbit/s with AES-256,
/// interleaved runs, docs/quic-and-tls.md). The key exchange stays post-quantum.
fn aws_lc() -> rustls::crypto::CryptoProvider {
    let mut p = rustls::crypto::aws_lc_rs::default_provider();
    // A stable sort: the rest keep rustls's order.
    p.cipher_suites
        .sort_by_key(|s| s.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    p
}

/// The provider for `kx`: aws-lc-rs with its default groups, or X25519 alone.
pub fn provider(kx: Kx) -> Arc<rustls::crypto::CryptoProvider> {
    install_provider();
    let mut p = aws_lc();
    if kx == Kx::Classical {
        p.kx_groups = vec![rustls::crypto::aws_lc_rs::kx_group::X25519];
    }
    Arc::new(p)
}

/// The SHA-256 fingerprint of a DER certificate: `SHA256:` and 64 lower-case hex digits.
pub fn fingerprint(der: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    let mut s = String::with_capacity(71);
    s.push_str("SHA256:");
    for b in d.as_ref() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A fingerprint as typed by a person (`SHA256:ab…`, `AB:CD:…` as openssl prints it,
/// or the bare digits) in the form [`fingerprint`] gives; `None` if it is not 32 bytes
/// of hex.
pub fn parse_fingerprint(s: &str) -> Option<String> {
    let s = s.trim();
    let s = s
        .strip_prefix("SHA256:")
        .or_else(|| s.strip_prefix("sha256:"))
        .unwrap_or(s);
    let hex: String = s.chars().filter(|c| *c != ':').collect();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    Some(format!("SHA256:{}", hex.to_ascii_lowercase()))
}

/// nettool's data directory: `$NETTOOL_DATA_DIR`, else `$XDG_DATA_HOME/nettool`, else
/// `~/.local/share/nettool`.
pub fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os(DATA_DIR_ENV).filter(|d| !d.is_empty()) {
        return d.into();
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("nettool");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".local/share/nettool")
}

/// A client's one-line note on stderr (a new server trusted, `--insecure`); not fatal
/// if stderr is gone.
pub fn note(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// `--insecure` says so on every start.
pub fn warn_if_insecure(trust: &Trust) {
    if *trust == Trust::Insecure {
        note("* --insecure: the server's certificate is NOT checked (anyone on the path can impersonate it)");
    }
}

/// The name a client asks for: the address's IP (`host` is `IP:PORT` or a name).
pub fn server_name(host: &str) -> rustls_pki_types::ServerName<'static> {
    if let Ok(a) = host.parse::<std::net::SocketAddr>() {
        return a.ip().into();
    }
    let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
    rustls_pki_types::ServerName::try_from(name.to_string())
        .unwrap_or_else(|_| std::net::IpAddr::from([127, 0, 0, 1]).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_in_every_common_form() {
        let fp = fingerprint(b"not a certificate, but bytes all the same");
        assert_eq!(fp.len(), 71);
        assert_eq!(parse_fingerprint(&fp).as_deref(), Some(fp.as_str()));
        let hex = &fp[7..];
        let openssl: Vec<String> = hex
            .as_bytes()
            .chunks(2)
            .map(|c| String::from_utf8_lossy(c).to_uppercase())
            .collect();
        assert_eq!(
            parse_fingerprint(&openssl.join(":")).as_deref(),
            Some(fp.as_str())
        );
        assert_eq!(parse_fingerprint(hex).as_deref(), Some(fp.as_str()));
        assert_eq!(parse_fingerprint("SHA256:abcd"), None);
        assert_eq!(parse_fingerprint(&"zz".repeat(32)), None);
    }
}
