//! Sources a UDP server never answers, whatever they send: the guard against loops and
//! reflection that both the chat and the echo server apply before anything else.
//!
//! Two services that answer every datagram can be made to answer each other forever by
//! one forged datagram (CERT CA-1996-01: echo ↔ chargen). So a reply never goes to:
//! a privileged port (< 1024: echo, chargen, daytime, DNS, NTP, SNMP...), a few well-known
//! UDP responders above it (SSDP, WS-Discovery, mDNS, CoAP, memcached), nettool's own
//! default ports, the serving socket's own port (a forged source equal to our address
//! would make us answer ourselves), or an address that cannot be a source at all
//! (unspecified, multicast, broadcast).

use std::net::{IpAddr, SocketAddr};

/// Well-known UDP responders above 1024, and nettool's own default ports.
pub(crate) const LOOP_PORTS: &[u16] = &[
    1900,  // SSDP
    3702,  // WS-Discovery
    5353,  // mDNS
    5683,  // CoAP
    11211, // memcached
    crate::addr::ECHO_PORT,
    crate::addr::CHAT_PORT,
];

/// Whether a datagram from `from` may be answered by a server bound to port `own_port`.
pub(crate) fn answerable(from: SocketAddr, own_port: u16) -> bool {
    let port = from.port();
    let bad_ip = match from.ip() {
        IpAddr::V4(v4) => v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast(),
        IpAddr::V6(v6) => v6.is_unspecified() || v6.is_multicast(),
    };
    port >= 1024 && port != own_port && !LOOP_PORTS.contains(&port) && !bad_ip
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loops_and_impossible_sources_are_not_answered() {
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(answerable(at("127.0.0.1:40000"), 9000));
        for bad in [
            "127.0.0.1:7",
            "127.0.0.1:19",
            "127.0.0.1:1023",
            "127.0.0.1:9000",
            "127.0.0.1:7007",
            "127.0.0.1:7070",
            "127.0.0.1:11211",
            "0.0.0.0:40000",
            "255.255.255.255:40000",
            "224.0.0.1:40000",
            "[ff02::1]:40000",
        ] {
            assert!(!answerable(at(bad), 9000), "{bad}");
        }
    }
}
