//! The rustls configurations TLS on TCP and QUIC are built from, and what a handshake
//! negotiated ([`Negotiated`]: key exchange group and cipher suite, for the bench's
//! setup rows).
//!
//! TLS servers issue stateless resumption tickets (aws-lc-rs's ticketer); QUIC servers
//! keep sessions in memory (4096), as 0-RTT data needs, and accept 0-RTT. A client's [`SessionLog`] is its session store: it resumes (or not,
//! to time full handshakes) and records the group rustls remembers as the server's
//! choice and the suite of the tickets it is given, which rustls otherwise keeps inside
//! quinn's connection.

use super::identity::Identity;
use super::trust::Verifier;
use super::Kx;
use anyhow::{Context, Result};
use rustls::client::{
    ClientSessionMemoryCache, ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue,
};
use rustls::{NamedGroup, ServerConfig};
use rustls_pki_types::ServerName;
use serde::Serialize;
use std::sync::{Arc, Mutex};

/// What a handshake settled on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Negotiated {
    /// The key exchange group, e.g. `X25519MLKEM768`.
    pub group: Option<String>,
    /// The cipher suite, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub suite: Option<String>,
}

impl Negotiated {
    /// What a rustls connection negotiated.
    pub fn of(conn: &rustls::CommonState) -> Negotiated {
        Negotiated {
            group: conn
                .negotiated_key_exchange_group()
                .map(|g| format!("{:?}", g.name())),
            suite: conn
                .negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite())),
        }
    }
}

/// A server config for `identity`: TLS 1.2 and 1.3 for TCP (`quic == false`), or
/// TLS 1.3 with 0-RTT accepted for QUIC. `alpn` lists the protocols offered (a TLS
/// client that names none, such as `openssl s_client`, is served all the same).
pub fn server(identity: &Identity, kx: Kx, alpn: &[&[u8]], quic: bool) -> Result<ServerConfig> {
    let provider = super::provider(kx);
    let builder = ServerConfig::builder_with_provider(provider);
    let builder = if quic {
        builder.with_protocol_versions(&[&rustls::version::TLS13])
    } else {
        builder.with_safe_default_protocol_versions()
    }
    .context("TLS versions")?;
    let mut cfg = builder
        .with_no_client_auth()
        .with_single_cert(identity.chain.clone(), identity.key())
        .context("the certificate and key do not go together")?;
    cfg.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
    if quic {
        // 0-RTT needs sessions kept by the server (a ticket is then good once);
        // quinn takes 0-RTT data only with this exact value.
        cfg.session_storage = rustls::server::ServerSessionMemoryCache::new(4096);
        cfg.max_early_data_size = u32::MAX;
    } else {
        cfg.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new().context("session tickets")?;
    }
    Ok(cfg)
}

/// A client config that checks certificates with `verifier`, offers `alpn`, and keeps
/// sessions (or not) in `log`.
pub fn client(
    verifier: Arc<Verifier>,
    kx: Kx,
    alpn: &[&[u8]],
    log: Arc<SessionLog>,
) -> Result<rustls::ClientConfig> {
    let provider = super::provider(kx);
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
    cfg.enable_early_data = true;
    cfg.resumption = rustls::client::Resumption::store(log);
    Ok(cfg)
}

/// A client's session store: resumes from memory, or never (every handshake full), and
/// records what the last handshake negotiated.
#[derive(Debug)]
pub struct SessionLog {
    resume: Option<ClientSessionMemoryCache>,
    last: Mutex<Negotiated>,
}

impl SessionLog {
    /// A store that resumes sessions (`true`) or makes every handshake a full one.
    pub fn new(resume: bool) -> Arc<Self> {
        Arc::new(SessionLog {
            resume: resume.then(|| ClientSessionMemoryCache::new(64)),
            last: Mutex::new(Negotiated::default()),
        })
    }

    /// What the last handshake negotiated (the suite is known once the server has sent
    /// a session ticket, which it does right after the handshake).
    pub fn last(&self) -> Negotiated {
        self.last.lock().map(|n| n.clone()).unwrap_or_default()
    }

    /// Forget what was recorded (before a new handshake).
    pub fn clear(&self) {
        if let Ok(mut n) = self.last.lock() {
            *n = Negotiated::default();
        }
    }
}

impl ClientSessionStore for SessionLog {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        if let Ok(mut n) = self.last.lock() {
            n.group = Some(format!("{group:?}"));
        }
        if let Some(c) = &self.resume {
            c.set_kx_hint(server_name, group);
        }
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.resume.as_ref()?.kx_hint(server_name)
    }

    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        if let Some(c) = &self.resume {
            c.set_tls12_session(server_name, value);
        }
    }

    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.resume.as_ref()?.tls12_session(server_name)
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        if let Some(c) = &self.resume {
            c.remove_tls12_session(server_name);
        }
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: Tls13ClientSessionValue,
    ) {
        if let Ok(mut n) = self.last.lock() {
            n.suite = Some(format!("{:?}", value.suite().common.suite));
        }
        if let Some(c) = &self.resume {
            c.insert_tls13_ticket(server_name, value);
        }
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<Tls13ClientSessionValue> {
        self.resume.as_ref()?.take_tls13_ticket(server_name)
    }
}
