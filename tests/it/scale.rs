//! A room at scale, on real loopback sockets: idle connections make room for a newcomer
//! at the connection cap (one each, however many arrive together), and `/who` answers in
//! pages. (Aggregated joins and leaves are unit-tested in the room, fed events directly,
//! where the one-second summary is exact.) `nettool bench capacity`, small: every member
//! joins and hears every line, as JSON and as the table a user reads.

use crate::harness::{Peer, TcpText, TestServer};
use nettool::chat::ServerConfig;
use nettool::wire::text::EVICTED;
use nettool::wire::Proto;
use std::time::Duration;

/// A TCP server capped at `max_conns` connections with a 100 ms handshake grace, and a
/// member who has spoken (guest1).
async fn capped_room_with_a_talker(max_conns: usize) -> (TestServer, TcpText) {
    let mut cfg = ServerConfig::default();
    cfg.tcp.max_conns = max_conns;
    cfg.tcp.handshake_timeout = Duration::from_millis(100);
    let server = TestServer::start(&[Proto::Tcp], cfg).await;
    let mut talker = TcpText::connect(server.addr).await;
    talker.send_line("hello").await;
    talker.wait_for("* you are guest1; 1 online").await;
    (server, talker)
}

#[tokio::test]
async fn at_the_cap_the_oldest_idle_connection_makes_room_and_a_talker_stays() {
    let (server, mut talker) = capped_room_with_a_talker(3).await;
    // Two connections that never send a byte: taken for listening text peers (after the
    // detection window, longer than the 100 ms grace) and joined.
    let mut idle1 = TcpText::connect(server.addr).await;
    idle1.wait_for("* you are guest2; 2 online").await;
    let mut idle2 = TcpText::connect(server.addr).await;
    idle2.wait_for("* you are guest3; 3 online").await;
    // A fourth is over the cap: the oldest idle one goes, the newcomer gets in.
    let mut newcomer = TcpText::connect(server.addr).await;
    idle1.wait_for(EVICTED.trim_end()).await;
    idle1.expect_eof().await;
    newcomer.wait_for("* you are guest4; 3 online").await;
    talker.wait_for("* guest2 left (closed)").await;
    talker.send_line("still here").await;
    newcomer.wait_for("guest1: still here").await;
    server.stop().await;
}

#[tokio::test]
async fn newcomers_arriving_together_at_the_cap_each_take_an_idle_place() {
    let (server, mut talker) = capped_room_with_a_talker(4).await;
    let mut idle = Vec::new();
    for n in 2..=4 {
        let mut c = TcpText::connect(server.addr).await;
        c.wait_for(&format!("* you are guest{n}; {n} online")).await;
        idle.push(c);
    }
    // Three at once, each evicting one: every one of them must get in (none closed
    // without a word for want of the slot its eviction freed).
    let (a, b, c) = tokio::join!(
        TcpText::connect(server.addr),
        TcpText::connect(server.addr),
        TcpText::connect(server.addr)
    );
    for c in &mut idle {
        c.wait_for(EVICTED.trim_end()).await;
        c.expect_eof().await;
    }
    for mut newcomer in [a, b, c] {
        newcomer
            .wait_for_matching(|l| l.starts_with("* you are guest"), "a welcome")
            .await;
        talker.send_line("welcome").await;
        newcomer.wait_for("guest1: welcome").await;
    }
    server.stop().await;
}

#[tokio::test]
async fn who_pages_over_a_real_connection() {
    let mut cfg = ServerConfig::default();
    cfg.room.who_page = 2;
    let server = TestServer::start(&[Proto::Tcp], cfg).await;
    let mut a = TcpText::connect(server.addr).await;
    a.send_line("/nick ann").await;
    a.wait_for("* guest1 is now ann").await;
    let mut others = Vec::new();
    for (n, nick) in [(2, "bob"), (3, "cy")] {
        let mut m = TcpText::connect(server.addr).await;
        m.send_line(&format!("/nick {nick}")).await;
        a.wait_for(&format!("* guest{n} is now {nick}")).await;
        others.push(m);
    }
    a.send_line("/who").await;
    let list = a.line().await;
    assert!(list.starts_with("* online: ann (tcp, "), "{list}");
    assert!(list.contains(", bob (tcp, "), "{list}");
    a.expect("* 3 online, page 1 of 2: /who 2 for more").await;
    a.send_line("/who 2").await;
    let list = a.line().await;
    assert!(list.starts_with("* online: cy (tcp, "), "{list}");
    a.expect("* 3 online, page 2 of 2").await;
    a.send_line("/who zero").await;
    a.expect("! /who zero: the page is a number from 1").await;
    server.stop().await;
}

/// `nettool bench capacity` with 40 + 40 members and 2 lines, as a user runs it.
fn capacity_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "bench",
        "capacity",
        "--members",
        "40",
        "--join-rate",
        "400",
        "--broadcasts",
        "2",
    ];
    args.extend(extra);
    args
}

#[tokio::test]
async fn bench_capacity_joins_everyone_and_every_line_reaches_every_other_member() {
    let v = crate::process::bench_json(&capacity_args(&["--json"])).await;
    let c = &v["capacity"];
    assert_eq!(c["tcp_members"], 40);
    assert_eq!(c["udp_members"], 40);
    assert_eq!(c["joined"], 80, "{c}");
    assert_eq!(c["dropped"], 0, "{c}");
    assert_eq!(c["server_threads"], 1);
    // Each line to the 79 others.
    assert_eq!(c["expected"], 2 * 79, "{c}");
    assert_eq!(c["delivered"], 2 * 79, "{c}");
    assert!(
        c["rss_per_member_bytes"].as_u64().is_some_and(|b| b > 0),
        "{c}"
    );
    assert!(
        c["latency"]["p99_us"].as_f64().is_some_and(|p| p > 0.0),
        "{c}"
    );
    assert!(
        c["server_cpu_us_per_delivery"]
            .as_f64()
            .is_some_and(|u| u > 0.0),
        "{c}"
    );
    assert!(
        v["fanout"].is_null() || v["fanout"]["tcp"].is_null(),
        "only capacity ran"
    );
}

#[test]
fn bench_capacity_prints_its_room_without_an_empty_table_and_names_the_threads() {
    let text = crate::process::run_ok(&capacity_args(&["--server-threads", "2"]));
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("nettool bench "), "{text}");
    assert!(
        !text.contains("TCP  UDP"),
        "no header for an empty table:\n{text}"
    );
    assert!(
        lines.contains(&"capacity: 40 TCP + 40 UDP members in one room, the server on 2 threads"),
        "{text}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("  joined        80 in ")
            && l.ends_with(", 0 dropped or never welcomed")),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("  broadcast     2 lines, 158 of 158 delivered, latency p50 ")),
        "{text}"
    );
}
