//! The malformed-input matrix on real sockets, beyond `bad_input.rs`: hostile length
//! fields inside small frames and datagrams, a frame or line cut off by a reset or a
//! close, a mebibyte with no newline, control characters aimed at text peers, and
//! empty and 65 507-byte datagrams from strangers. Each offender gets its error or is
//! dropped; the other members chat on and see nothing of it.

use crate::harness;

use futures_util::StreamExt;
use harness::{assert_nothing_before_sentinel, reset, Member, Peer, TcpText, TestServer, WAIT};
use nettool::chat::ServerConfig;
use nettool::wire::binary::{self, FrameCodec};
use nettool::wire::testing::with_length;
use nettool::wire::{ClientMsg, Proto, ServerMsg};
use std::net::SocketAddr;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;
use tokio_util::codec::FramedRead;

/// A raw binary TCP peer: preamble and `Hello` sent, `Welcome` read.
struct RawBinary {
    rd: FramedRead<OwnedReadHalf, FrameCodec<ServerMsg, ()>>,
    wr: OwnedWriteHalf,
}

impl RawBinary {
    async fn join(addr: SocketAddr, nick: &str) -> RawBinary {
        let s = harness::raw_binary(addr, nick).await;
        let (rd, wr) = s.into_split();
        let mut p = RawBinary {
            rd: FramedRead::new(rd, FrameCodec::new(1 << 16)),
            wr,
        };
        let welcome = p.next().await;
        assert!(matches!(welcome, ServerMsg::Welcome { .. }), "{welcome:?}");
        p
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.wr.write_all(bytes).await.expect("write");
    }

    async fn next(&mut self) -> ServerMsg {
        match timeout(WAIT, self.rd.next())
            .await
            .expect("a frame in time")
        {
            Some(Ok(Ok(m))) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// The socket again, for a reset.
    fn into_stream(self) -> TcpStream {
        self.rd
            .into_inner()
            .reunite(self.wr)
            .expect("halves of one socket")
    }
}

/// A `Say` whose text claims `len` bytes, in a frame of a few bytes.
fn lying_say_frame(len: u64) -> Vec<u8> {
    let say = binary::encode(&ClientMsg::Say {
        seq: 1,
        sent_us: 0,
        text: String::new(),
    })
    .expect("encode");
    let payload = with_length(&say, len);
    let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&payload);
    frame
}

fn say_frame(text: &str) -> Vec<u8> {
    binary::encode_frame(&ClientMsg::Say {
        seq: 2,
        sent_us: 0,
        text: text.into(),
    })
    .expect("encode")
    .to_vec()
}

#[tokio::test]
async fn huge_declared_lengths_in_small_frames_are_refused_and_the_sender_stays() {
    let server = TestServer::start(&[Proto::Tcp], ServerConfig::default()).await;
    let (mut alice, mut bob) = Member::pair(server.addr, Proto::Tcp).await;
    let mut m = RawBinary::join(server.addr, "mallory").await;
    alice.expect("* mallory joined (tcp)").await;
    bob.expect("* mallory joined (tcp)").await;

    // A 4 GiB string and a 2^60-byte string, each in a frame of 17 bytes: refused by
    // bincode's limit before any allocation, one error each, connection kept.
    for len in [1 << 32, 1 << 60] {
        m.send(&lying_say_frame(len)).await;
        match m.next().await {
            ServerMsg::Error(e) => assert!(e.starts_with("malformed message refused"), "{e}"),
            other => panic!("{other:?}"),
        }
    }
    m.send(&say_frame("after the lies")).await;
    alice.expect("mallory: after the lies").await;
    bob.expect("mallory: after the lies").await;
    alice.say("and we chat on").await;
    bob.expect("alice: and we chat on").await;
    let stats = server.stop().await;
    assert_eq!(stats.invalid, 2);
}

#[tokio::test]
async fn a_frame_cut_off_by_a_reset_drops_only_that_peer() {
    let server = TestServer::start(&[Proto::Tcp], ServerConfig::default()).await;
    let (mut alice, mut bob) = Member::pair(server.addr, Proto::Tcp).await;
    let mut m = RawBinary::join(server.addr, "mallory").await;
    alice.expect("* mallory joined (tcp)").await;
    bob.expect("* mallory joined (tcp)").await;

    // Half a chat frame, then a reset (SO_LINGER 0).
    let frame = say_frame("this is never finished");
    m.send(&frame[..frame.len() / 2]).await;
    let s = m.into_stream();
    reset(s);
    alice.expect("* mallory left (reset)").await;
    bob.expect("* mallory left (reset)").await;
    assert_nothing_before_sentinel(&mut bob, &mut alice).await;
    server.stop().await;
}

#[tokio::test]
async fn a_frame_cut_off_by_a_close_is_named_as_such() {
    let server = TestServer::start(&[Proto::Tcp], ServerConfig::default()).await;
    let mut alice = Member::join(server.addr, Proto::Tcp, "alice").await;
    for cut in [2, 4, 9] {
        let mut m = RawBinary::join(server.addr, "mallory").await;
        alice.expect("* mallory joined (tcp)").await;
        m.send(&say_frame("cut short")[..cut]).await;
        m.wr.shutdown().await.expect("FIN");
        alice
            .expect("* mallory left (error: connection closed inside a frame)")
            .await;
    }
    // A close between frames is a plain close.
    let mut m = RawBinary::join(server.addr, "mallory").await;
    alice.expect("* mallory joined (tcp)").await;
    m.send(&say_frame("whole")).await;
    m.wr.shutdown().await.expect("FIN");
    alice.expect("mallory: whole").await;
    alice.expect("* mallory left (closed)").await;
    server.stop().await;
}

#[tokio::test]
async fn a_line_cut_off_by_a_reset_is_not_relayed() {
    let server = TestServer::start(&[Proto::Tcp], ServerConfig::default()).await;
    let (mut alice, mut bob) = Member::pair(server.addr, Proto::Tcp).await;
    let mut t = TcpText::connect(server.addr).await;
    t.send_line("whole line").await;
    alice.expect("* guest1 joined (tcp)").await;
    alice.expect("guest1: whole line").await;
    t.send(b"half a li").await;
    let s = t.into_stream();
    reset(s);
    alice.expect("* guest1 left (reset)").await;
    bob.wait_for("* guest1 left (reset)").await;
    assert_nothing_before_sentinel(&mut bob, &mut alice).await;
    server.stop().await;
}

#[tokio::test]
async fn a_mebibyte_with_no_newline_is_refused_and_never_relayed() {
    let server = TestServer::start(&[Proto::Tcp], ServerConfig::default()).await;
    let (mut alice, mut bob) = Member::pair(server.addr, Proto::Tcp).await;
    let mut t = TcpText::connect(server.addr).await;
    t.send(&vec![b'y'; 1 << 20]).await;
    t.expect("* you are guest1; 3 online").await;
    t.expect("! input longer than 4096 bytes refused").await;
    t.wr.shutdown().await.expect("FIN");
    t.expect_eof().await;
    alice.expect("* guest1 joined (tcp)").await;
    alice.expect("* guest1 left (closed)").await;
    bob.wait_for("* guest1 left (closed)").await;
    assert_nothing_before_sentinel(&mut bob, &mut alice).await;
    let stats = server.stop().await;
    assert_eq!(stats.invalid, 1, "one refusal for the whole mebibyte");
}

#[tokio::test]
async fn control_characters_cannot_forge_lines_for_text_peers() {
    let server = TestServer::start(&[Proto::Tcp], ServerConfig::default()).await;
    let mut t = TcpText::connect(server.addr).await;
    t.send_line("/nick carol").await;
    t.expect("* you are guest1; 1 online").await;
    t.expect("* guest1 is now carol").await;
    let mut m = RawBinary::join(server.addr, "mallory").await;
    t.expect("* mallory joined (tcp)").await;
    // From a binary peer, a newline and a terminal escape; from a text peer, a bare \r.
    m.send(&say_frame("hi\n* carol left (quit)\u{1b}[2J")).await;
    t.expect(r"mallory: hi\n* carol left (quit)\u{1b}[2J").await;
    let mut dave = TcpText::connect(server.addr).await;
    dave.send(b"see\rthis\n").await;
    dave.expect("* you are guest2; 3 online").await;
    t.expect("* guest2 joined (tcp)").await;
    t.expect(r"guest2: see\rthis").await;
    match m.next().await {
        ServerMsg::Joined { nick, .. } => assert_eq!(nick, "guest2"),
        other => panic!("{other:?}"),
    }
    // Binary peers get the text exactly as sent.
    match m.next().await {
        ServerMsg::Chat { text, .. } => assert_eq!(text, "see\rthis"),
        other => panic!("{other:?}"),
    }
    server.stop().await;
}

/// Every datagram waiting on `sock` now, without waiting for more.
fn pending(sock: &UdpSocket) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut buf = vec![0u8; 65_536];
    while let Ok(n) = sock.try_recv(&mut buf) {
        sizes.push(n);
    }
    sizes
}

#[tokio::test]
async fn bad_datagrams_from_strangers_harm_no_member() {
    let server = TestServer::start(&[Proto::Udp], ServerConfig::default()).await;
    let (mut alice, mut bob) = Member::pair(server.addr, Proto::Udp).await;

    let stranger = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    stranger.connect(server.addr).await.expect("connect");
    let say = binary::encode(&ClientMsg::Say {
        seq: 1,
        sent_us: 0,
        text: String::new(),
    })
    .expect("encode");
    let mut lying = binary::DATAGRAM_TAG.to_vec();
    lying.extend_from_slice(&with_length(&say, 1 << 60));
    let mut huge_binary = vec![0u8; 65_507];
    huge_binary[..2].copy_from_slice(&binary::DATAGRAM_TAG);
    let bad: Vec<Vec<u8>> = vec![
        Vec::new(),             // empty: no content, no join
        vec![b'z'; 65_507],     // the largest UDP payload, text-looking
        huge_binary,            // the largest UDP payload, binary-tagged
        lying,                  // a 2^60-byte string in 14 bytes
        vec![0, 1, 0xff, 0xff], // nonsense after the tag
        vec![0, 9, 1, 2],       // an unknown tag
    ];
    for d in &bad {
        stranger.send(d).await.expect("send");
    }
    // The server reads its socket in order: once alice's line reaches bob, every bad
    // datagram has been handled, and bob saw nothing of them.
    assert_nothing_before_sentinel(&mut bob, &mut alice).await;
    let replies = pending(&stranger);
    let smallest = bad
        .iter()
        .map(Vec::len)
        .filter(|&n| n > 0)
        .min()
        .unwrap_or(0);
    assert!(
        replies.iter().all(|&n| n <= smallest),
        "a stranger got {replies:?} for datagrams of at least {smallest} bytes"
    );
    let stats = server.stop().await;
    assert_eq!(stats.joined, 2, "no stranger joined");
}
