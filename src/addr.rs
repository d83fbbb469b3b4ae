//! Command-line addresses: `HOST:PORT`, `[V6]:PORT`, `HOST` or `PORT`, each service
//! with its documented default port, resolved to one socket address.

use anyhow::{anyhow, Context, Result};
use std::net::SocketAddr;

/// Default port of the chat service.
pub const CHAT_PORT: u16 = 7070;
/// Default port of the echo service (RFC 862 uses 7, which needs root).
pub const ECHO_PORT: u16 = 7007;
/// The default host: loopback, so nothing is exposed unless asked for.
pub const DEFAULT_HOST: &str = "127.0.0.1";

/// Resolve `spec` (or the default host) with `default_port` when no port is given.
pub async fn resolve(spec: Option<&str>, default_port: u16) -> Result<SocketAddr> {
    let spec = spec.unwrap_or(DEFAULT_HOST);
    let full = if let Ok(port) = spec.parse::<u16>() {
        format!("{DEFAULT_HOST}:{port}")
    } else if spec.parse::<SocketAddr>().is_ok() {
        spec.to_string()
    } else if spec.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("[{spec}]:{default_port}")
    } else if spec
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        spec.to_string()
    } else {
        format!("{spec}:{default_port}")
    };
    let mut addrs = tokio::net::lookup_host(full.as_str())
        .await
        .with_context(|| format!("cannot resolve {full}"))?;
    addrs
        .next()
        .ok_or_else(|| anyhow!("{full} resolves to no address"))
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

    #[tokio::test]
    async fn forms() {
        let r = |s: Option<&'static str>| resolve(s, 7070);
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
        assert!(r(Some("no.such.host.invalid")).await.is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0.5").unwrap().as_millis(), 500);
        assert_eq!(parse_duration("200ms").unwrap().as_millis(), 200);
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
