//! The binary's lifecycle as a user meets it, each with real child processes: a chat
//! client that exits by itself when its server shuts down (status 0) or dies (status 1,
//! TCP and UDP); Ctrl-C and SIGTERM on a client as a goodbye the others see as `quit`;
//! `nettool echo` against a TCP listener that never answers (a line per timeout, the
//! summary, status 1) and interrupted (the summary, status 0); a server whose stderr
//! pipe was closed still stopping on SIGTERM; the one-line errors.

use crate::harness::Peer;
use crate::process::{nettool, nettool_client, nettool_server, Proc, WAIT};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::time::timeout;

#[tokio::test]
async fn clients_exit_by_themselves_when_the_server_shuts_down() {
    let (server, addr) = nettool_server(&["chat", "--proto", "both"]).await;
    let mut alice = nettool_client(addr, "tcp", "alice", 1).await;
    let mut bob = nettool_client(addr, "udp", "bob", 2).await;
    alice.expect("* bob joined (udp)").await;
    server.signal("TERM").await;
    alice.expect("* disconnected: server shutdown").await;
    bob.expect("* disconnected: server shutdown").await;
    // Stdin stays open: nobody presses Enter.
    assert_eq!(alice.exit_on_its_own().await.code(), Some(0));
    assert_eq!(bob.exit_on_its_own().await.code(), Some(0));
    assert!(server.exit().await.success());
}

#[tokio::test]
async fn clients_exit_with_an_error_when_the_server_is_killed() {
    // Keepalives every second (a third of the idle timeout), so UDP notices quickly.
    let (server, addr) = nettool_server(&["chat", "--proto", "both", "--idle-timeout", "3s"]).await;
    let mut alice = nettool_client(addr, "tcp", "alice", 1).await;
    let mut bob = nettool_client(addr, "udp", "bob", 2).await;
    alice.expect("* bob joined (udp)").await;
    server.signal("KILL").await;
    let _ = server.exit().await;
    let said = alice.stderr_containing("nettool: ").await;
    assert_eq!(
        said,
        format!(
            "nettool: lost the server at tcp {addr}: it closed the connection without a goodbye"
        )
    );
    // UDP: the next keepalive meets ICMP port unreachable.
    let said = bob.stderr_containing("nettool: ").await;
    assert_eq!(
        said,
        format!(
            "nettool: lost the server at udp {addr}: port unreachable (nothing listens there any more)"
        )
    );
    assert_eq!(alice.exit_on_its_own().await.code(), Some(1));
    assert_eq!(bob.exit_on_its_own().await.code(), Some(1));
}

#[tokio::test]
async fn ctrl_c_and_sigterm_on_a_client_say_goodbye_over_both_protocols() {
    let (server, addr) = nettool_server(&["chat", "--proto", "both"]).await;
    let mut watcher = nettool_client(addr, "tcp", "watcher", 1).await;
    for (proto, sig) in [
        ("tcp", "INT"),
        ("udp", "INT"),
        ("tcp", "TERM"),
        ("udp", "TERM"),
    ] {
        let nick = format!("{proto}{}", sig.to_lowercase());
        let client = nettool_client(addr, proto, &nick, 2).await;
        watcher.expect(&format!("* {nick} joined ({proto})")).await;
        client.signal(sig).await;
        watcher.expect(&format!("* {nick} left (quit)")).await;
        assert_eq!(client.exit_on_its_own().await.code(), Some(0), "{nick}");
    }
    server.signal("TERM").await;
    assert!(server.exit().await.success());
}

/// A TCP listener that accepts and then never reads or answers.
async fn mute_listener() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    (addr, task)
}

#[tokio::test]
async fn echo_over_tcp_reports_each_timeout_and_fails_when_nothing_came_back() {
    let (addr, _mute) = mute_listener().await;
    let a = addr.to_string();
    let args = [
        "echo", &a, "--proto", "tcp", "-c", "3", "-W", "100ms", "-i", "0",
    ];
    let mut ping = Proc::spawn("ping", nettool(), &args);
    for seq in 1..=3 {
        ping.expect(&format!("seq={seq}: no reply within 100 ms"))
            .await;
    }
    ping.expect(&format!("--- {a} tcp echo ---")).await;
    ping.expect("3 sent, 0 received, 100.0% loss (0 late)")
        .await;
    let said = ping.stderr_containing("nettool: ").await;
    assert_eq!(said, format!("nettool: no reply from tcp {a} (3 sent)"));
    assert_eq!(ping.exit().await.code(), Some(1));
}

/// Ctrl-C during a bench ends it with one line and status 1, not the default action's
/// silent death (which would leave a `bench fanout`'s child server behind).
#[tokio::test]
async fn an_interrupted_bench_says_so_in_one_line() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap().to_string();
    let args = [
        "bench",
        "rtt",
        "--connect",
        &a,
        "--proto",
        "tcp",
        "--duration",
        "30s",
    ];
    let mut bench = Proc::spawn("bench", nettool(), &args);
    // It connects after its signal handlers are in place.
    let _held = timeout(WAIT, l.accept())
        .await
        .expect("the bench connects")
        .expect("accept");
    bench.signal("INT").await;
    let said = bench.stderr_containing("nettool: ").await;
    assert_eq!(said, "nettool: bench interrupted: no report");
    assert_eq!(bench.exit_on_its_own().await.code(), Some(1));
}

/// The child processes of `pid` whose command line contains `part`.
fn children_with(pid: u32, part: &str) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .filter(|c| {
            std::fs::read(format!("/proc/{c}/cmdline"))
                .is_ok_and(|cmd| String::from_utf8_lossy(&cmd).contains(part))
        })
        .collect()
}

/// Ctrl-C while `bench capacity` is still joining members: the bench's UDP worker and
/// its chat server are gone by the time the bench has exited, not left to finish the
/// joins on their own.
#[tokio::test]
async fn an_interrupted_capacity_bench_leaves_no_process_behind() {
    let args = [
        "bench",
        "capacity",
        "--members",
        "2000",
        "--join-rate",
        "200",
    ];
    let mut bench = Proc::spawn("bench", nettool(), &args);
    // No line marks the worker's start: look for it (bounded) among the bench's children.
    let deadline = tokio::time::Instant::now() + WAIT;
    let (worker, server) = loop {
        let (w, s) = (
            children_with(bench.pid(), "--capacity-worker"),
            children_with(bench.pid(), "chat"),
        );
        if let (Some(&w), Some(&s)) = (w.first(), s.first()) {
            break (w, s);
        }
        assert!(tokio::time::Instant::now() < deadline, "no worker started");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await; // polling /proc
    };
    bench.signal("INT").await;
    let said = bench.stderr_containing("nettool: ").await;
    assert_eq!(said, "nettool: bench interrupted: no report");
    assert_eq!(bench.exit_on_its_own().await.code(), Some(1));
    for (what, pid) in [("the UDP worker", worker), ("the chat server", server)] {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "{what} ({pid}) outlived the bench"
        );
    }
}

#[tokio::test]
async fn interrupted_echo_prints_the_summary_and_exits_zero() {
    let (server, addr) = nettool_server(&["echo"]).await;
    let a = addr.to_string();
    let mut ping = Proc::spawn("ping", nettool(), &["echo", &a, "-c", "100", "-i", "50ms"]);
    for seq in 1..=2 {
        let l = ping.line().await;
        assert!(
            l.starts_with(&format!("64 bytes from {a}: seq={seq} ")),
            "{l}"
        );
    }
    ping.signal("INT").await;
    ping.wait_for(&format!("--- {a} tcp echo ---")).await;
    let counts = ping.line().await;
    assert!(counts.ends_with("0.0% loss (0 late)"), "{counts}");
    assert!(ping
        .line()
        .await
        .starts_with("rtt min/p50/p90/p99/max/mean = "));
    assert_eq!(ping.exit_on_its_own().await.code(), Some(0));
    server.signal("TERM").await;
    assert!(server.exit().await.success());
}

/// A server whose stderr reader has gone (`… 2>&1 | head -1`) must still stop on
/// SIGTERM: the log line it writes then fails, and that may not take the signal
/// handling down with it.
#[tokio::test]
async fn sigterm_stops_a_server_whose_stderr_is_closed() {
    for service in ["echo", "chat"] {
        let mut child = tokio::process::Command::new(nettool())
            .args([service, "-l", "127.0.0.1:0", "--proto", "both"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn");
        let mut err = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let first = timeout(WAIT, err.next_line()).await.unwrap().unwrap();
        assert!(
            first
                .as_deref()
                .is_some_and(|l| l.contains("serving tcp+udp on")),
            "{first:?}"
        );
        drop(err); // the reader leaves, like `head -1`
        let pid = child.id().expect("running").to_string();
        let kill = tokio::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap();
        assert!(kill.success());
        let status = timeout(WAIT, child.wait())
            .await
            .unwrap_or_else(|_| panic!("{service} -l ignored SIGTERM"))
            .unwrap();
        assert_eq!(status.code(), Some(0), "{service}");
    }
}

/// Each failure as one line naming the protocol, the address and the cause, with no
/// backtrace even when `RUST_BACKTRACE` asks for one.
#[tokio::test]
async fn errors_are_one_line_naming_what_failed() {
    let (server, addr) = nettool_server(&["chat", "--proto", "both"]).await;
    let taken = addr.to_string();
    let refused = crate::process::free_port(); // nothing listens there
    let refused = format!("127.0.0.1:{refused}");
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["chat", "-l", &taken, "--proto", "both"],
            format!("nettool: cannot listen on tcp {taken}: address already in use (another program serves there)"),
        ),
        (
            vec!["echo", "-l", &taken],
            format!("nettool: cannot listen on tcp {taken}: address already in use (another program serves there)"),
        ),
        (
            vec!["echo", &refused, "-c", "1"],
            format!("nettool: cannot connect to tcp {refused}: connection refused (nothing listens there)"),
        ),
        (
            vec!["chat", &refused],
            format!("nettool: cannot connect to tcp {refused}: connection refused (nothing listens there)"),
        ),
        (
            vec!["bench", "stream", "--proto", "tcp", "--connect", &refused],
            format!("nettool: stream over tcp to {refused}: connection refused (nothing listens there)"),
        ),
        (
            vec!["bench", "stream", "--proto", "udp", "--connect", &refused],
            format!("nettool: stream over udp to {refused}: port unreachable (nothing listens there)"),
        ),
        (
            vec!["bench", "setup", "--proto", "tcp", "--connect", &refused],
            format!("nettool: setup over tcp to {refused}: connection refused (nothing listens there)"),
        ),
        (
            vec!["chat", "127.0.0.1:99999"],
            "nettool: bad port in \"127.0.0.1:99999\": 99999 is not in 0..=65535".into(),
        ),
        (
            vec!["chat", "localhost:abc"],
            "nettool: bad port in \"localhost:abc\": \"abc\" is not a number".into(),
        ),
    ];
    for (args, want) in cases {
        let out = tokio::process::Command::new(nettool())
            .args(&args)
            .env("RUST_BACKTRACE", "1")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim_end(), want, "{args:?}");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
    }
    server.signal("TERM").await;
    assert!(server.exit().await.success());
}

/// A stream against a TCP server that is not a nettool sink (it swallows the bytes and
/// closes without a report) fails in one line that says so.
#[tokio::test]
async fn a_stream_to_something_else_says_what_it_met() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let swallow = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let _ = tokio::io::copy(&mut s, &mut tokio::io::sink()).await;
    });
    let out = tokio::process::Command::new(nettool())
        .args(["bench", "stream", "--proto", "tcp", "--duration", "200ms"])
        .args(["--connect", &addr.to_string()])
        .stdin(Stdio::null())
        .output();
    let out = timeout(WAIT, out).await.unwrap().unwrap();
    swallow.await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        format!(
            "nettool: stream over tcp to {addr}: the server closed the connection before \
             answering (is it `nettool echo -l`?)"
        )
    );
    assert_eq!(out.status.code(), Some(1));
}

#[tokio::test]
async fn proto_both_is_for_servers_only() {
    for service in ["chat", "echo"] {
        let out = tokio::process::Command::new(nettool())
            .args([service, "--proto", "both", "127.0.0.1:9"])
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "a usage error, from clap");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with(
                "error: the following required arguments were not provided:\n  --listen"
            ),
            "{stderr}"
        );
    }
}

#[tokio::test]
async fn a_client_whose_stdout_reader_left_ends_quietly() {
    // `nettool echo … | head -1`: after the first line nobody reads stdout any more.
    // A million pings at 50 ms would take 14 hours: ending within WAIT can only be the
    // client noticing the closed pipe (at its next line), never running out of pings.
    let (server, addr) = nettool_server(&["echo"]).await;
    let addr = addr.to_string();
    let mut child = tokio::process::Command::new(nettool())
        .args(["echo", &addr, "-c", "1000000", "-i", "0.05"])
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn nettool echo");
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .await
        .expect("read");
    assert!(first.contains("seq=1"), "{first:?}");
    // The reader is dropped here: the pipe is closed.
    let out = timeout(WAIT, child.wait_with_output())
        .await
        .expect("it ends by itself once its stdout is closed")
        .expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
    drop(server);
}
