//! TCP's own count of retransmissions against the lab's count of dropped TCP data
//! segments, and the lab's capture (`--pcap`) read back with tcpdump: as many packets
//! as the lab's counters say entered the link, its drops marked; and the capture's
//! edges (an unwritable path, a full disk, the size cap, Ctrl-C). Root, as in `lab`.

use crate::harness::Peer;
use crate::lab::{echo_server, ping_inside, privileged};
use crate::process::{nettool, require_tool, Proc};
use nettool::lab::pcap::{CaptureConfig, DEFAULT_MAX_BYTES};
use nettool::lab::{Lab, LabConfig};
use std::path::{Path, PathBuf};
use std::process::Command;
use tokio_util::sync::CancellationToken;

/// Retransmissions may exceed the drops (a lost retransmission is dropped and sent
/// again, so it counts on both sides; a needless one only on TCP's) by this factor.
const FACTOR: f64 = 1.5;

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("nettool-cap-{}-{name}", std::process::id()))
}

/// Packets `tcpdump -r` reads from `path` (it must read the whole file without error).
fn tcpdump_count(path: &Path) -> usize {
    let out = Command::new("tcpdump")
        .args(["-n", "-r"])
        .arg(path)
        .output()
        .expect("tcpdump runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tcpdump -r {}: {err}", path.display());
    assert!(!err.contains("truncated"), "{err}");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// Packets in a capture that carry the lab's "dropped" comment (tcpdump does not show
/// pcapng comments; tshark would: `-Y 'frame.comment contains "dropped"'`).
fn marked_dropped(path: &Path) -> u64 {
    use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption;
    use pcap_file::pcapng::{Block, PcapNgReader};
    let mut r = PcapNgReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut n = 0;
    while let Some(b) = r.next_block() {
        if let Block::EnhancedPacket(p) = b.unwrap() {
            n +=
                u64::from(p.options.iter().any(
                    |o| matches!(o, EnhancedPacketOption::Comment(c) if c.contains("dropped")),
                ));
        }
    }
    n
}

fn lab_with(link: &str, capture: Option<CaptureConfig>) -> Lab {
    let mut cfg = LabConfig::parse(link, None, None).expect("valid spec");
    cfg.capture = capture;
    Lab::start(&cfg).expect("lab starts")
}

#[tokio::test]
async fn tcp_retransmissions_match_the_labs_dropped_data_segments() {
    if !privileged() {
        return;
    }
    // A rate keeps the lab's own queue the bottleneck: unbounded, TCP overruns the
    // kernel's TUN queue in front of the shuttle, whose drops the lab cannot count.
    let lab = lab_with("loss=2% rate=50mbit seed=11", None);
    let stop = CancellationToken::new();
    let addr = echo_server(&lab, &stop).await;
    let args: Vec<String> = [
        "bench",
        "stream",
        "--proto",
        "tcp",
        "--connect",
        &addr.to_string(),
        "--duration",
        "2s",
        "--interval",
        "500ms",
        "--json",
    ]
    .map(String::from)
    .to_vec();
    let cmd = lab.command(nettool(), &args);
    let out = tokio::task::spawn_blocking(move || { cmd }.output())
        .await
        .unwrap()
        .expect("bench runs inside the lab");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let counts = lab.stop();
    stop.cancel();
    let tcp = &v["stream"]["tcp"];
    let retr = tcp["cc"]["retransmits"].as_u64().expect("retransmits");
    let drops = counts.uplink.dropped_tcp_data;
    assert!(drops > 0 && retr > 0, "{counts:?} {tcp}");
    assert!(
        retr >= drops && retr as f64 <= drops as f64 * FACTOR,
        "TCP retransmitted {retr}, the lab dropped {drops} data segments"
    );
    let per: u64 = tcp["intervals"]
        .as_array()
        .expect("intervals")
        .iter()
        .map(|i| i["retransmits"].as_u64().unwrap())
        .sum();
    assert_eq!(per, retr, "the intervals add up");
}

#[tokio::test]
async fn a_capture_holds_every_packet_that_entered_and_marks_the_drops() {
    if !privileged() || !require_tool("tcpdump") {
        return;
    }
    let path = temp("all.pcapng");
    let capture = CaptureConfig {
        path: path.clone(),
        snaplen: None,
        max_bytes: DEFAULT_MAX_BYTES,
    };
    let lab = lab_with("loss=5% delay=1ms seed=3", Some(capture));
    let stop = CancellationToken::new();
    let addr = echo_server(&lab, &stop).await;
    ping_inside(&lab, addr, "udp", 60, "300ms").await;
    ping_inside(&lab, addr, "tcp", 20, "300ms").await;
    let (c, summary) = lab.finish();
    stop.cancel();
    let summary = summary.expect("a capture");
    let entered = c.uplink.received + c.downlink.received;
    let dropped = c.uplink.dropped_loss + c.uplink.dropped_queue;
    let dropped = dropped + c.downlink.dropped_loss + c.downlink.dropped_queue;
    assert!(dropped > 0, "{c:?}");
    assert_eq!(tcpdump_count(&path) as u64, entered, "{summary}");
    assert_eq!(summary.packets, entered);
    assert_eq!(marked_dropped(&path), dropped);
    assert_eq!((summary.dropped, summary.missed), (dropped, 0));
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn an_unwritable_capture_path_is_one_line_before_anything_runs() {
    if !privileged() {
        return;
    }
    let marker = temp("ran");
    let out = Command::new(nettool())
        .args(["lab", "--pcap", "/nonexistent-dir/x.pcapng", "--", "touch"])
        .arg(&marker)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("nettool lab: capture file /nonexistent-dir/x.pcapng: No such file"),
        "{err}"
    );
    assert!(!marker.exists(), "the command did not run");
    let out = Command::new(nettool())
        .args([
            "bench",
            "stream",
            "--link",
            "",
            "--pcap",
            "/proc/nettool.pcapng",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("nettool: capture file /proc/nettool.pcapng: "),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "nothing ran");
}

/// `nettool lab --pcap PATH EXTRA -- nettool echo HOST:PORT --proto udp -c COUNT`: its
/// exit status, stdout and stderr.
async fn lab_pinging(path: &Path, extra: &[&str], count: u32) -> std::process::Output {
    let stop = CancellationToken::new();
    let port = host_echo(&stop).await;
    let script = format!(
        "exec {} echo $NETTOOL_LAB_HOST:{port} --proto udp -c {count} -i 2ms -W 500ms",
        nettool()
    );
    let out = tokio::process::Command::new(nettool())
        .args(["lab", "--link", "delay=1ms", "--pcap"])
        .arg(path)
        .args(extra)
        .args(["--", "sh", "-c", &script])
        .output()
        .await
        .unwrap();
    stop.cancel();
    out
}

/// An echo server on every host address (the lab's host side included): its port.
async fn host_echo(stop: &CancellationToken) -> u16 {
    use nettool::wire::Proto;
    let any = "0.0.0.0:0".parse().unwrap();
    let server = nettool::echo::Server::bind(any, &[Proto::Udp], Default::default())
        .await
        .unwrap();
    let port = server.local_addr().port();
    tokio::spawn(server.run(stop.clone()));
    port
}

#[tokio::test]
async fn at_the_size_cap_the_capture_stops_and_the_run_goes_on() {
    if !privileged() || !require_tool("tcpdump") {
        return;
    }
    let path = temp("cap.pcapng");
    let out = lab_pinging(&path, &["--pcap-max", "8K"], 200).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the run went on: {err}");
    assert!(
        err.contains("the capture stopped: it reached its size cap"),
        "{err}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("200 received"),
        "{out:?}"
    );
    let n = tcpdump_count(&path);
    assert!(n > 10 && n < 400, "{n} packets");
    assert!(std::fs::metadata(&path).unwrap().len() <= 8 * 1024);
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn a_full_disk_stops_the_capture_not_the_run() {
    if !privileged() || !require_tool("tcpdump") {
        return;
    }
    let dir = temp("tmpfs");
    std::fs::create_dir_all(&dir).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&dir)
        .status()
        .is_ok_and(|s| s.success());
    assert!(mounted, "mounting a small tmpfs (as root)");
    let path = dir.join("x.pcapng");
    let out = lab_pinging(&path, &[], 1500).await;
    let err = String::from_utf8_lossy(&out.stderr);
    let n = tcpdump_count(&path);
    let _ = Command::new("umount").arg(&dir).status();
    let _ = std::fs::remove_dir(&dir);
    assert!(out.status.success(), "the run went on: {err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(n > 10 && n < 3000, "{n} packets, readable");
    // The message counts what the file holds, not what was lost with the failed write.
    let said = err
        .split(" after ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse::<usize>().ok());
    assert_eq!(said, Some(n), "{err}");
}

#[tokio::test]
async fn ctrl_c_leaves_a_complete_capture() {
    if !privileged() || !require_tool("tcpdump") {
        return;
    }
    let path = temp("int.pcapng");
    let stop = CancellationToken::new();
    let port = host_echo(&stop).await;
    // Pings without end (a million, 5 ms apart): only Ctrl-C ends the lab.
    let script = format!(
        "exec {} echo $NETTOOL_LAB_HOST:{port} --proto udp -c 1000000 -i 5ms",
        nettool()
    );
    let p = path.to_string_lossy().to_string();
    let mut lab = Proc::spawn(
        "lab",
        nettool(),
        &["lab", "--pcap", &p, "--", "sh", "-c", &script],
    );
    for _ in 0..5 {
        let line = lab.line().await;
        assert!(line.contains("bytes from"), "{line}");
    }
    lab.signal("INT").await;
    // The lab's last words: what the capture holds, as it counted.
    let summary = lab.stderr_containing(&format!("capture {p}: ")).await;
    lab.exit_on_its_own().await;
    stop.cancel();
    let n = tcpdump_count(&path);
    assert!(n >= 10, "the packets so far, readable");
    assert!(
        summary.contains(&format!("capture {p}: {n} packets")),
        "tcpdump read {n}: {summary}"
    );
    let _ = std::fs::remove_file(&path);
}
