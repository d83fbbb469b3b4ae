//! How a chat client session ends, against scripted servers on loopback: a UDP server
//! that goes silent (lost after unanswered keepalives), a nettool TCP server that
//! closes without a goodbye (lost), a text server that closes (a normal end), and what
//! `/who` and `/stats` say in text mode.

use super::client::{next_line, recv_msg, send_msg, spawn_client};
use nettool::chat::client::{ClientConfig, End, StatsReport};
use nettool::wire::binary;
use nettool::wire::{ClientMsg, Proto, ServerMsg};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

type Task = JoinHandle<anyhow::Result<StatsReport>>;

async fn ended(task: Task) -> End {
    let report = timeout(WAIT, task)
        .await
        .expect("the client ends by itself")
        .expect("task")
        .expect("run");
    report.end.expect("run sets how it ended")
}

#[tokio::test]
async fn a_udp_server_that_goes_silent_is_lost_after_three_unanswered_keepalives() {
    let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let cfg = ClientConfig {
        addr: server.local_addr().unwrap(),
        proto: Proto::Udp,
        nick: Some("bob".into()),
        ..Default::default()
    };
    let (_stdin, mut out, task) = spawn_client(cfg);
    let (hello, client) = recv_msg(&server).await;
    assert!(matches!(hello, ClientMsg::Hello { .. }));
    let welcome = ServerMsg::Welcome {
        nick: "bob".into(),
        proto: Proto::Udp,
        members: 1,
        keepalive_ms: 100,
    };
    send_msg(&server, client, &welcome).await;
    assert_eq!(next_line(&mut out).await, "* you are bob; 1 online");
    // From here on the server never answers (and sends no ICMP either: it is bound).
    let end = ended(task).await;
    // Every keepalive was sent before the verdict, and loopback delivers at once.
    let mut buf = [0u8; 2048];
    let mut pings = 0;
    while let Ok((n, _)) = server.try_recv_from(&mut buf) {
        if let Ok(ClientMsg::Ping { .. }) = binary::decode_datagram::<ClientMsg>(&buf[..n]) {
            pings += 1;
        }
    }
    assert_eq!(
        end,
        End::Lost("no answer to 3 keepalives (one every 100 ms)".into())
    );
    assert!(pings >= 3, "{pings} keepalives seen");
}

#[tokio::test]
async fn a_nettool_tcp_server_closing_without_a_goodbye_is_lost_a_text_one_is_not() {
    use nettool::wire::binary::PREAMBLE;
    use nettool::wire::text::banner;
    use tokio::io::AsyncReadExt;
    // nettool: banner, preamble, Hello, then the server closes without a Bye.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cfg = ClientConfig {
        addr: listener.local_addr().unwrap(),
        proto: Proto::Tcp,
        ..Default::default()
    };
    let (_stdin, _out, task) = spawn_client(cfg);
    let (mut sock, _) = timeout(WAIT, listener.accept()).await.unwrap().unwrap();
    sock.write_all(format!("{}\n", banner()).as_bytes())
        .await
        .unwrap();
    let mut pre = vec![0u8; PREAMBLE.len()];
    timeout(WAIT, sock.read_exact(&mut pre))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pre, PREAMBLE);
    // FIN, not a reset: the client's Hello is still unread here.
    sock.shutdown().await.unwrap();
    assert_eq!(
        ended(task).await,
        End::Lost("it closed the connection without a goodbye".into())
    );

    // Text: a server that speaks first without the banner, then closes.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cfg = ClientConfig {
        addr: listener.local_addr().unwrap(),
        proto: Proto::Tcp,
        detect: Duration::from_millis(200),
        ..Default::default()
    };
    let (mut stdin, mut out, task) = spawn_client(cfg);
    let (mut sock, _) = timeout(WAIT, listener.accept()).await.unwrap().unwrap();
    sock.write_all(b"welcome to the lesson's room\n")
        .await
        .unwrap();
    assert_eq!(next_line(&mut out).await, "welcome to the lesson's room");
    stdin.write_all(b"/who\n/stats\n").await.unwrap();
    assert_eq!(
        next_line(&mut out).await,
        "* /who is not available: the server is not nettool (text mode), so there is no member list to ask for"
    );
    assert_eq!(
        next_line(&mut out).await,
        "* /stats is not available: the server is not nettool (text mode), its lines carry no sequence numbers"
    );
    drop(sock);
    assert_eq!(
        next_line(&mut out).await,
        "* disconnected: the server closed the connection"
    );
    assert_eq!(ended(task).await, End::Closed);
}
