//! The link to the broker: the URL and credentials a server is given, the connection
//! options (no echo, quick reconnects, bounded queues), and a failed first connection
//! told in one line that says what to do.
//!
//! Credentials never come from the command line (every user sees it in `ps`): a URL
//! with `user:password@` is refused, and they are read from the environment:
//! [`USER_ENV`] and [`PASSWORD_ENV`], or [`TOKEN_ENV`]. A `tls://` URL requires TLS
//! (the system's roots, or the PEM file named by [`CA_ENV`]).

use super::ClusterConfig;
use async_nats::{ConnectErrorKind, ConnectOptions};
use std::time::Duration;

/// Environment variable: the broker user name (with [`PASSWORD_ENV`]).
pub const USER_ENV: &str = "NETTOOL_NATS_USER";
/// Environment variable: the broker password.
pub const PASSWORD_ENV: &str = "NETTOOL_NATS_PASSWORD";
/// Environment variable: a broker token (instead of a user and password).
pub const TOKEN_ENV: &str = "NETTOOL_NATS_TOKEN";
/// Environment variable: a PEM file of CA certificates for `tls://` brokers.
pub const CA_ENV: &str = "NETTOOL_NATS_CA";

/// Publications the client queues for a subscriber we read too slowly; beyond, it drops
/// them and reports a slow consumer (at most this × 64 KiB of memory).
pub const SUBSCRIBER_QUEUE: usize = 1024;
/// Commands (publications) the client queues while it writes or reconnects.
pub const CLIENT_QUEUE: usize = 256;
/// How long one connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How a server proves itself to the broker.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Auth {
    /// No credentials.
    #[default]
    None,
    /// A user name and password.
    User(String, String),
    /// A token.
    Token(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::None => "None",
            Auth::User(..) => "User(…)",
            Auth::Token(_) => "Token(…)",
        })
    }
}

impl Auth {
    /// The credentials in the environment ([`USER_ENV`] and [`PASSWORD_ENV`], or
    /// [`TOKEN_ENV`]); an error if they are half given.
    pub fn from_env() -> Result<Auth, String> {
        let var = |k| std::env::var(k).ok().filter(|v: &String| !v.is_empty());
        match (var(USER_ENV), var(PASSWORD_ENV), var(TOKEN_ENV)) {
            (None, None, None) => Ok(Auth::None),
            (Some(u), Some(p), None) => Ok(Auth::User(u, p)),
            (None, None, Some(t)) => Ok(Auth::Token(t)),
            (Some(_), None, _) | (None, Some(_), _) => Err(format!(
                "{USER_ENV} and {PASSWORD_ENV} go together: set both or neither"
            )),
            (Some(_), Some(_), Some(_)) => Err(format!(
                "set either {USER_ENV}/{PASSWORD_ENV} or {TOKEN_ENV}, not both"
            )),
        }
    }
}

/// Check `url` is a broker URL we accept: `nats://HOST:PORT` or `tls://HOST:PORT`
/// (port 4222 if left out), without credentials in it.
pub fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("nats://")
        .or_else(|| url.strip_prefix("tls://"))
        .ok_or_else(|| {
            format!("{url}: not a broker URL: use nats://HOST:PORT (or tls://HOST:PORT)")
        })?;
    if rest.contains('@') {
        return Err(format!(
            "{url}: credentials do not go on the command line (ps shows it to everyone): set {USER_ENV} and {PASSWORD_ENV}, or {TOKEN_ENV}"
        ));
    }
    let host_port = rest.trim_end_matches('/');
    if host_port.is_empty() || host_port.contains('/') || host_port.contains(char::is_whitespace) {
        return Err(format!(
            "{url}: not a broker URL: use nats://HOST:PORT (or tls://HOST:PORT)"
        ));
    }
    let port = host_port.rsplit_once(':').map(|(_, p)| p);
    if let Some(p) = port.filter(|p| !p.ends_with(']')) {
        if p.parse::<u16>().is_err() {
            return Err(format!("{url}: {p:?} is not a port number"));
        }
    }
    Ok(())
}

/// The client's options for `cfg`.
pub(super) fn options(
    cfg: &ClusterConfig,
    events: tokio::sync::mpsc::Sender<async_nats::Event>,
) -> ConnectOptions {
    let mut o = ConnectOptions::new()
        .no_echo()
        .name(format!("nettool chat {}", cfg.name))
        .connection_timeout(CONNECT_TIMEOUT)
        .subscription_capacity(SUBSCRIBER_QUEUE)
        .client_capacity(CLIENT_QUEUE)
        .max_reconnects(None)
        // The default backs off to 4 s between attempts; a room should be whole again
        // within a second of the broker's return.
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis((attempts as u64 * 100).min(500))
        })
        .event_callback(move |ev| {
            let events = events.clone();
            async move {
                let _ = events.try_send(ev);
            }
        });
    match &cfg.auth {
        Auth::None => {}
        Auth::User(u, p) => o = o.user_and_password(u.clone(), p.clone()),
        Auth::Token(t) => o = o.token(t.clone()),
    }
    if cfg.url.starts_with("tls://") {
        o = o.require_tls(true);
    }
    if let Some(ca) = &cfg.ca {
        o = o.add_root_certificates(ca.clone());
    }
    o
}

/// Whether a failed first connection is worth retrying in the background (the broker
/// is down or unreachable) rather than a mistake to report (credentials, TLS, URL).
pub(super) fn transient(e: &async_nats::ConnectError) -> bool {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectErrorKind::TimedOut => true,
        // An I/O error after the broker answered (a TLS handshake with a plain broker
        // reads garbage: InvalidData) is no outage.
        ConnectErrorKind::Io => io_kind(e).is_none_or(|k| {
            matches!(
                k,
                ConnectionRefused
                    | ConnectionReset
                    | ConnectionAborted
                    | TimedOut
                    | NotConnected
                    | HostUnreachable
                    | NetworkUnreachable
                    | AddrNotAvailable
                    | UnexpectedEof
                    | BrokenPipe
            )
        }),
        _ => false,
    }
}

fn io_kind(e: &async_nats::ConnectError) -> Option<std::io::ErrorKind> {
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        src = s.source();
    }
    None
}

/// A failed first connection as one line.
pub(super) fn explain(url: &str, e: &async_nats::ConnectError) -> String {
    let why = std::error::Error::source(e)
        .map(|s| s.to_string())
        .unwrap_or_else(|| e.to_string());
    // rustls says why a certificate was refused; whatever the kind the client gave it
    // (a nats:// URL is upgraded to TLS when the broker requires it), that is the news.
    let untrusted = why.contains("certificate");
    match e.kind() {
        ConnectErrorKind::Authentication | ConnectErrorKind::AuthorizationViolation => format!(
            "the broker at {url} refused this server's credentials (from {USER_ENV}/{PASSWORD_ENV} or {TOKEN_ENV}; none set means none sent)"
        ),
        _ if untrusted => format!(
            "TLS to the broker at {url} failed: its certificate is not trusted ({CA_ENV} names a PEM file of the CAs to trust): {why}"
        ),
        ConnectErrorKind::Tls => format!("TLS to the broker at {url} failed: {why}"),
        ConnectErrorKind::Io if url.starts_with("tls://") && !transient(e) => {
            format!("TLS to the broker at {url} failed (does it serve TLS?): {why}")
        }
        ConnectErrorKind::Dns => format!("cannot resolve the broker's host in {url}: {why}"),
        ConnectErrorKind::ServerParse => format!("{url}: not a broker URL: {why}"),
        _ => format!("cannot reach the broker at {url}: {why}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_credentials_kept_off_them() {
        assert!(check_url("nats://127.0.0.1:4222").is_ok());
        assert!(check_url("tls://broker.example:4443").is_ok());
        assert!(check_url("nats://localhost").is_ok());
        let e = check_url("http://x:1").unwrap_err();
        assert!(e.contains("not a broker URL"), "{e}");
        let e = check_url("nats://u:secret@h:4222").unwrap_err();
        assert!(e.contains("NETTOOL_NATS_USER"), "{e}");
        assert!(check_url("nats://h:port")
            .unwrap_err()
            .contains("not a port"));
        assert!(check_url("nats://").is_err());
    }
}
