//! Raw peers over real sockets: text peers as netcat is over TCP and `nc -u` over UDP
//! (each a [`Peer`]), and a raw binary TCP peer that starts as a nettool client does.

use super::peer::{prove_udp, Peer};
use super::WAIT;
use nettool::wire::binary::{self, PREAMBLE};
use nettool::wire::ClientMsg;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{timeout, timeout_at, Instant};

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

impl Peer for TcpText {
    fn name(&self) -> &str {
        "tcp text peer"
    }

    fn wait(&self) -> Duration {
        WAIT
    }

    async fn send_line(&mut self, line: &str) {
        self.send(format!("{line}\n").as_bytes()).await;
    }

    async fn next_line(&mut self, deadline: Instant) -> Result<String, String> {
        let mut l = String::new();
        match timeout_at(deadline, self.rd.read_line(&mut l)).await {
            Err(_) => Err("timed out".into()),
            Ok(Err(e)) => Err(format!("read: {e}")),
            Ok(Ok(0)) => Err("unexpected EOF".into()),
            Ok(Ok(_)) => Ok(l.trim_end_matches(['\r', '\n']).to_string()),
        }
    }
}

/// A UDP text peer, as `nc -u` is. A datagram may carry several lines (the server
/// packs them); they are handed out one at a time.
pub struct UdpText {
    pub sock: UdpSocket,
    pending: VecDeque<String>,
}

impl UdpText {
    pub async fn bind(server: SocketAddr) -> UdpText {
        let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        sock.connect(server).await.expect("connect");
        UdpText {
            sock,
            pending: VecDeque::new(),
        }
    }

    /// Bind and prove the address, as a person with `nc -u` does ([`prove_udp`]).
    pub async fn join(server: SocketAddr) -> UdpText {
        let mut t = UdpText::bind(server).await;
        prove_udp(&mut t).await;
        t
    }

    pub async fn send(&self, bytes: &[u8]) {
        self.sock.send(bytes).await.expect("send");
    }
}

impl Peer for UdpText {
    fn name(&self) -> &str {
        "udp text peer"
    }

    fn wait(&self) -> Duration {
        WAIT
    }

    async fn send_line(&mut self, line: &str) {
        self.send(format!("{line}\n").as_bytes()).await;
    }

    async fn next_line(&mut self, deadline: Instant) -> Result<String, String> {
        loop {
            if let Some(l) = self.pending.pop_front() {
                return Ok(l);
            }
            let mut buf = vec![0u8; 65_536];
            let n = match timeout_at(deadline, self.sock.recv(&mut buf)).await {
                Err(_) => return Err("timed out".into()),
                Ok(Err(e)) => return Err(format!("recv: {e}")),
                Ok(Ok(n)) => n,
            };
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            self.pending.extend(text.lines().map(str::to_string));
        }
    }
}

/// Close `s` with a reset instead of a FIN (SO_LINGER 0).
pub fn reset(s: TcpStream) {
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .expect("linger");
    drop(s);
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
