//! One room across two servers over a real `nats-server` (`chat -l --cluster`): members
//! of every kind on both, every line delivered once and in order across the bus; a
//! server that dies is noticed; see `cluster_faults` for the broker's failures.

use crate::harness::{Member, Peer};
use crate::process::broker::{linked, Broker};
use crate::process::{nettool, nettool_server, require_tool, Proc};
use nettool::wire::Proto;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;

/// Lines each member sends.
const LINES: usize = 500;
/// Lines each sends before all read what the others sent.
const ROUND: usize = 50;

/// `nettool chat --proto both -l --cluster URL --name NAME`, UDP members unthrottled
/// (the test's members send in bursts of [`ROUND`]).
pub async fn cluster_server(url: &str, name: &str) -> (Proc, SocketAddr) {
    let args = [
        "chat",
        "--proto",
        "both",
        "--udp-rate",
        "0",
        "--cluster",
        url,
        "--name",
        name,
    ];
    nettool_server(&args).await
}

/// Two servers on `broker`, each having heard the other.
pub async fn two_servers(broker: &Broker) -> ((Proc, SocketAddr), (Proc, SocketAddr)) {
    let url = broker.url();
    let mut s1 = cluster_server(&url, "s1").await;
    let mut s2 = cluster_server(&url, "s2").await;
    linked(&mut s1.0, &["s2"]).await;
    linked(&mut s2.0, &["s1"]).await;
    (s1, s2)
}

/// A member's chat lines so far, by sender.
#[derive(Default)]
struct Heard(HashMap<String, Vec<usize>>);

impl Heard {
    /// Read `n` chat lines (`X: X I`) from `p`, ignoring notices.
    async fn read(&mut self, p: &mut impl Peer, n: usize) {
        let mut got = 0;
        while got < n {
            let line = p.line().await;
            let Some((from, text)) = line.split_once(": ") else {
                continue;
            };
            if line.starts_with("* ") || line.starts_with("! ") {
                continue;
            }
            let i = text
                .strip_prefix(&format!("{from} "))
                .and_then(|i| i.parse().ok())
                .unwrap_or_else(|| panic!("{}: not a test line: {line:?}", p.name()));
            self.0.entry(from.to_string()).or_default().push(i);
            got += 1;
        }
    }

    /// Every sender but `me`, exactly 0..LINES each, in order.
    fn check(&self, me: &str, senders: &[&str]) {
        for s in senders.iter().filter(|s| **s != me) {
            let got = self.0.get(*s).map(Vec::as_slice).unwrap_or_default();
            let want: Vec<usize> = (0..LINES).collect();
            assert_eq!(
                got,
                want.as_slice(),
                "{me} from {s}: every line once, in order"
            );
        }
        assert!(!self.0.contains_key(me), "{me} heard itself");
    }
}

#[tokio::test]
async fn two_servers_deliver_every_line_once_in_order_both_ways() {
    if !require_tool("nc") {
        return;
    }
    let Some(broker) = Broker::start(&[]).await else {
        return;
    };
    let ((_s1, a1), (_s2, a2)) = two_servers(&broker).await;
    // s1: a nettool member over TCP and netcat; s2: the nettool client and a member over UDP.
    let mut t = Member::join(a1, Proto::Tcp, "t").await;
    let port = a1.port().to_string();
    let mut n = Proc::spawn("n", "nc", &["127.0.0.1", &port]);
    n.send_line("/nick n").await;
    n.wait_for("* guest1 is now n").await;
    let a = a2.to_string();
    let mut u = Proc::spawn(
        "u",
        nettool(),
        &["chat", &a, "--proto", "udp", "--nick", "u"],
    );
    u.wait_for_matching(|l| l.starts_with("* you are u;"), "u's welcome")
        .await;
    let mut v = Member::join(a2, Proto::Udp, "v").await;
    // Everyone hears everyone before the count starts.
    t.wait_for("* v joined (udp)").await;
    n.wait_for("* v joined (udp)").await;
    u.wait_for("* v joined (udp)").await;

    let names = ["t", "n", "u", "v"];
    let mut heard: Vec<Heard> = (0..4).map(|_| Heard::default()).collect();
    for round in 0..LINES / ROUND {
        for i in round * ROUND..(round + 1) * ROUND {
            t.send_line(&format!("t {i}")).await;
            n.send_line(&format!("n {i}")).await;
            u.send_line(&format!("u {i}")).await;
            v.send_line(&format!("v {i}")).await;
        }
        heard[0].read(&mut t, 3 * ROUND).await;
        heard[1].read(&mut n, 3 * ROUND).await;
        heard[2].read(&mut u, 3 * ROUND).await;
        heard[3].read(&mut v, 3 * ROUND).await;
    }
    for (h, me) in heard.iter().zip(names) {
        h.check(me, &names);
    }
    // The nettool client's own statistics: no gap, nothing reordered or repeated.
    u.send_line("/stats").await;
    let stats = u
        .wait_for_matching(|l| l.starts_with("* stats:"), "u's /stats")
        .await;
    let want = format!(
        "* stats: {} received from 3 senders; missing 0 (0 gaps), reordered 0, duplicates 0;",
        3 * LINES
    );
    assert!(stats.starts_with(&want), "{stats}");
}

#[tokio::test]
async fn a_server_that_dies_is_noticed_and_its_members_announced_gone() {
    let Some(broker) = Broker::start(&[]).await else {
        return;
    };
    let ((_s1, a1), (s2, a2)) = two_servers(&broker).await;
    let mut t = Member::join(a1, Proto::Tcp, "t").await;
    let _u = Member::join(a2, Proto::Udp, "u").await;
    let _w = Member::join(a2, Proto::Tcp, "w").await;
    t.wait_for("* w joined (tcp)").await;
    t.send(nettool::wire::ClientMsg::Who).await;
    t.wait_for_matching(|l| l.contains("u (udp on s2,"), "u in /who")
        .await;
    s2.signal("KILL").await;
    let killed = Instant::now();
    // The stated bound: EXPIRY + SWEEP after its last heartbeat (at most HEARTBEAT old).
    let bound = nettool::cluster::EXPIRY + nettool::cluster::SWEEP + Duration::from_secs(1);
    let mut gone = Vec::new();
    while gone.len() < 2 {
        let line = t.next_line(killed + bound).await.unwrap_or_else(|why| {
            panic!("members of s2 not announced gone within {bound:?}: {why}; got {gone:?}")
        });
        if line.ends_with("left (its server s2 went silent)") {
            gone.push(line);
        }
    }
    gone.sort();
    assert_eq!(
        gone,
        [
            "* u left (its server s2 went silent)",
            "* w left (its server s2 went silent)"
        ]
    );
}
