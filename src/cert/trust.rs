//! How a client decides to trust a server's certificate, with no certificate authority:
//!
//! - [`Trust::Tofu`] (the default), like SSH's `StrictHostKeyChecking=accept-new`: a
//!   server never seen at that address is trusted and recorded in the known-hosts file
//!   (one `ADDRESS SHA256:…` line each) with a one-line note; a known one must show the
//!   same certificate, and a changed one is refused with a message that says how to
//!   remove the old entry.
//! - [`Trust::Pin`]: the certificate must have this fingerprint.
//! - [`Trust::Insecure`]: any certificate (the client says so on every start).
//!
//! In every case the handshake's signature is still checked against the certificate's
//! key, so a server must hold the key of the certificate it shows. Names and dates are
//! not checked: the fingerprint is the identity, as an SSH host key is.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{CertificateError, DigitallySignedStruct, Error, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// File name of the known-hosts file in the data directory.
pub const KNOWN_HOSTS: &str = "known_hosts";

/// How a client trusts servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Trust on first use, recorded in this known-hosts file.
    Tofu {
        /// The known-hosts file.
        known_hosts: PathBuf,
    },
    /// The certificate must have this fingerprint (as [`super::parse_fingerprint`] gives).
    Pin(String),
    /// Accept any certificate.
    Insecure,
}

impl Default for Trust {
    fn default() -> Self {
        Trust::Tofu {
            known_hosts: super::data_dir().join(KNOWN_HOSTS),
        }
    }
}

/// Why a server was trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Its fingerprint was already known for this address.
    Known,
    /// First seen: to be recorded once the handshake has succeeded.
    New(String),
    /// It matched `--pin`.
    Pinned,
    /// Nothing was checked (`--insecure`).
    Insecure,
}

/// The certificate check for one connection to `host` (the address as the client was
/// given it, e.g. `127.0.0.1:7070`).
#[derive(Debug)]
pub struct Verifier {
    trust: Trust,
    host: String,
    provider: Arc<CryptoProvider>,
    outcome: Mutex<Option<Result<Verdict, String>>>,
}

impl Verifier {
    /// A check of `host` under `trust`, verifying signatures with `provider`.
    pub fn new(trust: Trust, host: String, provider: Arc<CryptoProvider>) -> Arc<Self> {
        Arc::new(Verifier {
            trust,
            host,
            provider,
            outcome: Mutex::new(None),
        })
    }

    fn set(&self, r: Result<Verdict, String>) {
        if let Ok(mut o) = self.outcome.lock() {
            *o = Some(r);
        }
    }

    /// Why the certificate was refused, in one line, if it was.
    pub fn refusal(&self) -> Option<String> {
        match self.outcome.lock().ok()?.as_ref()? {
            Err(why) => Some(why.clone()),
            Ok(_) => None,
        }
    }

    /// After a successful handshake: record a first-seen server in the known-hosts
    /// file, and say what happened in one line, if anything is worth saying.
    pub fn settle(&self) -> Option<String> {
        let outcome = self.outcome.lock().ok()?.clone()?;
        match (outcome, &self.trust) {
            (Ok(Verdict::New(fp)), Trust::Tofu { known_hosts }) => {
                Some(match record(known_hosts, &self.host, &fp) {
                    Ok(()) => format!(
                    "* {} is new here: trusting its certificate {fp} from now on (recorded in {})",
                    self.host,
                    known_hosts.display()
                ),
                    Err(e) => format!(
                    "* {} is new here: trusting its certificate {fp} (cannot record it in {}: {e})",
                    self.host,
                    known_hosts.display()
                ),
                })
            }
            _ => None,
        }
    }

    fn check(&self, fp: &str) -> Result<Verdict, String> {
        match &self.trust {
            Trust::Insecure => Ok(Verdict::Insecure),
            Trust::Pin(pin) if pin == fp => Ok(Verdict::Pinned),
            Trust::Pin(pin) => Err(format!(
                "the certificate of {} is {fp}, not the pinned {pin}",
                self.host
            )),
            Trust::Tofu { known_hosts } => match lookup(known_hosts, &self.host) {
                None => Ok(Verdict::New(fp.to_string())),
                Some((_, known)) if known == fp => Ok(Verdict::Known),
                Some((line, known)) => Err(format!(
                    "the certificate of {host} has CHANGED: {file} line {line} knows it as {known}, it now shows {fp}. \
                     Someone may be impersonating the server, or its certificate was replaced. If you are sure it was \
                     replaced, remove the old entry (sed -i '{line}d' {file}) or connect with --pin {fp}",
                    host = self.host,
                    file = known_hosts.display(),
                )),
            },
        }
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let fp = super::fingerprint(end_entity);
        let verdict = self.check(&fp);
        let ok = verdict.is_ok();
        self.set(verdict);
        if ok {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The line number (from 1) and fingerprint recorded for `host`, if any. A missing or
/// unreadable file knows nobody.
pub fn lookup(file: &Path, host: &str) -> Option<(usize, String)> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().enumerate().find_map(|(i, line)| {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some(h), Some(fp)) if h == host && !h.starts_with('#') => {
                Some((i + 1, super::parse_fingerprint(fp).unwrap_or_default()))
            }
            _ => None,
        }
    })
}

/// Append `host fp` to the known-hosts file (and its directory, if missing).
pub fn record(file: &Path, host: &str, fp: &str) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?;
    // One write per line: appends from two clients at once do not interleave.
    f.write_all(format!("{host} {fp}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier(trust: Trust) -> Arc<Verifier> {
        Verifier::new(
            trust,
            "127.0.0.1:7070".into(),
            super::super::provider(Default::default()),
        )
    }

    #[test]
    fn tofu_accepts_records_accepts_again_and_refuses_a_change() {
        let file = std::env::temp_dir().join(format!("nettool-kh-{}", std::process::id()));
        let _ = std::fs::remove_file(&file);
        let tofu = Trust::Tofu {
            known_hosts: file.clone(),
        };
        let (a, b) = (
            "SHA256:".to_string() + &"a".repeat(64),
            "SHA256:".to_string() + &"b".repeat(64),
        );
        let v = verifier(tofu.clone());
        assert_eq!(v.check(&a), Ok(Verdict::New(a.clone())));
        v.set(v.check(&a));
        let note = v.settle().expect("a note");
        assert!(note.contains("is new here") && note.contains(&a), "{note}");
        assert_eq!(lookup(&file, "127.0.0.1:7070"), Some((1, a.clone())));
        let v = verifier(tofu);
        assert_eq!(v.check(&a), Ok(Verdict::Known));
        let why = v.check(&b).expect_err("changed");
        assert!(
            why.contains("CHANGED") && why.contains("sed -i '1d'") && !why.contains('\n'),
            "{why}"
        );
        let _ = std::fs::remove_file(&file);
    }

    #[test]
    fn a_pin_accepts_its_fingerprint_only() {
        let a = "SHA256:".to_string() + &"a".repeat(64);
        let v = verifier(Trust::Pin(a.clone()));
        assert_eq!(v.check(&a), Ok(Verdict::Pinned));
        assert!(v.check(&a.replace('a', "c")).is_err());
    }
}
