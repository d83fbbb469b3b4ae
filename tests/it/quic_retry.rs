//! QUIC's address validation: the chat server answers a new client's first Initial with
//! a Retry (RFC 9000 §8.1) unless told `--no-retry`; the client joins either way. Seen
//! on the wire, through a UDP relay between the client and the server.

use crate::harness::{Member, Peer, TestServer};
use nettool::chat::ServerConfig;
use nettool::wire::Proto;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::net::UdpSocket;

/// A relay for one client to `server`: returns its address and a count of the Retry
/// packets among the server's datagrams (QUIC v1 long header, type Retry: the first
/// byte's top four bits all set, RFC 9000 §17.2.5; a Retry is never coalesced).
async fn relay(server: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    let front = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let back = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    back.connect(server).await.expect("connect");
    let addr = front.local_addr().expect("addr");
    let retries = Arc::new(AtomicUsize::new(0));
    let seen = retries.clone();
    tokio::spawn(async move {
        let mut client = None;
        let (mut up, mut down) = (vec![0u8; 65_536], vec![0u8; 65_536]);
        loop {
            tokio::select! {
                r = front.recv_from(&mut up) => {
                    let Ok((n, from)) = r else { return };
                    client = Some(from);
                    let _ = back.send(&up[..n]).await;
                }
                r = back.recv(&mut down) => {
                    let Ok(n) = r else { continue };
                    if down[..n].first().is_some_and(|b| b & 0xf0 == 0xf0) {
                        seen.fetch_add(1, Ordering::SeqCst);
                    }
                    if let Some(c) = client {
                        let _ = front.send_to(&down[..n], c).await;
                    }
                }
            }
        }
    });
    (addr, retries)
}

/// Joins through the relay and says how many Retries the server sent.
async fn retries_seen(retry: bool) -> usize {
    let mut cfg = ServerConfig::default();
    cfg.quic.retry = retry;
    let server = TestServer::start(&[Proto::Quic], cfg).await;
    let (addr, retries) = relay(server.addr_of(Proto::Quic)).await;
    let mut m = Member::join(addr, Proto::Quic, "r").await;
    let mut other = Member::join(server.addr_of(Proto::Quic), Proto::Quic, "o").await;
    m.say("both in").await;
    other.wait_for("r: both in").await;
    retries.load(Ordering::SeqCst)
}

#[tokio::test]
async fn the_chat_server_validates_a_new_address_with_a_retry() {
    assert_eq!(retries_seen(true).await, 1, "one Retry, then the handshake");
}

#[tokio::test]
async fn no_retry_serves_without_one() {
    assert_eq!(retries_seen(false).await, 0, "--no-retry: no Retry");
}
