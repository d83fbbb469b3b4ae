//! The link lab for real: TUN devices, a network namespace, kernel TCP and UDP through
//! the emulator. These need root and /dev/net/tun: without them each test is skipped
//! (and fails under CI, see [`skip`]). Servers run in this process on the host side;
//! clients run inside the lab as `nettool echo` children, bounded in count and time.

use crate::harness::skip;
use nettool::echo;
use nettool::lab::{netns, Lab, LabConfig};
use nettool::wire::Proto;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_util::sync::CancellationToken;

const NETTOOL: &str = env!("CARGO_BIN_EXE_nettool");

/// Whether the lab can run here: a failure under CI, a skip elsewhere ([`skip::require`]).
pub(crate) fn privileged() -> bool {
    skip::require("the link lab", nettool::lab::access::check())
}

fn lab(link: &str) -> Lab {
    Lab::start(&LabConfig::parse(link, None, None).expect("valid spec")).expect("lab starts")
}

/// An echo server (TCP and UDP on one port) on the lab's host address.
pub(crate) async fn echo_server(lab: &Lab, stop: &CancellationToken) -> SocketAddr {
    let addr = SocketAddr::from((lab.host_addr(), 0));
    let server = echo::Server::bind(addr, &[Proto::Tcp, Proto::Udp], Default::default())
        .await
        .expect("echo server binds on the lab's host address");
    let local = server.local_addr();
    tokio::spawn(server.run(stop.clone()));
    local
}

/// How long a ping waits for its reply where every reply must come (a perfect link): a
/// stalled process on a busy machine must not turn into a lost ping.
const NO_LOSS_WAIT: &str = "5s";
/// ...and where none can come (total loss): each ping waits it out, and a stall only
/// makes the wait longer.
const ALL_LOST_WAIT: &str = "200ms";

/// `nettool echo ADDR --proto P -c N -W WAIT --json` inside the lab: the summary.
pub(crate) async fn ping_inside(
    lab: &Lab,
    addr: SocketAddr,
    proto: &str,
    count: u32,
    wait: &str,
) -> serde_json::Value {
    let args: Vec<String> = [
        &addr.to_string(),
        "--proto",
        proto,
        "-c",
        &count.to_string(),
        "-i",
        "10ms",
        "-W",
        wait,
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut all = vec!["echo".to_string()];
    all.extend(args);
    let cmd = lab.command(NETTOOL, &all);
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = cmd;
        cmd.output()
    })
    .await
    .expect("join")
    .expect("nettool echo runs inside the lab");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    // Like ping: status 0 when anything came back, 1 when nothing did.
    let want = if summary["received"] == 0 { 1 } else { 0 };
    assert_eq!(
        out.status.code(),
        Some(want),
        "echo client: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    summary
}

fn netns_exists(name: &str) -> bool {
    netns::existing()
        .expect("ip netns list")
        .iter()
        .any(|(n, _, _)| n == name)
}

fn link_exists(name: &str) -> bool {
    Command::new(netns::ip_binary().expect("ip"))
        .args(["link", "show", name])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Wait (bounded, polling) until `gone` holds. A TUN device goes when its last
/// descriptor is closed, and a child process being spawned at that moment holds a copy
/// until its exec: on a busy machine the device can outlive the lab by a moment.
async fn until_gone(what: &str, gone: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !gone() {
        assert!(tokio::time::Instant::now() < deadline, "{what} not removed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn tcp_echo_round_trips_through_a_perfect_link_and_everything_is_removed() {
    if !privileged() {
        return;
    }
    let lab = lab("");
    let stop = CancellationToken::new();
    let addr = echo_server(&lab, &stop).await;
    let s = ping_inside(&lab, addr, "tcp", 5, NO_LOSS_WAIT).await;
    assert_eq!(s["received"], 5);
    assert_eq!(s["lost"], 0);
    let c = lab.counts();
    assert!(c.uplink.passed >= 5 && c.downlink.passed >= 5, "{c:?}");
    assert_eq!(c.uplink.dropped_loss + c.downlink.dropped_loss, 0);
    let ns = lab.netns().to_string();
    let pid = std::process::id();
    let n = ns.rsplit('-').next().expect("N").to_string();
    assert!(netns_exists(&ns));
    assert!(link_exists(&format!("nl{pid}-{n}h")));
    lab.stop();
    stop.cancel();
    assert!(!netns_exists(&ns), "namespace removed");
    until_gone("host TUN", || !link_exists(&format!("nl{pid}-{n}h"))).await;
}

#[tokio::test]
async fn udp_through_total_loss_gets_nothing_and_the_counts_say_so() {
    if !privileged() {
        return;
    }
    let lab = lab("loss=100%");
    let stop = CancellationToken::new();
    let addr = echo_server(&lab, &stop).await;
    let s = ping_inside(&lab, addr, "udp", 10, ALL_LOST_WAIT).await;
    assert_eq!(s["received"], 0);
    assert_eq!(s["lost"], 10);
    let c = lab.stop();
    stop.cancel();
    assert_eq!(c.uplink.received, 10, "{c:?}");
    assert_eq!(c.uplink.dropped_loss, 10);
    assert_eq!(c.uplink.passed, 0);
    assert_eq!(c.downlink.received, 0);
}

#[tokio::test]
async fn udp_counts_match_exactly_on_a_perfect_link() {
    if !privileged() {
        return;
    }
    let lab = lab("");
    let stop = CancellationToken::new();
    let addr = echo_server(&lab, &stop).await;
    let s = ping_inside(&lab, addr, "udp", 20, NO_LOSS_WAIT).await;
    assert_eq!(s["received"], 20);
    let c = lab.stop();
    stop.cancel();
    assert_eq!((c.uplink.received, c.uplink.passed), (20, 20), "{c:?}");
    assert_eq!((c.downlink.received, c.downlink.passed), (20, 20), "{c:?}");
}

#[tokio::test]
async fn lab_command_passes_the_host_address_and_the_exit_status() {
    if !privileged() {
        return;
    }
    let out = tokio::process::Command::new(NETTOOL)
        .args(["lab", "--link", "delay=1ms", "--"])
        .args([
            "sh",
            "-c",
            "case \"$NETTOOL_LAB_HOST\" in 10.213.*.1) exit 7;; esac; exit 1",
        ])
        .output()
        .await
        .expect("nettool lab runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{err}");
    assert!(err.contains("link uplink"), "{err}");
    let bad = tokio::process::Command::new(NETTOOL)
        .args(["lab", "--link", "loss=lots", "--", "true"])
        .output()
        .await
        .expect("nettool lab runs");
    assert_eq!(bad.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("`loss=lots`"));
}

#[tokio::test]
async fn sigterm_stops_the_command_and_removes_the_namespace() {
    if !privileged() {
        return;
    }
    let mut child = tokio::process::Command::new(NETTOOL)
        .args(["lab", "--", "sleep", "30"])
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("nettool lab runs");
    let pid = child.id().expect("pid");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    // The banner is printed once the link is up (after any line about stale labs swept).
    let banner = async {
        while let Some(line) = lines.next_line().await.expect("read") {
            if line.starts_with("nettool lab: link ") {
                return line;
            }
        }
        panic!("stderr ended before the banner");
    };
    let banner = tokio::time::timeout(Duration::from_secs(10), banner)
        .await
        .expect("banner in time");
    assert!(banner.contains("host is 10.213."), "{banner}");
    let ours = |pid: u32| {
        netns::existing()
            .expect("list")
            .into_iter()
            .any(|(_, p, _)| p == pid)
    };
    assert!(ours(pid));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("kill");
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits in time")
        .expect("wait");
    assert_eq!(status.code(), Some(128 + 15), "sleep was terminated");
    assert!(!ours(pid), "namespace removed");
}

#[tokio::test]
async fn a_dead_labs_namespace_is_swept() {
    if !privileged() {
        return;
    }
    // A pid above the kernel's maximum (4194304) can never be alive; this process's pid
    // added to it makes the name ours alone, so that suites running at once (other
    // worktrees) never create, or trip over, the same namespace.
    let dead = 4_194_304 + std::process::id();
    let stale = format!("{}{dead}-250", netns::PREFIX);
    netns::ip(&["netns", "add", &stale]).expect("create a stale namespace");
    let lab = lab("");
    assert!(!netns_exists(&stale), "stale namespace swept at start");
    lab.stop();
}
