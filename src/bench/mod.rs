//! `nettool bench`: the TCP-vs-UDP comparison.
//!
//! | module | measures |
//! | --- | --- |
//! | [`rtt`] | round trip, one message outstanding (sockperf ping-pong) |
//! | [`stream`] | one-way bulk: goodput, UDP loss/reorder/jitter (iperf3) |
//! | [`interval`] | `--interval`: per-interval lines, TCP's `TCP_INFO` beside UDP's receiver counts |
//! | `fanout` | chat fan-out: delivered msgs/s, latency, loss, server CPU per delivery |
//! | [`cluster`] | `fanout --servers N`: one server vs N on a NATS bus, the bus's CPU beside a bare async-nats peer's |
//! | [`capacity`] | a room filled to its limit: join rate, RSS per member, broadcast latency |
//! | [`load`] | the load generator: chat members on phase-spread schedules, counting per sender (fan-out, fault and soak tests) |
//! | `child` | a server child process (for its CPU time) |
//! | `local_echo` | the in-process echo server of a local run (all four protocols) |
//! | `setup` | time from nothing to the first reply |
//! | `secure` | TLS and QUIC: setup with full, resumed and 0-RTT handshakes; their streams |
//! | [`cpu`] | per-process CPU time, for CPU per delivered message |
//! | [`suite`] | the standard suite of a bare `nettool bench` |
//! | [`sweep`] | `--sweep loss=…`: TCP goodput vs loss beside the Mathis bound (SVG) |
//! | [`link`] | `--link SPEC`: the suite across an emulated link (servers here, clients in the lab) |
//! | `report` | the report: JSON fields and the side-by-side table |
//! | [`plot`] | `--plot DIR`: SVG charts |

pub mod capacity;
mod child;
pub mod cluster;
pub mod cpu;
mod fanout;
pub mod interval;
pub mod link;
pub mod load;
mod local_echo;
pub mod plot;
mod plot_time;
mod report;
pub mod rtt;
mod secure;
mod setup;
pub mod stream;
pub mod suite;
pub mod sweep;

/// `e` from a measurement against a server, as one line naming it: "stream over udp to
/// 127.0.0.1:9: port unreachable (nothing listens there)". On UDP a refusal is the ICMP
/// answer to a datagram; on TCP a connection closed before the answer is a server that
/// is not `nettool echo -l`.
pub(crate) fn named(
    what: std::fmt::Arguments<'_>,
    proto: crate::wire::Proto,
    e: std::io::Error,
) -> std::io::Error {
    use crate::wire::Proto;
    use std::io::{Error, ErrorKind};
    match (proto, e.kind()) {
        (Proto::Udp, _) => crate::addr::failed_udp(what, e),
        (Proto::Tcp | Proto::Tls, ErrorKind::UnexpectedEof) => Error::new(
            e.kind(),
            format!("{what}: the server closed the connection before answering (is it `nettool echo -l`?)"),
        ),
        (_, _) => crate::addr::failed(what, e),
    }
}
