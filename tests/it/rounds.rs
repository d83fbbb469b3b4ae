//! Fan-out by rounds of work: under a steady stream from several senders at once, every
//! member receives every line of every other sender, in that sender's order, once. The
//! rounds only change how lines are grouped into writes (and datagrams), never which
//! lines arrive or in what order. (That an idle room delivers a line at once, with no
//! timer, is shown on tokio's paused clock by the room's and the TCP writer's unit tests.)

use crate::harness::{per_proto, Member, Peer, TcpText, TestServer};
use futures_util::{SinkExt, StreamExt};
use nettool::chat::client::Incoming;
use nettool::chat::ServerConfig;
use nettool::wire::{now_us, ClientMsg, Proto, ServerMsg};
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::timeout;

/// Members that send, each in a tight loop, while all of them read.
const SENDERS: usize = 4;
/// A bound on the whole exchange: failure detection only, not a measurement.
const BOUND: Duration = Duration::from_secs(60);

/// Lines each sender sends: UDP may drop what a busy machine's socket buffers cannot
/// hold, which is not what this test is about, so its stream is shorter.
fn lines(proto: Proto) -> u64 {
    match proto {
        Proto::Udp => 60,
        _ => 400,
    }
}

/// Send `n` lines as fast as the connection takes them while reading until every other
/// sender's `n` lines are in; returns each sender's sequence numbers in arrival order.
async fn send_and_receive(mut m: Member, n: u64, others: usize) -> HashMap<String, Vec<u64>> {
    let me = m.nick.clone();
    let conn = &mut m.conn;
    let send = async {
        for seq in 1..=n {
            let say = ClientMsg::Say {
                seq,
                sent_us: now_us(),
                text: format!("{me} line {seq}"),
            };
            conn.tx.send(say).await.expect("send");
        }
    };
    let receive = async {
        let mut got: HashMap<String, Vec<u64>> = HashMap::new();
        let mut total = 0;
        while total < others as u64 * n {
            match conn.rx.next().await {
                Some(Ok(Incoming::Msg(ServerMsg::Chat {
                    from, seq, text, ..
                }))) => {
                    assert_eq!(text, format!("{from} line {seq}"), "{me}: the line's text");
                    got.entry(from).or_default().push(seq);
                    total += 1;
                }
                Some(Ok(_)) => {}
                other => panic!("{me}: the connection ended: {other:?}"),
            }
        }
        got
    };
    let ((), got) = tokio::join!(send, receive);
    got
}

async fn a_steady_stream_arrives_whole_and_in_each_senders_order(proto: Proto) {
    let server = TestServer::start(&[proto], ServerConfig::default()).await;
    let n = lines(proto);
    let mut members = Vec::new();
    for i in 0..SENDERS {
        members.push(Member::join(server.addr, proto, &format!("m{i}")).await);
    }
    // Over TCP, a netcat-like text member listens too: the same lines, rendered.
    let mut listener = match proto {
        Proto::Tcp => Some(TcpText::connect(server.addr).await),
        _ => None,
    };
    if let Some(l) = &mut listener {
        l.expect(&format!("* you are guest1; {} online", SENDERS + 1))
            .await;
    }
    let tasks: Vec<_> = members
        .into_iter()
        .map(|m| tokio::spawn(send_and_receive(m, n, SENDERS - 1)))
        .collect();
    let expected: Vec<u64> = (1..=n).collect();
    for (i, t) in tasks.into_iter().enumerate() {
        let got = timeout(BOUND, t)
            .await
            .expect("the stream ends in time")
            .expect("member task");
        let me = format!("m{i}");
        assert_eq!(got.len(), SENDERS - 1, "{me} heard from {:?}", got.keys());
        for (from, seqs) in got {
            assert_ne!(from, me, "a line came back to its sender");
            assert_eq!(seqs, expected, "{me}: {from}'s lines, in order, once each");
        }
    }
    if let Some(mut l) = listener {
        let mut next: HashMap<String, u64> = HashMap::new();
        for _ in 0..SENDERS as u64 * n {
            let line = l.line().await;
            let (from, rest) = line.split_once(": ").expect("a chat line");
            let seq: u64 = rest
                .rsplit(' ')
                .next()
                .and_then(|s| s.parse().ok())
                .expect("a numbered line");
            let want = next.entry(from.to_string()).or_insert(1);
            assert_eq!(seq, *want, "the text member: {from}'s lines in order");
            *want += 1;
        }
        assert!(next.values().all(|&v| v == n + 1), "{next:?}");
    }
    let stats = server.stop().await;
    assert_eq!(stats.dropped_slow, 0);
}

per_proto!(a_steady_stream_arrives_whole_and_in_each_senders_order);
