//! The integration tests, one crate (one binary to link): real loopback sockets bound to
//! port 0, real peers. `cargo test --test it MODULE::` runs one module's tests.
//!
//! | module | tests |
//! | --- | --- |
//! | [`chat`] | the room's semantics over TCP, UDP and both at once |
//! | [`bad_input`], [`malformed`] | bad input on the chat paths: the offender is refused or dropped, the others carry on |
//! | [`slow_and_floods`] | TCP peers that are slow or many: stalls, slowloris, connection floods |
//! | [`tcp_quit`] | after `/quit` the server closes, so netcat exits |
//! | [`udp_text`] | UDP text peers: short first lines, idle warnings, a dropped member told so |
//! | [`udp_spoofing`] | forged sources, floods and reflection on the UDP side |
//! | [`client`], [`client_ends`] | the chat client against scripted servers; how it ends when the server goes |
//! | [`lab`] | the link lab as root: traffic through TUN and a namespace, impairment counts, clean-up |
//! | [`lab_capture`] | TCP's retransmissions against the lab's drops; `--pcap` read back with tcpdump, and its edges |
//! | [`lifecycle`] | the binary's edges: clients leaving on signals, servers gone, one-line errors, closed stderr |
//! | [`echo`], [`echo_timeouts`] | RFC 862 echo, the ping client (and its timeouts), the stream sink |
//! | [`bench_charts`] | the bench's SVG charts say what they show |
//! | [`intervals`] | per-interval reports: TCP's `TCP_INFO`, UDP's receiver counts, adding up to the totals |
//! | [`interop`] | netcat, socat, ncat and the lesson's Node.js scripts |
//! | [`cli`] | the binary as a user runs it |
//! | [`cluster`], [`cluster_faults`] | one room across two servers over a real `nats-server`: every line once, a dead server noticed; the broker restarted, down, misconfigured; [`cluster_broker`]: a slow consumer, a token, TLS |
//! | [`faults`] | kill trials under load, resets mid-message, SIGTERM with 1 000 members |
//! | [`quic_retry`] | QUIC's Retry (address validation) on by default for the chat server, seen through a relay; `--no-retry` |
//! | [`rounds`] | fan-out by rounds: a steady stream from several senders arrives whole, in each sender's order |
//! | [`scale`] | a room at its caps: idle connections make room, `/who` in pages |
//! | [`soak`] | a soak: brief in every run, its full minute ignored by default (`scripts/soak.sh`) |
//! | [`wire_props`] | property tests of the wire codecs |
//!
//! Helpers: [`harness`] (an in-process server, nettool members, raw text peers),
//! [`process`] (the `nettool` binary and peer tools as child processes). Load members
//! are the library's own load generator, `nettool::bench::load`. A test that applies to
//! every protocol is written once, `async fn NAME(proto: Proto)`, and run per protocol
//! by `per_proto!(NAME)` (see `harness::per_proto`); every peer a test talks to in lines
//! is a `harness::Peer`.

mod harness;
mod process;

mod bad_input;
mod bench_charts;
mod chat;
mod cli;
mod client;
mod client_ends;
mod cluster;
mod cluster_broker;
mod cluster_faults;
mod detect;
mod echo;
mod echo_timeouts;
mod faults;
mod interop;
mod intervals;
mod lab;
mod lab_capture;
mod lifecycle;
mod malformed;
mod quic_retry;
mod quic_tls;
mod rounds;
mod scale;
mod slow_and_floods;
mod soak;
mod tcp_quit;
mod udp_spoofing;
mod udp_text;
mod wire_props;
