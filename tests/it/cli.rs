//! The binary as a user runs it: SIGTERM to a chat server with TCP, UDP, text and
//! nettool peers (every peer told, exit status 0); a chat server on several threads;
//! `nettool echo` client and server; `nettool bench` parts with `--json` and `--plot`;
//! completion scripts (and what bash offers on Tab with its own); man pages; `--help`.

use crate::harness;
use crate::process;

use harness::{Peer, TcpText, UdpText};
use process::{nettool, nettool_client, nettool_server, run_ok, Proc};

#[tokio::test]
async fn sigterm_tells_every_peer_and_exits_zero() {
    let (server, addr) = nettool_server(&["chat", "--proto", "both"]).await;
    let mut alice = nettool_client(addr, "tcp", "alice", 1).await;
    let mut bob = nettool_client(addr, "udp", "bob", 2).await;
    let mut text = TcpText::connect(addr).await;
    text.send_line("/nick nc").await;
    text.wait_for("* guest1 is now nc").await;
    let mut utext = UdpText::join(addr).await;
    utext.send_line("/nick ncu").await;
    utext.wait_for("* guest2 is now ncu").await;
    alice.wait_for("* guest2 is now ncu").await;
    bob.wait_for("* guest2 is now ncu").await;
    text.wait_for("* guest2 is now ncu").await;

    server.signal("TERM").await;
    alice.expect("* disconnected: server shutdown").await;
    bob.expect("* disconnected: server shutdown").await;
    text.expect("* disconnected: server shutdown").await;
    text.expect_eof().await;
    utext.expect("* disconnected: server shutdown").await;
    assert!(server.exit().await.success(), "exit status 0");
    assert!(alice.exit().await.success());
    assert!(bob.exit().await.success());
}

/// The OS threads of process `pid`.
fn threads_of(pid: u32) -> u64 {
    process::proc_status(pid, "Threads:")
}

#[tokio::test]
async fn a_chat_server_on_several_threads_relays_in_order_and_stops_cleanly() {
    let (one, _) = nettool_server(&["chat"]).await;
    let (server, addr) = nettool_server(&["chat", "--proto", "both", "--threads", "3"]).await;
    // One thread by default; three workers (and tokio's other threads) when asked.
    assert_eq!(threads_of(one.pid()), 1, "a default server is one thread");
    assert!(
        threads_of(server.pid()) >= 4,
        "--threads 3 runs three workers besides main"
    );
    one.signal("TERM").await;
    assert!(one.exit().await.success());

    let mut members = Vec::new();
    for i in 0..6 {
        let mut m = TcpText::connect(addr).await;
        m.send_line(&format!("/nick t{i}")).await;
        m.wait_for(&format!("* guest{} is now t{i}", i + 1)).await;
        members.push(m);
    }
    let mut u = UdpText::join(addr).await;
    u.send_line("/nick u0").await;
    u.wait_for("* guest7 is now u0").await;
    for m in members.iter_mut() {
        m.wait_for("* guest7 is now u0").await;
    }
    // Each member's lines reach every other member, each sender's in order.
    for round in 0..20 {
        for (i, m) in members.iter_mut().enumerate() {
            m.send_line(&format!("line {round} from {i}")).await;
        }
    }
    for (j, m) in members.iter_mut().enumerate() {
        let mut next = [0usize; 6];
        while next.iter().enumerate().any(|(i, &n)| i != j && n < 20) {
            let l = m
                .wait_for_matching(|l| l.contains(": line "), "a relayed line")
                .await;
            let (from, round) = parse_relayed(&l);
            assert_ne!(from, j, "{l}: a member's own line came back");
            assert_eq!(round, next[from], "{l}: out of order");
            next[from] += 1;
        }
    }
    for _ in 0..(20 * 6) {
        u.wait_for_matching(|l| l.contains(": line "), "a relayed line")
            .await;
    }
    server.signal("TERM").await;
    members[0].expect("* disconnected: server shutdown").await;
    u.wait_for("* disconnected: server shutdown").await;
    assert!(server.exit().await.success(), "exit status 0");
}

/// `tN: line R from N` -> (N, R).
fn parse_relayed(l: &str) -> (usize, usize) {
    let w: Vec<&str> = l.split_whitespace().collect();
    match w.as_slice() {
        [_, "line", r, "from", n] => (n.parse().expect("sender"), r.parse().expect("round")),
        _ => panic!("not a relayed line: {l}"),
    }
}

#[tokio::test]
async fn echo_client_and_server_from_the_command_line() {
    let (server, addr) = nettool_server(&["echo"]).await;
    let a = addr.to_string();
    let mut ping = Proc::spawn(
        "ping",
        nettool(),
        &["echo", &a, "--proto", "udp", "-c", "3", "-i", "0", "--json"],
    );
    let mut json = String::new();
    loop {
        let l = ping.line().await;
        json.push_str(&l);
        if l == "}" {
            break;
        }
    }
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(v["proto"], "udp");
    assert_eq!(v["sent"], 3);
    assert_eq!(v["received"], 3);
    assert_eq!(v["loss_pct"], 0.0);
    assert!(v["p99_us"].as_f64().unwrap() >= v["p50_us"].as_f64().unwrap());
    assert!(ping.exit().await.success());

    let mut ping = Proc::spawn("ping", nettool(), &["echo", &a, "-c", "2", "-i", "0"]);
    for seq in 1..=2 {
        let l = ping.line().await;
        assert!(
            l.starts_with(&format!("64 bytes from {a}: seq={seq} time=")),
            "{l}"
        );
    }
    ping.expect(&format!("--- {a} tcp echo ---")).await;
    ping.expect("2 sent, 2 received, 0.0% loss (0 late)").await;
    assert!(ping
        .line()
        .await
        .starts_with("rtt min/p50/p90/p99/max/mean = "));
    server.signal("TERM").await;
    assert!(server.exit().await.success());
}

#[tokio::test]
async fn bench_parts_report_json_and_plots() {
    let tmp = tempfile::Builder::new()
        .prefix("nettool-plots-")
        .tempdir()
        .expect("temp dir");
    let dir = tmp.path();
    let d = dir.to_str().unwrap();
    let args = [
        "bench",
        "rtt",
        "setup",
        "fanout",
        "--proto",
        "tcp,udp",
        // Long enough that a member stalled for a few hundred ms (a busy machine, the
        // flaky hunt's stalls) still sends: at 300 ms one run in the hunt saw sent = 0.
        "--duration",
        "1s",
        "--setup-count",
        "20",
        "--clients",
        "3",
        "--msg-rate",
        "50",
        "--json",
        "--plot",
        d,
    ];
    let v = crate::process::bench_json(&args).await;
    for proto in ["tcp", "udp"] {
        let rtt = &v["rtt"][proto];
        assert!(rtt["received"].as_u64().unwrap() > 0, "{rtt}");
        assert!(rtt["latency"]["p50_us"].as_f64().unwrap() > 0.0);
        assert!(v["setup"][proto]["attempts"].as_u64().unwrap() > 0);
        let f = &v["fanout"][proto];
        assert_eq!(f["clients"], 3);
        assert!(f["delivered"].as_u64().unwrap() > 0, "{f}");
    }
    assert_eq!(v["fanout"]["tcp"]["loss_pct"], 0.0, "TCP loses nothing");
    assert!(v["stream"]["tcp"].is_null(), "stream was not asked for");
    for f in ["rtt_cdf.svg", "fanout.svg"] {
        let svg = std::fs::read_to_string(dir.join(f)).expect(f);
        assert!(svg.starts_with("<svg"), "{f}");
    }
}

#[test]
fn completions_for_each_shell_name_every_subcommand() {
    for (shell, marker) in [
        ("bash", "complete -F _nettool"),
        ("zsh", "#compdef nettool"),
        ("fish", "complete -c nettool"),
    ] {
        let script = run_ok(&["completions", shell]);
        assert!(script.contains(marker), "{shell}: no {marker:?}");
        for word in [
            "chat",
            "echo",
            "bench",
            "completions",
            "man",
            "max-members",
            "udp-rate",
        ] {
            assert!(script.contains(word), "{shell}: no {word}");
        }
    }
    // bash itself, given the script: what does Tab offer after these words?
    let complete = |words: &[&str]| {
        let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        let n = quoted.len();
        let script = format!(
            "source <({exe} completions bash) && COMP_WORDS=({all}) && COMP_CWORD={cword} && \
             _nettool nettool {cur} {prev} && echo \"${{COMPREPLY[*]}}\"",
            exe = nettool(),
            all = quoted.join(" "),
            cword = n - 1,
            cur = quoted[n - 1],
            prev = quoted[n - 2],
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &script])
            .output()
            .expect("run bash");
        assert!(out.status.success(), "{words:?}: {out:?}");
        let reply = String::from_utf8(out.stdout).expect("UTF-8");
        reply.trim().to_string()
    };
    assert_eq!(complete(&["nettool", "ch"]), "chat");
    assert_eq!(complete(&["nettool", "chat", "--thr"]), "--threads");
    assert_eq!(
        complete(&["nettool", "chat", "--proto", ""]),
        "tcp udp quic tls both all"
    );
    assert_eq!(
        complete(&["nettool", "bench", "--server-t"]),
        "--server-threads"
    );
    let bad = std::process::Command::new(nettool())
        .args(["completions", "tcsh"])
        .output()
        .expect("run nettool");
    assert_eq!(bad.status.code(), Some(2), "clap's usage error");
}

#[test]
fn man_pages_from_the_same_definition() {
    let page = run_ok(&["man"]);
    assert!(
        page.lines()
            .any(|l| l == format!(".TH nettool 1  \"nettool {}\" ", env!("CARGO_PKG_VERSION"))),
        "{page}"
    );
    for sub in ["chat", "echo", "bench"] {
        assert!(page.contains(&format!("nettool\\-{sub}(1)")), "{page}");
    }
    let chat = run_ok(&["man", "chat"]);
    assert!(
        chat.lines().any(|l| l.starts_with(".TH nettool-chat 1 ")),
        "{chat}"
    );
    assert!(chat.contains("\\-\\-max\\-members"), "{chat}");

    let dir = std::env::temp_dir().join(format!("nettool-man-{}", std::process::id()));
    run_ok(&["man", "--dir", dir.to_str().expect("UTF-8 path")]);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("man dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("name"))
        .collect();
    files.sort();
    std::fs::remove_dir_all(&dir).expect("clean up");
    assert_eq!(
        files,
        [
            "nettool-bench.1",
            "nettool-chat.1",
            "nettool-completions.1",
            "nettool-echo.1",
            "nettool-lab.1",
            "nettool-man.1",
            "nettool.1"
        ]
    );
}

#[test]
fn help_shows_the_library_defaults() {
    let help = run_ok(&["chat", "--help"]);
    for default in [
        "[default: 1024]",
        "[default: 4096]",
        "[default: 1048576]",
        "[default: disconnect]",
        "[default: 10s]",
        "[default: 30s]",
    ] {
        assert!(help.contains(default), "no {default} in {help}");
    }
}

/// `bench --pin` on the echo parts: the in-process echo server's thread runs on CPU 0
/// only, every other thread of the bench on CPU 1 only, and the run still reports.
#[tokio::test]
async fn bench_pin_puts_the_echo_server_and_the_measuring_side_on_two_cpus() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let two = if cpus >= 2 {
        Ok(())
    } else {
        Err(format!("{cpus} CPU here"))
    };
    if !harness::skip::require("two CPUs", two) {
        return;
    }
    let args = [
        "bench",
        "rtt",
        "--proto",
        "tcp",
        "--pin",
        "--duration",
        "2s",
        "--json",
    ];
    let mut p = Proc::spawn("bench", nettool(), &args);
    p.stderr_containing("pinned: the echo server on CPU 0, the measuring side on CPU 1")
        .await;
    let mut seen = Vec::new();
    let tasks = std::fs::read_dir(format!("/proc/{}/task", p.pid())).expect("/proc");
    for task in tasks.flatten() {
        let (Ok(comm), Ok(status)) = (
            std::fs::read_to_string(task.path().join("comm")),
            std::fs::read_to_string(task.path().join("status")),
        ) else {
            continue; // a thread that ended meanwhile
        };
        let allowed = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .map(str::trim)
            .expect("Cpus_allowed_list")
            .to_string();
        seen.push((comm.trim().to_string(), allowed));
    }
    assert!(
        seen.iter().any(|(c, _)| c == "echo-server"),
        "no echo-server thread: {seen:?}"
    );
    for (comm, allowed) in &seen {
        let want = if comm == "echo-server" { "0" } else { "1" };
        assert_eq!(allowed, want, "{comm} runs on {allowed}: {seen:?}");
    }
    let mut json = String::new();
    loop {
        let l = p.line().await;
        json.push_str(&l);
        if l == "}" {
            break;
        }
    }
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert!(
        v["rtt"]["tcp"]["latency"]["p50_us"].as_f64().is_some(),
        "{v}"
    );
    assert!(p.exit().await.success());
}

/// `bench --pin` where `taskset` is missing: one line that names taskset, not the
/// server it was to start, and a failed exit.
#[tokio::test]
async fn bench_pin_without_taskset_says_so() {
    let args = [
        "bench",
        "fanout",
        "--proto",
        "tcp",
        "--clients",
        "2",
        "--duration",
        "300ms",
        "--pin",
    ];
    // A PATH without taskset; setpriv stays on it, as the harness starts children with it.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = std::env::var_os("PATH").unwrap_or_default();
    if let Some(setpriv) = std::env::split_paths(&path)
        .map(|d| d.join("setpriv"))
        .find(|p| p.exists())
    {
        std::os::unix::fs::symlink(setpriv, dir.path().join("setpriv")).expect("symlink");
    }
    let bare_path = dir.path().to_str().expect("utf-8 path");
    let mut p = Proc::spawn_env("bench", nettool(), &args, &[("PATH", bare_path)]);
    let line = p.stderr_containing("cannot start").await;
    assert!(line.contains("through taskset (--pin)"), "{line}");
    assert!(!p.exit().await.success());
}
