//! The room and the chat server over the in-memory transport: chat semantics checked
//! without sockets, so they hold for every transport that feeds the same events.

use super::room::RoomConfig;
use super::Server;
use crate::transport::memory::{self, MemoryConnector, MemoryPeer};
use crate::transport::AnyTransport;
use crate::wire::{LeaveReason, Proto, ServerMsg};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Bound on every wait in these tests (the clock is paused, so it costs nothing).
const WAIT: Duration = Duration::from_secs(5);

/// A server over one in-memory transport imitating `proto`, peers with queues of `queue`.
fn serve(
    proto: Proto,
    queue: usize,
    room: RoomConfig,
) -> (
    MemoryConnector,
    CancellationToken,
    JoinHandle<std::io::Result<super::room::RoomStats>>,
) {
    let (transport, connector) = memory::pair(proto, queue);
    let server = Server::new(vec![AnyTransport::new(transport)], room);
    let stop = CancellationToken::new();
    let task = tokio::spawn(server.run(stop.clone()));
    (connector, stop, task)
}

async fn next(peer: &mut MemoryPeer) -> ServerMsg {
    tokio::time::timeout(WAIT, peer.recv())
        .await
        .expect("a message in time")
        .expect("the peer is still open")
}

/// Join as `nick` and read the welcome.
async fn joined(connector: &MemoryConnector, nick: &str) -> MemoryPeer {
    let mut p = connector.join(Some(nick));
    match next(&mut p).await {
        ServerMsg::Welcome { nick: got, .. } => assert_eq!(got, nick),
        other => panic!("expected a welcome, got {other:?}"),
    }
    p
}

#[tokio::test(start_paused = true)]
async fn a_line_reaches_every_other_member_and_never_its_sender() {
    let (c, stop, task) = serve(Proto::Tcp, 64, RoomConfig::default());
    let mut alice = joined(&c, "alice").await;
    let mut bob = joined(&c, "bob").await;
    assert_eq!(
        next(&mut alice).await,
        ServerMsg::Joined {
            nick: "bob".into(),
            proto: Proto::Tcp
        }
    );
    let mut carol = joined(&c, "carol").await;
    for p in [&mut alice, &mut bob] {
        assert!(matches!(next(p).await, ServerMsg::Joined { nick, .. } if nick == "carol"));
    }
    alice.say("hello");
    for p in [&mut bob, &mut carol] {
        match next(p).await {
            ServerMsg::Chat {
                from, seq, text, ..
            } => {
                assert_eq!((from.as_str(), seq, text.as_str()), ("alice", 1, "hello"))
            }
            other => panic!("expected alice's line, got {other:?}"),
        }
    }
    stop.cancel();
    let stats = task.await.expect("server task").expect("server");
    assert_eq!(stats.delivered, 2, "two recipients, not three");
    // Alice got nothing of her own: after her line only the shutdown notice.
    assert_eq!(
        next(&mut alice).await,
        ServerMsg::Bye {
            reason: LeaveReason::Shutdown
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_taken_nick_gets_a_unique_one_and_leaving_is_announced_with_its_reason() {
    let (c, _stop, _task) = serve(Proto::Udp, 64, RoomConfig::default());
    let mut alice = joined(&c, "alice").await;
    let mut twin = c.join(Some("alice"));
    let ServerMsg::Welcome { nick, proto, .. } = next(&mut twin).await else {
        panic!("expected a welcome");
    };
    assert_ne!(nick, "alice");
    assert_eq!(proto, Proto::Udp);
    assert!(matches!(next(&mut alice).await, ServerMsg::Joined { nick: n, .. } if n == nick));
    twin.leave(LeaveReason::TimedOut);
    assert_eq!(
        next(&mut alice).await,
        ServerMsg::Left {
            nick,
            reason: LeaveReason::TimedOut
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_member_that_does_not_read_is_dropped_as_too_slow_and_the_others_carry_on() {
    let (c, _stop, _task) = serve(Proto::Tcp, 4, RoomConfig::default());
    let mut alice = joined(&c, "alice").await;
    let mut bob = joined(&c, "bob").await;
    let _ = next(&mut alice).await; // bob joined
    let mut sleepy = joined(&c, "sleepy").await; // then never reads again
    let _ = (next(&mut alice).await, next(&mut bob).await); // sleepy joined
                                                            // Bob reads as lines come, gets every one in order, and hears sleepy leave.
    let (mut lines, mut sleepy_left) = (Vec::new(), false);
    for i in 0..10 {
        alice.say(&format!("line {i}"));
        loop {
            match next(&mut bob).await {
                ServerMsg::Chat { text, .. } => {
                    lines.push(text);
                    break;
                }
                ServerMsg::Left { nick, reason } if nick == "sleepy" => {
                    assert_eq!(reason, LeaveReason::TooSlow);
                    sleepy_left = true;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    let want: Vec<String> = (0..10).map(|i| format!("line {i}")).collect();
    assert_eq!(lines, want);
    assert!(sleepy_left, "bob was told sleepy left");
    // Alice, the sender, hears only that.
    assert_eq!(
        next(&mut alice).await,
        ServerMsg::Left {
            nick: "sleepy".into(),
            reason: LeaveReason::TooSlow
        }
    );
    // Its queue held what fitted, then it was closed: it sees an end, not a hang.
    let mut seen = 0;
    while tokio::time::timeout(WAIT, sleepy.recv())
        .await
        .expect("the slow peer's queue ends")
        .is_some()
    {
        seen += 1;
    }
    assert!(seen <= 4, "no more than its queue: {seen}");
}

#[tokio::test(start_paused = true)]
async fn the_room_refuses_a_member_beyond_its_cap() {
    let room = RoomConfig {
        max_members: 1,
        ..Default::default()
    };
    let (c, _stop, _task) = serve(Proto::Tcp, 8, room);
    let _alice = joined(&c, "alice").await;
    let mut bob = c.join(Some("bob"));
    match next(&mut bob).await {
        ServerMsg::Error(why) => assert!(why.contains("full"), "{why}"),
        ServerMsg::Bye { reason } => assert!(reason.to_string().contains("full"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}
