//! Process-level test harness: the built `nettool` binary and real peers (netcat, socat,
//! ncat, Node.js) as child processes with piped stdin/stdout, each a [`Peer`] read line
//! by line with a bound on every wait. A peer tool that is missing fails the test under
//! CI and skips it elsewhere ([`crate::harness::skip`]).

pub mod broker;

use crate::harness::{skip, Peer};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::time::{timeout, timeout_at, Instant};

/// The longest any single expected line may take.
pub const WAIT: Duration = Duration::from_secs(10);

pub fn nettool() -> &'static str {
    env!("CARGO_BIN_EXE_nettool")
}

/// A file under `tests/peers`.
pub fn peer_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(name)
}

/// Whether `tool` is on the PATH. Missing: a failure under CI, a skip otherwise
/// ([`skip::require`]); `false` means the test must return now.
#[must_use = "a test whose tool is missing must return at once"]
pub fn require_tool(tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()));
    let check = if found {
        Ok(())
    } else {
        Err("not on the PATH (scripts/install-peers.sh installs it)".to_string())
    };
    skip::require(tool, check)
}

/// Whether `setpriv` (util-linux) is on the PATH, to tie children's lives to the test's.
fn has_setpriv() -> bool {
    static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAS.get_or_init(|| {
        std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join("setpriv").is_file()))
    })
}

/// A child process with its stdout and stderr read as lines.
pub struct Proc {
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    out: mpsc::UnboundedReceiver<String>,
    err: mpsc::UnboundedReceiver<String>,
}

impl Proc {
    /// Start `program ARGS`. A nettool child keeps its certificate and known hosts in a
    /// data directory of this test run's, never the user's.
    pub fn spawn(name: &str, program: &str, args: &[&str]) -> Proc {
        let dir = std::env::temp_dir().join(format!("nettool-it-{}", std::process::id()));
        let dir = dir.to_string_lossy().into_owned();
        Proc::spawn_env(name, program, args, &[(nettool::cert::DATA_DIR_ENV, &dir)])
    }

    /// [`Proc::spawn`] with these environment variables.
    ///
    /// The child dies with the test: killed when the `Proc` is dropped (a failing test
    /// unwinds through it), and — through `setpriv --pdeathsig KILL` where util-linux
    /// has it — when the thread that started it ends, even if the test binary itself is
    /// killed, so no test leaves a server or a broker behind.
    pub fn spawn_env(name: &str, program: &str, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let mut cmd = if has_setpriv() {
            let mut c = Command::new("setpriv");
            c.args(["--pdeathsig", "KILL", "--", program]);
            c
        } else {
            Command::new(program)
        };
        let mut child = cmd
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        let out = lines(child.stdout.take().expect("stdout"));
        let err = lines(child.stderr.take().expect("stderr"));
        Proc {
            name: name.to_string(),
            stdin: child.stdin.take(),
            child,
            out,
            err,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Close stdin (EOF for the child).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Skip stderr lines until one contains `part`; returns it.
    pub async fn stderr_containing(&mut self, part: &str) -> String {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match timeout(left, self.err.recv()).await {
                Ok(Some(l)) if l.contains(part) => return l,
                Ok(Some(l)) => seen.push(l),
                _ => panic!(
                    "{}: no stderr line with {part:?}; seen {seen:#?}",
                    self.name
                ),
            }
        }
    }

    /// Send a signal by name (`TERM`, `KILL`).
    pub async fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .await
            .expect("kill");
        assert!(status.success(), "kill -{sig}");
    }

    /// Wait (bounded) for the child to exit by itself, its stdin still open.
    pub async fn exit_on_its_own(mut self) -> ExitStatus {
        timeout(WAIT, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{}: did not exit by itself", self.name))
            .expect("wait")
    }

    /// Wait (bounded) for the child to exit.
    pub async fn exit(mut self) -> ExitStatus {
        self.stdin = None;
        timeout(WAIT, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{}: did not exit", self.name))
            .expect("wait")
    }
}

/// A child's lines are its stdout; its lines in go to its stdin.
impl Peer for Proc {
    fn name(&self) -> &str {
        &self.name
    }

    fn wait(&self) -> Duration {
        WAIT
    }

    async fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap_or_else(|e| panic!("{}: write: {e}", self.name));
        stdin.flush().await.expect("flush");
    }

    async fn next_line(&mut self, deadline: Instant) -> Result<String, String> {
        match timeout_at(deadline, self.out.recv()).await {
            Ok(Some(l)) => Ok(l),
            Ok(None) => Err("stdout ended".into()),
            Err(_) => Err("timed out".into()),
        }
    }
}

fn lines<R: tokio::io::AsyncRead + Unpin + Send + 'static>(
    r: R,
) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(r).lines();
        while let Ok(Some(l)) = lines.next_line().await {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

/// A `nettool chat --proto both -l` child with room (members and connections) for
/// `members` plus a margin.
pub async fn chat_server_for(members: usize) -> (Proc, SocketAddr) {
    let cap = (members + 16).to_string();
    nettool_server(&[
        "chat",
        "--proto",
        "both",
        // Hundreds of members join at once on a busy machine: a preamble held up past the
        // default 500 ms would make a member a text peer (refused: see detect.rs). The
        // joins are not what these tests are about.
        "--detect",
        "5s",
        "--max-members",
        &cap,
        "--max-conns",
        &cap,
    ])
    .await
}

/// `nettool ARGS… -l 127.0.0.1:0` (ARGS start with the service), and its bound address
/// from the `serving … on ADDR` line.
pub async fn nettool_server(args: &[&str]) -> (Proc, SocketAddr) {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["-l", "127.0.0.1:0"]);
    let mut p = Proc::spawn(&format!("server {}", args.join(" ")), nettool(), &all);
    let line = p.stderr_containing("serving").await;
    let addr = line
        .split_whitespace()
        .last()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    (p, addr)
}

/// A nettool chat client with a nickname, welcomed.
pub async fn nettool_client(addr: SocketAddr, proto: &str, nick: &str, online: usize) -> Proc {
    let a = addr.to_string();
    let mut p = Proc::spawn(
        nick,
        nettool(),
        &["chat", &a, "--proto", proto, "--nick", nick],
    );
    p.expect(&format!("* you are {nick}; {online} online"))
        .await;
    p
}

/// Run the binary to completion and return its stdout (it must exit 0).
pub fn run_ok(args: &[&str]) -> String {
    let out = std::process::Command::new(nettool())
        .args(args)
        .output()
        .expect("run nettool");
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// A number from `/proc/PID/status`: the first word after `field` (`"VmRSS:"` in KiB,
/// `"Threads:"`). Panics if the process is gone or has no such line.
pub fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e} (the process died?)"));
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} line in /proc/{pid}/status"))
}

/// A port that was free a moment ago, for tools that cannot bind port 0 and report it.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Run `nettool ARGS…` (a `bench … --json`), wait for it to exit successfully, and return
/// the JSON report it printed.
pub async fn bench_json(args: &[&str]) -> serde_json::Value {
    let mut p = Proc::spawn("bench", nettool(), args);
    let mut json = String::new();
    // The report comes at the end of the run: over four protocols, longer than one
    // expected line's bound.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let l = match p.next_line(deadline).await {
            Ok(l) => l,
            Err(why) => panic!("bench: no report: {why}"),
        };
        json.push_str(&l);
        if l == "}" {
            break;
        }
    }
    assert!(p.exit().await.success());
    serde_json::from_str(&json).expect("JSON")
}
