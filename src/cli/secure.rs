//! The flags TLS and QUIC share (chat, echo, bench): the server's certificate, how a
//! client trusts it, the key exchange offered.

use anyhow::{bail, Result};
use clap::Args;
use nettool::cert::{self, Identity, Kx, Trust};
use nettool::quic::endpoint::ClientOptions;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Args, Clone, Default)]
pub struct SecureArgs {
    /// TCP with TLS (same certificate as QUIC). A server serves TLS instead of plain TCP.
    #[arg(long)]
    pub tls: bool,
    /// Server (TLS, QUIC): certificate chain, PEM [default: a self-signed one, made once
    /// and kept in the data directory ($NETTOOL_DATA_DIR or ~/.local/share/nettool)].
    #[arg(long, requires = "key")]
    pub cert: Option<PathBuf>,
    /// Server (TLS, QUIC): the certificate's private key, PEM.
    #[arg(long, requires = "cert")]
    pub key: Option<PathBuf>,
    /// Client (TLS, QUIC): accept only a certificate with this SHA-256 fingerprint
    /// (SHA256:hex, or hex with colons as openssl prints it).
    #[arg(long, conflicts_with = "insecure")]
    pub pin: Option<String>,
    /// Client (TLS, QUIC): accept any certificate (said on every start) [default: trust
    /// on first use, recorded in the known-hosts file; a changed certificate is refused].
    #[arg(long)]
    pub insecure: bool,
    /// Client (TLS, QUIC): the known-hosts file [default: known_hosts in the data directory].
    #[arg(long)]
    pub known_hosts: Option<PathBuf>,
    /// TLS, QUIC: offer classical X25519 only, instead of the post-quantum hybrid
    /// X25519MLKEM768 first (for comparing their cost).
    #[arg(long)]
    pub classical: bool,
}

impl SecureArgs {
    pub fn kx(&self) -> Kx {
        if self.classical {
            Kx::Classical
        } else {
            Kx::PostQuantum
        }
    }

    pub fn trust(&self) -> Result<Trust> {
        if self.insecure {
            return Ok(Trust::Insecure);
        }
        if let Some(pin) = &self.pin {
            let Some(fp) = cert::parse_fingerprint(pin) else {
                bail!("--pin {pin}: not a SHA-256 fingerprint (SHA256: and 64 hex digits)");
            };
            return Ok(Trust::Pin(fp));
        }
        Ok(match &self.known_hosts {
            Some(f) => Trust::Tofu {
                known_hosts: f.clone(),
            },
            None => Trust::default(),
        })
    }

    pub fn client_options(&self) -> Result<ClientOptions> {
        Ok(ClientOptions {
            trust: self.trust()?,
            kx: self.kx(),
            ..Default::default()
        })
    }

    /// The server's identity: the files given, or the stored self-signed one.
    pub fn identity(&self) -> Result<Arc<Identity>> {
        Ok(Arc::new(match (&self.cert, &self.key) {
            (Some(c), Some(k)) => Identity::from_files(c, k)?,
            _ => Identity::stored(&cert::data_dir())?,
        }))
    }
}
