//! The server's identity: a certificate chain and its private key, from `--cert` /
//! `--key` PEM files, or self-signed by rcgen and kept in the data directory
//! (`server-cert.pem`, `server-key.pem`, the key readable by its owner only), so that a
//! restarted server keeps its fingerprint as an SSH host keeps its host key. Tests and
//! the bench's own servers use an [`Identity::ephemeral`] one, made in memory.

use anyhow::{bail, Context, Result};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// File name of the stored certificate in the data directory.
pub const CERT_FILE: &str = "server-cert.pem";
/// File name of the stored private key in the data directory.
pub const KEY_FILE: &str = "server-key.pem";

/// The names a self-signed certificate is made for. Clients verify by fingerprint, not
/// by name, so these matter only to other tools that look.
const NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Where an identity came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `--cert` / `--key` files.
    Files(PathBuf),
    /// Self-signed, loaded from the data directory.
    Stored(PathBuf),
    /// Self-signed, made now and stored in the data directory.
    Created(PathBuf),
    /// Self-signed, in memory only.
    Ephemeral,
}

/// A certificate chain (leaf first) and its key.
pub struct Identity {
    /// The chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// The leaf's SHA-256 fingerprint (see [`super::fingerprint`]).
    pub fingerprint: String,
    /// Where it came from.
    pub origin: Origin,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("fingerprint", &self.fingerprint)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "certificate {}", self.fingerprint)?;
        match &self.origin {
            Origin::Files(p) => write!(f, " (from {})", p.display()),
            Origin::Stored(d) => write!(f, " (self-signed, kept in {})", d.display()),
            Origin::Created(d) => write!(f, " (self-signed, new, kept in {})", d.display()),
            Origin::Ephemeral => write!(f, " (self-signed, this run only)"),
        }
    }
}

impl Identity {
    /// A private key for a rustls config.
    pub fn key(&self) -> PrivateKeyDer<'static> {
        self.key.clone_key()
    }

    fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        origin: Origin,
    ) -> Result<Self> {
        let Some(leaf) = chain.first() else {
            bail!("no certificate in the chain");
        };
        let fingerprint = super::fingerprint(leaf);
        Ok(Identity {
            chain,
            key,
            fingerprint,
            origin,
        })
    }

    /// A fresh self-signed identity, in memory only.
    pub fn ephemeral() -> Result<Self> {
        let (cert, key) = self_signed()?;
        let chain = vec![CertificateDer::from_pem_slice(cert.as_bytes())?];
        Identity::new(
            chain,
            PrivateKeyDer::from_pem_slice(key.as_bytes())?,
            Origin::Ephemeral,
        )
    }

    /// The chain and key in PEM files (`--cert`, `--key`).
    pub fn from_files(cert: &Path, key: &Path) -> Result<Self> {
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .with_context(|| format!("cannot read certificates from {}", cert.display()))?;
        if chain.is_empty() {
            bail!("no certificate in {}", cert.display());
        }
        let key = PrivateKeyDer::from_pem_file(key)
            .with_context(|| format!("cannot read a private key from {}", key.display()))?;
        Identity::new(chain, key, Origin::Files(cert.to_path_buf()))
    }

    /// The self-signed identity kept in `dir`, made (and kept) if there is none yet.
    pub fn stored(dir: &Path) -> Result<Self> {
        let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
        if cert_path.exists() && key_path.exists() {
            let mut id = Identity::from_files(&cert_path, &key_path)
                .with_context(|| format!("the stored certificate in {} is unusable (remove both files to make a new one)", dir.display()))?;
            id.origin = Origin::Stored(dir.to_path_buf());
            return Ok(id);
        }
        let (cert, key) = self_signed()?;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        write_file(&key_path, key.as_bytes(), 0o600)?;
        write_file(&cert_path, cert.as_bytes(), 0o644)?;
        let mut id = Identity::from_files(&cert_path, &key_path)?;
        id.origin = Origin::Created(dir.to_path_buf());
        Ok(id)
    }
}

/// A self-signed certificate and its key, as PEM (rcgen on the aws-lc-rs provider).
fn self_signed() -> Result<(String, String)> {
    let names: Vec<String> = NAMES.iter().map(|s| s.to_string()).collect();
    let ck = rcgen::generate_simple_self_signed(names).context("cannot make a certificate")?;
    Ok((ck.cert.pem(), ck.signing_key.serialize_pem()))
}

/// Write `bytes` to `path` (mode `mode`) through a temporary file and a rename, so that
/// no reader sees half a key.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_identity_is_made_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("nettool-id-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = Identity::stored(&dir).expect("made");
        assert_eq!(first.origin, Origin::Created(dir.clone()));
        let again = Identity::stored(&dir).expect("loaded");
        assert_eq!(again.origin, Origin::Stored(dir.clone()));
        assert_eq!(first.fingerprint, again.fingerprint);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join(KEY_FILE))
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the key is its owner's only");
        assert_ne!(
            Identity::ephemeral().expect("made").fingerprint,
            first.fingerprint
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
