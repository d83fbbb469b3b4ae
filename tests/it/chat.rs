//! The chat room's semantics on real loopback sockets, the same scenarios over TCP and
//! over UDP (and both at once): joins, unique nicknames, relay to every other member and
//! never back, renames, `/who`, leaving with each reason, shutdown.

use crate::harness;

use harness::{
    assert_nothing_before_sentinel, challenge_code, per_proto, reset, Member, Peer, TcpText,
    TestServer, UdpText,
};
use nettool::chat::ServerConfig;
use nettool::wire::{ClientMsg, Proto};
use std::time::Duration;

/// Joins with unique nicknames, relay to exactly the others, renames, `/who`, a leave
/// with its reason, and the shutdown notice.
async fn three_members(proto: Proto) {
    let server = TestServer::start(&[proto], ServerConfig::default()).await;
    let p = proto.to_string();
    let mut alice = Member::join(server.addr, proto, "alice").await;
    let mut bob = Member::join(server.addr, proto, "bob").await;
    alice.expect(&format!("* bob joined ({p})")).await;
    // Nicknames are unique: a second "alice" is renamed.
    let mut carol = Member::join(server.addr, proto, "alice").await;
    assert_eq!(carol.nick, "alice2");
    alice.expect(&format!("* alice2 joined ({p})")).await;
    bob.expect(&format!("* alice2 joined ({p})")).await;

    // Each message reaches exactly the two others.
    alice.say("hello from alice").await;
    bob.expect("alice: hello from alice").await;
    carol.expect("alice: hello from alice").await;
    bob.say("hello from bob").await;
    alice.expect("bob: hello from bob").await;
    carol.expect("bob: hello from bob").await;
    // ...and never back to the sender: alice's next line is carol's sentinel, not her own.
    assert_nothing_before_sentinel(&mut alice, &mut carol).await;
    bob.expect("alice2: -- sentinel --").await;
    assert_nothing_before_sentinel(&mut bob, &mut alice).await;
    carol.expect("alice: -- sentinel --").await;

    // Renames go to everyone, including the renamed member.
    carol.send(ClientMsg::Nick("carol".into())).await;
    for m in [&mut alice, &mut bob, &mut carol] {
        m.expect("* alice2 is now carol").await;
    }
    bob.send(ClientMsg::Nick("alice".into())).await;
    bob.expect("! nick alice is taken").await;

    // /who shows every member with its protocol.
    alice.send(ClientMsg::Who).await;
    let who = alice.line().await;
    assert!(who.starts_with(&format!("* online: alice ({p}, ")), "{who}");
    for nick in ["bob", "carol"] {
        assert!(who.contains(&format!("{nick} ({p}, ")), "{who}");
    }
    alice.expect("* 3 online, page 1 of 1").await;

    // Leaving is announced with its reason.
    carol.send(ClientMsg::Bye).await;
    carol.expect("* disconnected: quit").await;
    alice.expect("* carol left (quit)").await;
    bob.expect("* carol left (quit)").await;

    let stats = server.stop().await;
    assert_eq!(stats.joined, 3);
    // alice → 2, bob → 2, carol's sentinel → 2, alice's sentinel → 2
    assert_eq!(stats.delivered, 8);
    alice.expect("* disconnected: server shutdown").await;
    bob.expect("* disconnected: server shutdown").await;
}

per_proto!(three_members);

#[tokio::test]
async fn tcp_close_and_reset_are_announced() {
    let server = TestServer::start(&[Proto::Tcp], ServerConfig::default()).await;
    let mut alice = Member::join(server.addr, Proto::Tcp, "alice").await;
    let bob = Member::join(server.addr, Proto::Tcp, "bob").await;
    alice.expect("* bob joined (tcp)").await;
    drop(bob);
    alice.expect("* bob left (closed)").await;

    let mut text = TcpText::connect(server.addr).await;
    text.send_line("/nick rst").await;
    alice.expect("* guest1 joined (tcp)").await;
    alice.expect("* guest1 is now rst").await;
    // SO_LINGER 0: closing sends a reset instead of a FIN.
    reset(text.into_stream());
    alice.expect("* rst left (reset)").await;
    server.stop().await;
}

#[tokio::test]
async fn udp_members_time_out_without_keepalives() {
    // Long enough that alice, who pings only while she waits for a line, is not timed
    // out herself when the machine stalls this process between two of her waits.
    let cfg = ServerConfig {
        udp: nettool::udp::UdpConfig {
            idle_timeout: Duration::from_secs(3),
            ..Default::default()
        },
        ..Default::default()
    };
    let server = TestServer::start(&[Proto::Udp], cfg).await;
    // alice pings while she waits (the harness's keepalive); the text peer goes silent.
    let mut alice = Member::join(server.addr, Proto::Udp, "alice").await;
    let mut quiet = UdpText::join(server.addr).await;
    quiet.send_line("/nick quiet").await;
    quiet.expect("* you are guest1; 2 online").await;
    quiet.expect("* guest1 is now quiet").await;
    alice.expect("* guest1 joined (udp)").await;
    alice.expect("* guest1 is now quiet").await;
    alice.expect("* quiet left (timed out)").await;
    // A text member is warned a third of the idle timeout before it is dropped.
    quiet
        .expect("* you will be dropped in 1 s unless you send something")
        .await;
    // Once expired, it is a stranger again (told it was dropped): it proves its address
    // anew (and says something in the same datagram) and joins as a new member.
    quiet.send_line("back again").await;
    let code = challenge_code(&quiet.line().await);
    quiet.send_line(&format!("/ok {code}\nback")).await;
    alice.expect("* guest2 joined (udp)").await;
    alice.expect("guest2: back").await;
    server.stop().await;
}

#[tokio::test]
async fn udp_goodbye_binary_and_text() {
    let server = TestServer::start(&[Proto::Udp], ServerConfig::default()).await;
    let (mut alice, mut bob) = Member::pair(server.addr, Proto::Udp).await;
    bob.send(ClientMsg::Bye).await;
    bob.expect("* disconnected: quit").await;
    alice.expect("* bob left (quit)").await;

    let mut t = UdpText::join(server.addr).await;
    t.send_line("hi").await;
    t.expect("* you are guest1; 2 online").await;
    alice.expect("* guest1 joined (udp)").await;
    alice.expect("guest1: hi").await;
    t.send_line("/quit").await;
    t.expect("* disconnected: quit").await;
    alice.expect("* guest1 left (quit)").await;
    server.stop().await;
}

#[tokio::test]
async fn both_protocols_share_one_room() {
    let server = TestServer::start(&[Proto::Tcp, Proto::Udp], ServerConfig::default()).await;
    let mut t = Member::join(server.addr, Proto::Tcp, "tina").await;
    let mut u = Member::join(server.addr, Proto::Udp, "ursula").await;
    t.expect("* ursula joined (udp)").await;
    let mut nc = TcpText::connect(server.addr).await;
    nc.send_line("/nick nc").await;
    nc.expect("* you are guest1; 3 online").await;
    nc.expect("* guest1 is now nc").await;
    let mut ncu = UdpText::join(server.addr).await;
    ncu.send_line("/nick ncu").await;
    ncu.expect("* you are guest2; 4 online").await;
    ncu.expect("* guest2 is now ncu").await;
    for m in [&mut t, &mut u] {
        m.wait_for("* guest2 is now ncu").await;
    }
    nc.wait_for("* guest2 is now ncu").await;

    t.say("over tcp").await;
    u.expect("tina: over tcp").await;
    nc.expect("tina: over tcp").await;
    ncu.expect("tina: over tcp").await;
    u.say("over udp").await;
    t.expect("ursula: over udp").await;
    nc.expect("ursula: over udp").await;
    ncu.expect("ursula: over udp").await;
    ncu.send_line("text over udp").await;
    t.expect("ncu: text over udp").await;
    u.expect("ncu: text over udp").await;
    nc.expect("ncu: text over udp").await;

    t.send(ClientMsg::Who).await;
    let who = t.line().await;
    assert!(who.starts_with("* online: tina (tcp, "), "{who}");
    for part in ["ursula (udp, ", "nc (tcp, ", "ncu (udp, "] {
        assert!(who.contains(part), "{part} in {who}");
    }
    server.stop().await;
    nc.wait_for("* disconnected: server shutdown").await;
    nc.expect_eof().await;
    ncu.wait_for("* disconnected: server shutdown").await;
}

#[tokio::test]
async fn room_cap_refuses_with_a_reason() {
    let mut cfg = ServerConfig::default();
    cfg.room.max_members = 2;
    let server = TestServer::start(&[Proto::Tcp], cfg).await;
    let _a = Member::join(server.addr, Proto::Tcp, "a").await;
    let _b = Member::join(server.addr, Proto::Tcp, "b").await;
    let mut c = TcpText::connect(server.addr).await;
    c.send_line("let me in").await;
    c.expect("! room is full (2 members)").await;
    c.expect("* disconnected: bad input: room is full").await;
    c.expect_eof().await;
    server.stop().await;
}

/// A burst from one member reaches UDP members complete and in order, binary and text
/// alike, however the server packs it into datagrams.
#[tokio::test]
async fn udp_members_get_a_burst_complete_and_in_order() {
    let server = TestServer::start(&[Proto::Tcp, Proto::Udp], ServerConfig::default()).await;
    let mut u = Member::join(server.addr, Proto::Udp, "ursula").await;
    let mut ncu = UdpText::join(server.addr).await;
    ncu.send_line("/nick ncu").await;
    ncu.expect("* you are guest1; 2 online").await;
    ncu.expect("* guest1 is now ncu").await;
    let mut nc = TcpText::connect(server.addr).await;
    nc.send_line("/nick burst").await;
    nc.wait_for("* guest2 is now burst").await;
    u.wait_for("* guest2 is now burst").await;
    ncu.wait_for("* guest2 is now burst").await;

    // One write, so the server reads the whole burst at once.
    let burst: String = (1..=100).map(|i| format!("line {i}\n")).collect();
    nc.send(burst.as_bytes()).await;
    for i in 1..=100 {
        u.expect(&format!("burst: line {i}")).await;
        ncu.expect(&format!("burst: line {i}")).await;
    }
    server.stop().await;
}
