//! Binding a service's sockets: TCP, UDP, or both on one port number (the chat and
//! echo servers serve one address over each protocol they are given). A failure names
//! the protocol, the address and the cause (see [`crate::addr::failed`]).

use crate::tcp;
use crate::udp;
use crate::wire::Proto;
use std::io;
use std::net::SocketAddr;
use tokio::net::{TcpListener, UdpSocket};

/// The sockets a service serves on.
#[derive(Debug, Default)]
pub struct Bound {
    pub tcp: Option<TcpListener>,
    pub udp: Option<UdpSocket>,
}

impl Bound {
    /// The address served on (both sockets share the port).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match (&self.tcp, &self.udp) {
            (Some(t), _) => t.local_addr(),
            (None, Some(u)) => u.local_addr(),
            (None, None) => Err(io::Error::new(io::ErrorKind::InvalidInput, "no protocol")),
        }
    }

    /// What is served: `tcp`, `udp` or `tcp+udp`.
    pub fn protos_label(&self) -> &'static str {
        match (&self.tcp, &self.udp) {
            (Some(_), Some(_)) => "tcp+udp",
            (Some(_), None) => "tcp",
            (None, Some(_)) => "udp",
            (None, None) => "nothing",
        }
    }
}

/// Bind `protos` at `addr`. With both and port 0, the UDP socket takes the port the
/// kernel gave the TCP listener (retrying a few ports if that one is taken for UDP).
pub async fn bind(addr: SocketAddr, protos: &[Proto]) -> io::Result<Bound> {
    let want_tcp = protos.contains(&Proto::Tcp);
    let want_udp = protos.contains(&Proto::Udp);
    let attempts = if want_tcp && want_udp && addr.port() == 0 {
        16
    } else {
        1
    };
    let mut last_err = None;
    for _ in 0..attempts {
        let tcp = if want_tcp {
            Some(tcp::socket::listener(addr).map_err(|e| failed(Proto::Tcp, addr, e))?)
        } else {
            None
        };
        let udp_addr = match &tcp {
            Some(t) => t.local_addr()?,
            None => addr,
        };
        if !want_udp {
            return Ok(Bound { tcp, udp: None });
        }
        match udp::socket::bind(udp_addr) {
            Ok(udp) => {
                return Ok(Bound {
                    tcp,
                    udp: Some(udp),
                })
            }
            Err(e) => last_err = Some(failed(Proto::Udp, udp_addr, e)),
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("cannot bind")))
}

fn failed(proto: Proto, addr: SocketAddr, e: io::Error) -> io::Error {
    crate::addr::failed(format_args!("cannot listen on {proto} {addr}"), e)
}
