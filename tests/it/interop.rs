//! Interop with real peers, both directions: netcat (TCP and UDP), socat, the lesson's
//! Node.js client join a nettool room and talk to nettool clients; nettool clients talk
//! through the lesson's Node.js relay and `ncat --chat` in text mode.

use crate::harness::peer::{prove_udp, Peer};
use crate::harness::per_proto;
use crate::process;

use nettool::wire::Proto;
use process::{nettool_client, nettool_server, peer_script, require_tool, Proc};

/// A text peer joins (sending `/nick NICK` as its first line), talks both ways with
/// nettool client alice, and never gets its own line back.
async fn text_peer_chats(mut peer: Proc, proto: &str, mut alice: Proc, nick: &str) {
    peer.send_line(&format!("/nick {nick}")).await;
    peer.wait_for(&format!("* guest1 is now {nick}")).await;
    alice.expect(&format!("* guest1 joined ({proto})")).await;
    alice.expect(&format!("* guest1 is now {nick}")).await;

    peer.send_line(&format!("hello from {nick}")).await;
    alice.expect(&format!("{nick}: hello from {nick}")).await;
    alice.send_line(&format!("hi {nick}")).await;
    peer.expect(&format!("alice: hi {nick}")).await;
    // Not echoed back: each side's next line is the other's sentinel.
    alice.send_line("sentinel from alice").await;
    peer.expect("alice: sentinel from alice").await;
    peer.send_line("sentinel from peer").await;
    alice.expect(&format!("{nick}: sentinel from peer")).await;
}

/// `nc` (`nc -u` over UDP) joins a nettool room and chats with a nettool client.
async fn netcat(proto: Proto) {
    if !require_tool("nc") {
        return;
    }
    let p = proto.to_string();
    let (_server, addr) = nettool_server(&["chat", "--proto", &p]).await;
    let alice = nettool_client(addr, &p, "alice", 1).await;
    let port = addr.port().to_string();
    let (nc, nick) = match proto {
        Proto::Tcp => {
            let mut nc = Proc::spawn("nc", "nc", &["127.0.0.1", &port]);
            let banner = nc.line().await;
            assert!(banner.contains("(nettool/1)"), "{banner}");
            (nc, "ncuser")
        }
        Proto::Udp => {
            let mut nc = Proc::spawn("nc -u", "nc", &["-u", "127.0.0.1", &port]);
            prove_udp(&mut nc).await;
            (nc, "ncu")
        }
        other => unreachable!("no netcat over {other}"),
    };
    text_peer_chats(nc, &p, alice, nick).await;
}

per_proto!(netcat: tcp, udp);

/// `socat - TCP:ADDR` (`UDP:ADDR`) joins a nettool room and chats with a nettool client.
async fn socat(proto: Proto) {
    if !require_tool("socat") {
        return;
    }
    let p = proto.to_string();
    let (_server, addr) = nettool_server(&["chat", "--proto", &p]).await;
    let alice = nettool_client(addr, &p, "alice", 1).await;
    let target = format!("{}:{addr}", p.to_uppercase());
    let mut socat = Proc::spawn("socat", "socat", &["-", &target]);
    if proto == Proto::Udp {
        prove_udp(&mut socat).await;
    }
    text_peer_chats(socat, &p, alice, "socat").await;
}

per_proto!(socat: tcp, udp);

#[tokio::test]
async fn lesson_node_client() {
    if !require_tool("node") {
        return;
    }
    let (_server, addr) = nettool_server(&["chat", "--proto", "tcp"]).await;
    let alice = nettool_client(addr, "tcp", "alice", 1).await;
    let script = peer_script("chat-client.js");
    let mut node = Proc::spawn(
        "node client",
        "node",
        &[script.to_str().unwrap(), &addr.port().to_string()],
    );
    // The lesson's client drops what is typed before it has connected: wait for the banner.
    let banner = node.line().await;
    assert!(banner.contains("(nettool/1)"), "{banner}");
    text_peer_chats(node, "tcp", alice, "lesson").await;
}

#[tokio::test]
async fn one_room_for_tcp_and_udp_peers() {
    if !require_tool("nc") {
        return;
    }
    let (_server, addr) = nettool_server(&["chat", "--proto", "both"]).await;
    let port = addr.port().to_string();
    let mut alice = nettool_client(addr, "tcp", "alice", 1).await;
    let mut bob = nettool_client(addr, "udp", "bob", 2).await;
    alice.expect("* bob joined (udp)").await;
    let mut nct = Proc::spawn("nc", "nc", &["127.0.0.1", &port]);
    nct.send_line("/nick t").await;
    nct.wait_for("* guest1 is now t").await;
    let mut ncu = Proc::spawn("nc -u", "nc", &["-u", "127.0.0.1", &port]);
    prove_udp(&mut ncu).await;
    ncu.send_line("/nick u").await;
    ncu.wait_for("* guest2 is now u").await;
    for p in [&mut alice, &mut bob, &mut nct] {
        p.wait_for("* guest2 is now u").await;
    }
    nct.send_line("tcp text").await;
    for p in [&mut alice, &mut bob, &mut ncu] {
        p.expect("t: tcp text").await;
    }
    ncu.send_line("udp text").await;
    for p in [&mut alice, &mut bob, &mut nct] {
        p.expect("u: udp text").await;
    }
    bob.send_line("from the udp client").await;
    for p in [&mut alice, &mut nct, &mut ncu] {
        p.expect("bob: from the udp client").await;
    }
}

/// Two nettool clients in text mode through a relay that is not nettool; `relayed`
/// says whether a received line is the relayed form of what was sent.
async fn through_text_relay(port: u16, relayed: fn(&str, &str) -> bool) {
    let addr = format!("127.0.0.1:{port}");
    let mut a = Proc::spawn("a", process::nettool(), &["chat", &addr]);
    let mut b = Proc::spawn("b", process::nettool(), &["chat", &addr]);
    // Each falls back to text once no banner arrives; then lines flow as-is.
    a.stderr_containing("text mode").await;
    b.stderr_containing("text mode").await;
    a.send_line("hello through the relay").await;
    b.wait_for_matching(
        |l| relayed(l, "hello through the relay"),
        "the relayed line",
    )
    .await;
    b.send_line("and back").await;
    a.wait_for_matching(|l| relayed(l, "and back"), "the relayed line")
        .await;
    a.close_stdin();
    assert!(a.exit().await.success(), "the client exits cleanly on EOF");
}

#[tokio::test]
async fn nettool_clients_through_the_lesson_node_server() {
    if !require_tool("node") {
        return;
    }
    let script = peer_script("chat-server.js");
    let mut relay = Proc::spawn("node relay", "node", &[script.to_str().unwrap(), "0"]);
    let port: u16 = relay
        .line()
        .await
        .strip_prefix("listening ")
        .and_then(|p| p.parse().ok())
        .expect("listening PORT");
    // The lesson's server relays bytes untouched.
    through_text_relay(port, |got, sent| got == sent).await;
}

#[tokio::test]
async fn nettool_clients_through_ncat_chat() {
    if !require_tool("ncat") {
        return;
    }
    let port = process::free_port();
    let mut ncat = Proc::spawn(
        "ncat --chat",
        "ncat",
        &["-v", "-l", "127.0.0.1", &port.to_string(), "--chat"],
    );
    ncat.stderr_containing("Listening on").await;
    // ncat --chat prefixes each relayed line with `<userN> `.
    through_text_relay(port, |got, sent| {
        got.strip_prefix("<user")
            .and_then(|rest| rest.split_once("> "))
            .is_some_and(|(n, text)| n.parse::<u32>().is_ok() && text == sent)
    })
    .await;
    drop(ncat);
}
