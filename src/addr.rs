//! Command-line addresses: `HOST:PORT`, `[V6]:PORT`, `HOST` or `PORT`, each service
//! with its documented default port, resolved to one socket address; and the one-line
//! errors that name what failed at an address (action, protocol, address, cause).

use anyhow::{anyhow, bail, Result};
use std::fmt;
use std::io;
use std::net::SocketAddr;

/// Default port of the chat service.
pub const CHAT_PORT: u16 = 7070;
/// Default port of the echo service (RFC 862 uses 7, which needs root).
pub const ECHO_PORT: u16 = 7007;
/// The default host: loopback, so nothing is exposed unless asked for.
pub const DEFAULT_HOST: &str = "127.0.0.1";

/// Resolve `spec` (or the default host) with `default_port` when no port is given.
/// A port that is not a number in 0..=65535 is an error that says so.
pub async fn resolve(spec: Option<&str>, default_port: u16) -> Result<SocketAddr> {
    resolve_with(spec, default_port, |host, port| async move {
        tokio::net::lookup_host((host, port))
            .await
            .map(|a| a.collect())
    })
    .await
}

/// [`resolve`] with the name lookup given (the system resolver there; the tests' own
/// here, so that no test sends a DNS query).
async fn resolve_with<F, Fut>(
    spec: Option<&str>,
    default_port: u16,
    lookup: F,
) -> Result<SocketAddr>
where
    F: FnOnce(String, u16) -> Fut,
    Fut: std::future::Future<Output = io::Result<Vec<SocketAddr>>>,
{
    let spec = spec.unwrap_or(DEFAULT_HOST);
    let (host, port) = split(spec, default_port)?;
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let addrs = match lookup(host.to_string(), port).await {
        Ok(a) => a,
        Err(e) => bail!("cannot resolve host {host:?}: {}", cause(&e)),
    };
    addrs
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("host {host:?} resolves to no address"))
}

/// `spec` as (host, port): `PORT`, `HOST`, `HOST:PORT`, `V6`, `[V6]` or `[V6]:PORT`.
fn split(spec: &str, default_port: u16) -> Result<(&str, u16)> {
    let port_of = |p: &str| -> Result<u16> {
        if p.is_empty() {
            bail!("bad port in {spec:?}: empty");
        }
        match p.parse::<u64>() {
            Ok(n) => u16::try_from(n)
                .map_err(|_| anyhow!("bad port in {spec:?}: {n} is not in 0..=65535")),
            Err(_) => bail!("bad port in {spec:?}: {p:?} is not a number"),
        }
    };
    if spec.chars().all(|c| c.is_ascii_digit()) && !spec.is_empty() {
        return Ok((DEFAULT_HOST, port_of(spec)?));
    }
    if let Some(rest) = spec.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            bail!("bad address {spec:?}: no closing ']'");
        };
        return match after.strip_prefix(':') {
            Some(p) => Ok((host, port_of(p)?)),
            None if after.is_empty() => Ok((host, default_port)),
            None => bail!("bad address {spec:?}: expected ':PORT' after ']'"),
        };
    }
    match spec.matches(':').count() {
        0 => Ok((spec, default_port)),
        1 => {
            let (host, p) = spec.split_once(':').expect("one colon");
            if host.is_empty() {
                bail!("bad address {spec:?}: no host before ':'");
            }
            Ok((host, port_of(p)?))
        }
        // Several colons and no brackets: a bare IPv6 address.
        _ => Ok((spec, default_port)),
    }
}

/// What went wrong, in words: the OS message without its `(os error N)` and
/// lower-cased, with a hint where one helps; an error with a message of its own as is.
pub fn cause(e: &io::Error) -> String {
    if e.get_ref().is_some() {
        return e.to_string(); // already in words
    }
    match e.kind() {
        io::ErrorKind::ConnectionRefused => {
            return "connection refused (nothing listens there)".into()
        }
        io::ErrorKind::AddrInUse => {
            return "address already in use (another program serves there)".into()
        }
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => return "timed out".into(),
        _ => {}
    }
    let text = e.to_string();
    let text = match (e.raw_os_error(), text.rfind(" (os error ")) {
        (Some(_), Some(i)) => &text[..i],
        _ => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "unknown error".into(),
    }
}

/// `e` re-worded as one line naming what was tried where: "cannot listen on tcp
/// 127.0.0.1:7070: address already in use (…)". The error kind is kept.
pub fn failed(what: fmt::Arguments<'_>, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {}", cause(&e)))
}

/// [`failed`] for UDP, where a refusal is the ICMP port-unreachable answer to a datagram:
/// "cannot join udp 127.0.0.1:7070: port unreachable (nothing listens there)".
pub fn failed_udp(what: fmt::Arguments<'_>, e: io::Error) -> io::Error {
    let e = if e.kind() == io::ErrorKind::ConnectionRefused {
        io::Error::new(e.kind(), "port unreachable (nothing listens there)")
    } else {
        e
    };
    failed(what, e)
}

/// Parse a duration: a bare number is seconds (`0.2`, like ping's `-i`), otherwise
/// humantime (`200ms`, `1s`, `2m`).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Ok(std::time::Duration::from_secs_f64(secs));
        }
        return Err(format!("{s}: not a duration"));
    }
    humantime::parse_duration(s).map_err(|e| format!("{s}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A resolver that knows `localhost` only, as the system's does from /etc/hosts, and
    /// answers any other name as a resolver that found nothing: no query leaves.
    async fn local_only(host: String, port: u16) -> io::Result<Vec<SocketAddr>> {
        match host.as_str() {
            "localhost" => Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))]),
            "empty.test" => Ok(Vec::new()),
            _ => Err(io::Error::other(
                "failed to lookup address information: Name or service not known",
            )),
        }
    }

    #[tokio::test]
    async fn forms() {
        let r = |s: Option<&'static str>| resolve_with(s, 7070, local_only);
        assert_eq!(r(None).await.unwrap(), "127.0.0.1:7070".parse().unwrap());
        assert_eq!(r(Some("9")).await.unwrap(), "127.0.0.1:9".parse().unwrap());
        assert_eq!(
            r(Some("127.0.0.2:80")).await.unwrap(),
            "127.0.0.2:80".parse().unwrap()
        );
        assert_eq!(r(Some("::1")).await.unwrap(), "[::1]:7070".parse().unwrap());
        assert_eq!(
            r(Some("[::1]:5")).await.unwrap(),
            "[::1]:5".parse().unwrap()
        );
        assert_eq!(r(Some("localhost:5")).await.unwrap().port(), 5);
        assert_eq!(
            r(Some("[::1]")).await.unwrap(),
            "[::1]:7070".parse().unwrap()
        );
        assert_eq!(
            r(Some("no.such.host.invalid:5"))
                .await
                .unwrap_err()
                .to_string(),
            "cannot resolve host \"no.such.host.invalid\": failed to lookup address \
             information: Name or service not known"
        );
        assert_eq!(
            r(Some("empty.test")).await.unwrap_err().to_string(),
            "host \"empty.test\" resolves to no address"
        );
    }

    /// Addresses never reach the resolver: `resolve` itself, with the system's, answers
    /// them (and bad ports) without a lookup.
    #[tokio::test]
    async fn addresses_and_bad_ports_need_no_lookup() {
        assert_eq!(
            resolve(Some("[::1]:5"), 7070).await.unwrap(),
            "[::1]:5".parse().unwrap()
        );
        assert_eq!(
            resolve(Some("10.0.0.1"), 7070).await.unwrap(),
            "10.0.0.1:7070".parse().unwrap()
        );
        assert!(resolve_with(Some("127.0.0.1:80"), 1, no_lookup)
            .await
            .is_ok());
    }

    async fn no_lookup(host: String, _: u16) -> io::Result<Vec<SocketAddr>> {
        panic!("{host:?} was looked up")
    }

    #[tokio::test]
    async fn bad_ports_are_called_bad_ports() {
        let e = |s: &'static str| async move {
            let r = resolve_with(Some(s), 7070, no_lookup).await;
            r.unwrap_err().to_string()
        };
        assert_eq!(
            e("127.0.0.1:99999").await,
            "bad port in \"127.0.0.1:99999\": 99999 is not in 0..=65535"
        );
        assert_eq!(
            e("localhost:abc").await,
            "bad port in \"localhost:abc\": \"abc\" is not a number"
        );
        assert_eq!(
            e("99999").await,
            "bad port in \"99999\": 99999 is not in 0..=65535"
        );
        assert_eq!(e("host:").await, "bad port in \"host:\": empty");
        assert_eq!(
            e("[::1]:x").await,
            "bad port in \"[::1]:x\": \"x\" is not a number"
        );
    }

    #[test]
    fn causes_read_as_words() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(
            cause(&refused),
            "connection refused (nothing listens there)"
        );
        let os = io::Error::from_raw_os_error(101); // ENETUNREACH on Linux
        assert!(!cause(&os).contains("os error"), "{}", cause(&os));
        let e = failed(
            format_args!("cannot connect to tcp {}", "127.0.0.1:9"),
            refused,
        );
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
        assert_eq!(
            e.to_string(),
            "cannot connect to tcp 127.0.0.1:9: connection refused (nothing listens there)"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0.5").unwrap().as_millis(), 500);
        assert_eq!(parse_duration("200ms").unwrap().as_millis(), 200);
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
