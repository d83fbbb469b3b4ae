//! In-process test harness: a chat server on `127.0.0.1:0`, nettool members speaking the
//! binary protocol through the library's own client connection, and raw text peers (what
//! netcat does) over TCP and UDP. Every wait is for an event, bounded by [`WAIT`].
#![allow(dead_code)]

use futures::{SinkExt, StreamExt};
use nettool::chat::client::{self, ClientConfig, Conn, Incoming};
use nettool::chat::room::RoomStats;
use nettool::chat::{Server, ServerConfig};
use nettool::wire::binary::{self, PREAMBLE};
use nettool::wire::{now_us, text, ClientMsg, Proto, ServerMsg};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpStream, UdpSocket};
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;

/// The longest any single expected event may take.
pub const WAIT: Duration = Duration::from_secs(5);

/// A running server.
pub struct TestServer {
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<std::io::Result<RoomStats>>,
}

impl TestServer {
    pub async fn start(protos: &[Proto], cfg: ServerConfig) -> TestServer {
        let server = Server::bind("127.0.0.1:0".parse().unwrap(), protos, cfg)
            .await
            .expect("bind");
        let addr = server.local_addr();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(server.run(shutdown.clone()));
        TestServer {
            addr,
            shutdown,
            task,
        }
    }

    /// Cancel and wait for the server to finish; its room counters.
    pub async fn stop(self) -> RoomStats {
        self.shutdown.cancel();
        timeout(WAIT * 2, self.task)
            .await
            .expect("server stops in time")
            .expect("server task")
            .expect("server result")
    }
}

/// A nettool member speaking the binary protocol.
pub struct Member {
    pub conn: Conn,
    pub nick: String,
    seq: u64,
}

impl Member {
    /// alice and bob in one room, alice having seen bob join.
    pub async fn pair(addr: SocketAddr, proto: Proto) -> (Member, Member) {
        let mut alice = Member::join(addr, proto, "alice").await;
        let bob = Member::join(addr, proto, "bob").await;
        alice.expect(&format!("* bob joined ({proto})")).await;
        (alice, bob)
    }

    /// Connect and wait for the `Welcome`.
    pub async fn join(addr: SocketAddr, proto: Proto, nick: &str) -> Member {
        let cfg = ClientConfig {
            addr,
            proto,
            nick: Some(nick.to_string()),
            ..Default::default()
        };
        let conn = timeout(WAIT, client::connect(&cfg))
            .await
            .expect("connect in time")
            .expect("connect");
        assert_eq!(conn.mode, client::Mode::Binary, "server speaks nettool");
        let mut m = Member {
            conn,
            nick: String::new(),
            seq: 0,
        };
        let welcome = m.next_msg(|m| matches!(m, ServerMsg::Welcome { .. })).await;
        if let ServerMsg::Welcome { nick, .. } = welcome {
            m.nick = nick;
        }
        m
    }

    pub async fn send(&mut self, msg: ClientMsg) {
        self.conn.tx.send(msg).await.expect("send");
    }

    pub async fn say(&mut self, text: &str) {
        self.seq += 1;
        let msg = ClientMsg::Say {
            seq: self.seq,
            sent_us: now_us(),
            text: text.to_string(),
        };
        self.send(msg).await;
    }

    /// The next server message for which `want` holds, skipping others; pings the server
    /// every 100 ms meanwhile (a UDP member's keepalive).
    pub async fn next_msg(&mut self, want: impl Fn(&ServerMsg) -> bool) -> ServerMsg {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            let step = timeout(Duration::from_millis(100), self.conn.rx.next()).await;
            match step {
                Ok(Some(Ok(Incoming::Msg(m)))) if want(&m) => return m,
                Ok(Some(Ok(other))) => seen.push(format!("{other:?}")),
                Ok(Some(Err(e))) => panic!("{}: receive error {e}; seen {seen:#?}", self.nick),
                Ok(None) => panic!("{}: connection ended; seen {seen:#?}", self.nick),
                Err(_) => {
                    let _ = self.conn.tx.send(ClientMsg::Ping { t_us: 0 }).await;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{}: timed out; seen {seen:#?}",
                self.nick
            );
        }
    }

    /// The next line a person would see (skipping `Pong`s); must equal `want`.
    pub async fn expect(&mut self, want: &str) {
        let msg = self
            .next_msg(|m| !matches!(m, ServerMsg::Pong { .. }))
            .await;
        assert_eq!(text::render(&msg).as_deref(), Some(want), "{}", self.nick);
    }

    /// The next line a person would see, whatever it is.
    pub async fn line(&mut self) -> String {
        let msg = self
            .next_msg(|m| !matches!(m, ServerMsg::Pong { .. }))
            .await;
        text::render(&msg).unwrap_or_default()
    }

    /// Skip lines until `want` arrives.
    pub async fn wait_for(&mut self, want: &str) {
        self.next_msg(|m| text::render(m).as_deref() == Some(want))
            .await;
    }
}

/// A TCP text peer, as netcat is.
pub struct TcpText {
    rd: BufReader<OwnedReadHalf>,
    pub wr: OwnedWriteHalf,
}

impl TcpText {
    /// Connect and read the banner.
    pub async fn connect(addr: SocketAddr) -> TcpText {
        let s = timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("connect in time")
            .expect("connect");
        let (rd, wr) = s.into_split();
        let mut p = TcpText {
            rd: BufReader::new(rd),
            wr,
        };
        let banner = p.line().await;
        assert!(banner.contains("(nettool/1)"), "banner: {banner}");
        p
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.wr.write_all(bytes).await.expect("write");
    }

    /// The socket again, for tests that reset it.
    pub fn into_stream(self) -> TcpStream {
        self.rd.into_inner().reunite(self.wr).expect("reunite")
    }

    pub async fn send_line(&mut self, line: &str) {
        self.send(format!("{line}\n").as_bytes()).await;
    }

    /// The next line (without newline); panics at EOF.
    pub async fn line(&mut self) -> String {
        let mut l = String::new();
        let n = timeout(WAIT, self.rd.read_line(&mut l))
            .await
            .expect("a line in time")
            .expect("read");
        assert!(n > 0, "unexpected EOF");
        l.trim_end_matches(['\r', '\n']).to_string()
    }

    pub async fn expect(&mut self, want: &str) {
        assert_eq!(self.line().await, want);
    }

    /// Skip lines until `want`.
    pub async fn wait_for(&mut self, want: &str) {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            let l = self.line().await;
            if l == want {
                return;
            }
            seen.push(l);
            assert!(Instant::now() < deadline, "no {want:?}; seen {seen:#?}");
        }
    }

    /// The connection is closed by the server (EOF), bounded.
    pub async fn expect_eof(&mut self) {
        let mut rest = String::new();
        loop {
            let mut l = String::new();
            let n = timeout(WAIT, self.rd.read_line(&mut l))
                .await
                .expect("EOF in time")
                .unwrap_or(0);
            if n == 0 {
                return;
            }
            rest.push_str(&l);
            assert!(rest.len() < 1 << 20, "no EOF: {rest}");
        }
    }
}

/// A UDP text peer, as `nc -u` is. A datagram may carry several lines (the server
/// packs them); they are handed out one at a time.
pub struct UdpText {
    pub sock: UdpSocket,
    pending: std::sync::Mutex<std::collections::VecDeque<String>>,
}

impl UdpText {
    pub async fn bind(server: SocketAddr) -> UdpText {
        let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        sock.connect(server).await.expect("connect");
        UdpText {
            sock,
            pending: Default::default(),
        }
    }

    /// Bind and prove the address, as a person with `nc -u` does (see [`UdpText::prove`]).
    pub async fn join(server: SocketAddr) -> UdpText {
        let t = UdpText::bind(server).await;
        t.prove().await;
        t
    }

    /// Say something, read the server's challenge and type the `/ok CODE` it asks for.
    /// The welcome that follows is left for the caller to read.
    pub async fn prove(&self) {
        self.send_line("hello?").await;
        let challenge = self.line().await;
        self.send_line(&format!("/ok {}", challenge_code(&challenge)))
            .await;
    }

    pub async fn send(&self, bytes: &[u8]) {
        self.sock.send(bytes).await.expect("send");
    }

    pub async fn send_line(&self, line: &str) {
        self.send(format!("{line}\n").as_bytes()).await;
    }

    /// The next line received, without its newline.
    pub async fn line(&self) -> String {
        loop {
            if let Some(l) = self.pending.lock().expect("lock").pop_front() {
                return l;
            }
            let mut buf = vec![0u8; 65_536];
            let n = timeout(WAIT, self.sock.recv(&mut buf))
                .await
                .expect("a datagram in time")
                .expect("recv");
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let mut pending = self.pending.lock().expect("lock");
            pending.extend(text.lines().map(str::to_string));
        }
    }

    pub async fn expect(&self, want: &str) {
        assert_eq!(self.line().await, want);
    }

    pub async fn wait_for(&self, want: &str) {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            let l = self.line().await;
            if l == want {
                return;
            }
            seen.push(l);
            assert!(Instant::now() < deadline, "no {want:?}; seen {seen:#?}");
        }
    }
}

/// The code in a UDP challenge line (`* ...: /ok CODE`).
pub fn challenge_code(line: &str) -> String {
    assert!(line.starts_with("* "), "a challenge line: {line:?}");
    match line.rsplit_once("/ok ") {
        Some((_, code)) => code.trim().to_string(),
        None => panic!("no /ok CODE in {line:?}"),
    }
}

/// Prove `m` did not receive anything between what it already read and a sentinel that
/// `sender` says now: its next chat line must be the sentinel.
pub async fn assert_nothing_before_sentinel(m: &mut Member, sender: &mut Member) {
    sender.say("-- sentinel --").await;
    let line = m.line().await;
    assert_eq!(line, format!("{}: -- sentinel --", sender.nick));
}

/// A raw binary TCP peer, as a nettool client starts: banner read, preamble and `Hello`
/// sent; nothing read after that.
pub async fn raw_binary(addr: SocketAddr, nick: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut banner = String::new();
    timeout(WAIT, BufReader::new(&mut s).read_line(&mut banner))
        .await
        .expect("banner in time")
        .expect("banner");
    assert!(banner.contains("(nettool/1)"), "banner: {banner}");
    s.write_all(PREAMBLE).await.expect("preamble");
    let hello = binary::encode_frame(&ClientMsg::Hello {
        nick: Some(nick.into()),
    })
    .expect("encode");
    s.write_all(&hello).await.expect("hello");
    s
}
