//! A room across servers when the broker fails: restarted mid-conversation (each side
//! told once that the room is split and once that it is whole, whole again within 5 s of
//! the broker's return, local chat never stopping), down when a server starts, and the
//! mistakes a user makes (URL, credentials, TLS), each one line.

use crate::cluster::two_servers;
use crate::harness::{Member, Peer};
use crate::process::broker::Broker;
use crate::process::{free_port, nettool, Proc};
use nettool::cluster::{LINK_BACK, LINK_LOST};
use nettool::wire::Proto;
use std::time::Duration;

fn lost() -> String {
    format!("* {LINK_LOST}")
}

#[tokio::test]
async fn a_broker_restart_splits_the_room_and_it_heals_within_5s_of_its_return() {
    let Some(mut broker) = Broker::start(&[]).await else {
        return;
    };
    let ((_s1, a1), (_s2, a2)) = two_servers(&broker).await;
    let mut t = Member::join(a1, Proto::Tcp, "t").await;
    let mut t2 = Member::join(a1, Proto::Udp, "t2").await;
    let mut v = Member::join(a2, Proto::Udp, "v").await;
    t.wait_for("* v joined (udp)").await;
    t2.wait_for("* v joined (udp)").await;
    t.say("before").await;
    v.wait_for("t: before").await;

    broker.kill().await;
    t.wait_for(&lost()).await;
    v.wait_for(&lost()).await;
    // Split: local chat goes on; the other server does not hear it.
    t.say("during").await;
    t2.wait_for("t: during").await;

    let back = broker.restart().await;
    let whole = format!(
        "* {LINK_BACK} (1 line said here while it was split never reached the other servers)"
    );
    t.wait_for(&whole).await;
    v.wait_for(&format!("* {LINK_BACK}")).await;
    assert!(
        back.elapsed() < Duration::from_secs(5),
        "whole again {:?} after the broker's return",
        back.elapsed()
    );
    t.say("after").await;
    // v's next chat line is the one after the split: "during" was lost, not late.
    let next = v
        .wait_for_matching(|l| l.starts_with("t: "), "t's next line")
        .await;
    assert_eq!(next, "t: after");
    // Told once each way: nothing more about the link follows.
    v.say("sentinel").await;
    let line = t
        .wait_for_matching(|l| !l.starts_with("* v "), "v's sentinel")
        .await;
    assert_eq!(line, "v: sentinel");
}

#[tokio::test]
async fn a_broker_down_at_start_is_waited_for_and_local_chat_works_meanwhile() {
    let port = free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let args = [
        "chat",
        "-l",
        "127.0.0.1:0",
        "--cluster",
        &url,
        "--name",
        "s1",
    ];
    let mut s1 = Proc::spawn("s1", nettool(), &args);
    s1.stderr_containing("cannot reach the broker at").await;
    let line = s1.stderr_containing("serving tcp on").await;
    let a1: std::net::SocketAddr = line
        .rsplit(' ')
        .next()
        .and_then(|a| a.parse().ok())
        .expect("address");
    let (mut a, mut b) = Member::pair(a1, Proto::Tcp).await;
    a.say("alone").await;
    b.wait_for("alice: alone").await;
    let Some(_broker) = Broker::start(&["-p", &port.to_string()]).await else {
        return;
    };
    let back = format!(
        "* {LINK_BACK} (1 line said here while it was split never reached the other servers)"
    );
    a.wait_for(&back).await;
}

/// `nettool chat -l --cluster URL` with `env`, which must exit 1 with one line
/// containing `want`.
pub async fn refused(url: &str, env: &[(&str, &str)], want: &str) {
    let mut cmd = tokio::process::Command::new(nettool());
    cmd.args(["chat", "-l", "127.0.0.1:0", "--cluster", url]);
    for var in [
        "NETTOOL_NATS_USER",
        "NETTOOL_NATS_PASSWORD",
        "NETTOOL_NATS_TOKEN",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied())
        .env("RUST_LOG", "error")
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(15), cmd.output())
        .await
        .expect("exits in time")
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{url}: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{url}: one line: {err}");
    assert!(lines[0].contains(want), "{url}: {err}");
}

#[tokio::test]
async fn mistakes_are_one_line_each() {
    refused("http://127.0.0.1:4222", &[], "not a broker URL").await;
    refused(
        "nats://me:pw@127.0.0.1:4222",
        &[],
        "credentials do not go on the command line",
    )
    .await;
    let Some(broker) = Broker::start(&["--user", "room", "--pass", "s3cret"]).await else {
        return;
    };
    let url = broker.url();
    let creds = "refused this server's credentials";
    refused(&url, &[], creds).await;
    let wrong = [
        ("NETTOOL_NATS_USER", "room"),
        ("NETTOOL_NATS_PASSWORD", "nope"),
    ];
    refused(&url, &wrong, creds).await;
    let half = [("NETTOOL_NATS_USER", "room")];
    refused(&url, &half, "go together").await;
    let tls = format!("tls://127.0.0.1:{}", broker.port);
    refused(&tls, &[], "TLS to the broker at").await;
    // The right ones join.
    let mut p = Proc::spawn_env(
        "s1",
        nettool(),
        &["chat", "-l", "127.0.0.1:0", "--cluster", &url],
        &[
            ("NETTOOL_NATS_USER", "room"),
            ("NETTOOL_NATS_PASSWORD", "s3cret"),
        ],
    );
    p.stderr_containing("serving tcp on").await;
}

#[tokio::test]
async fn one_nickname_given_on_both_sides_of_a_split_goes_to_the_server_that_sorts_first() {
    let Some(mut broker) = Broker::start(&[]).await else {
        return;
    };
    let ((_s1, a1), (_s2, a2)) = two_servers(&broker).await;
    let mut t = Member::join(a1, Proto::Tcp, "t").await;
    let mut v = Member::join(a2, Proto::Udp, "v").await;
    t.wait_for("* v joined (udp)").await;
    broker.kill().await;
    t.wait_for(&lost()).await;
    v.wait_for(&lost()).await;
    // During the split each server gives out "x": neither knows of the other's.
    let mut x1 = Member::join(a1, Proto::Tcp, "x").await;
    let mut x2 = Member::join(a2, Proto::Tcp, "x").await;
    assert_eq!((x1.nick.as_str(), x2.nick.as_str()), ("x", "x"));
    broker.restart().await;
    // s1 sorts first: its x keeps the name; s2's is renamed, and told so.
    x2.wait_for("* x is now x2").await;
    x1.wait_for("* x2 joined (tcp)").await;
    for m in [&mut t, &mut v] {
        m.send(nettool::wire::ClientMsg::Who).await;
        let who = m
            .wait_for_matching(|l| l.starts_with("* online:"), "the /who answer")
            .await;
        assert!(who.contains("x (tcp on s1,"), "{}: {who}", m.nick);
        assert!(who.contains("x2 (tcp on s2,"), "{}: {who}", m.nick);
    }
    x2.say("from s2's x").await;
    x1.wait_for("x2: from s2's x").await;
}
