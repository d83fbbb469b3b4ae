//! Just enough of an IP packet's headers for the lab to say what it is: its transport
//! protocol, how long its headers are (IP plus TCP or UDP) and how much payload follows.
//! Used for the capture's snap length and to count dropped TCP data segments. Packets
//! are untrusted bytes: anything short or strange is `None`, never a panic.

/// The transport protocols the lab tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4 {
    /// TCP (protocol 6).
    Tcp,
    /// UDP (protocol 17).
    Udp,
    /// Anything else (ICMP, …): its IP header is known, the rest is payload.
    Other,
}

/// What a packet's headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headers {
    /// The transport protocol.
    pub l4: L4,
    /// IP header plus the TCP or UDP header, in bytes.
    pub len: usize,
    /// Bytes after those headers (by the IP length field, capped by what is there).
    pub payload: usize,
}

/// Parse an IPv4 or IPv6 packet's headers (IPv6 extension headers are not followed:
/// their protocol counts as `Other`).
pub fn headers(p: &[u8]) -> Option<Headers> {
    let (ip_len, proto, total) = match p.first()? >> 4 {
        4 => {
            let ihl = usize::from(p.first()? & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([*p.get(2)?, *p.get(3)?]));
            // A GSO super-packet may carry 0 here: take what is there.
            let total = if total == 0 { p.len() } else { total };
            (ihl, *p.get(9)?, total)
        }
        6 => {
            let payload = usize::from(u16::from_be_bytes([*p.get(4)?, *p.get(5)?]));
            (40, *p.get(6)?, 40 + payload)
        }
        _ => return None,
    };
    if ip_len < 20 || p.len() < ip_len {
        return None;
    }
    let total = total.min(p.len()).max(ip_len);
    let (l4, l4_len) = match proto {
        6 => (L4::Tcp, usize::from(p.get(ip_len + 12)? >> 4) * 4),
        17 => (L4::Udp, 8),
        _ => (L4::Other, 0),
    };
    let len = (ip_len + l4_len).min(total);
    Some(Headers {
        l4,
        len,
        payload: total - len,
    })
}

/// Whether `p` is a TCP segment that carries data.
pub fn is_tcp_data(p: &[u8]) -> bool {
    headers(p).is_some_and(|h| h.l4 == L4::Tcp && h.payload > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4(proto: u8, l4: &[u8], payload: usize) -> Vec<u8> {
        let total = 20 + l4.len() + payload;
        let mut p = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0,
            0,
            64,
            proto,
        ];
        p.resize(20, 0);
        p.extend_from_slice(l4);
        p.resize(total, 0xaa);
        p
    }

    #[test]
    fn tcp_udp_and_others() {
        let mut tcp = [0u8; 20];
        tcp[12] = 8 << 4; // 32-byte header: 12 bytes of options
        let mut with_opts = tcp.to_vec();
        with_opts.resize(32, 1);
        let p = ipv4(6, &with_opts, 100);
        let h = headers(&p).unwrap();
        assert_eq!((h.l4, h.len, h.payload), (L4::Tcp, 52, 100));
        assert!(is_tcp_data(&p));
        tcp[12] = 5 << 4;
        assert!(!is_tcp_data(&ipv4(6, &tcp, 0)), "a pure ACK");
        let h = headers(&ipv4(17, &[0; 8], 1200)).unwrap();
        assert_eq!((h.l4, h.len, h.payload), (L4::Udp, 28, 1200));
        let h = headers(&ipv4(1, &[8, 0, 0, 0], 60)).unwrap();
        assert_eq!((h.l4, h.len, h.payload), (L4::Other, 20, 64));
    }

    #[test]
    fn garbage_is_none_never_a_panic() {
        for p in [
            &[][..],
            &[0x45],
            &[0x60; 10],
            &[0x4f; 30],
            &[0x41; 40],
            &[0x20; 60],
        ] {
            let _ = headers(p);
        }
        assert_eq!(headers(&[0x45; 4]), None);
        let mut short_tcp = ipv4(6, &[0; 20], 0);
        short_tcp.truncate(25);
        assert_eq!(headers(&short_tcp), None, "TCP header cut off");
    }
}
