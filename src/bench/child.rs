//! A nettool server run as a child process, so that its CPU time can be measured apart
//! from the load generator's. Its address is read from the `serving … on ADDR` line it
//! prints on stderr; the rest of stderr is drained so it never blocks on a full pipe.
//! For per-core comparisons the child and the load generator can be pinned to CPUs.

use anyhow::{anyhow, bail, Context, Result};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// With `--pin`: the CPU of the servers (a chat child, the in-process echo server, the
/// bare bus peers) …
pub(super) const SERVER_CPU: usize = 0;
/// … and of the measuring side (this process, the load generator, the broker).
pub(super) const LOAD_CPU: usize = 1;

/// A command for `program`, run on CPU `cpu` only if given: through `taskset`, which
/// execs the program, so the child's pid is the program's. A failed spawn says
/// [`through`] the same `cpu`.
pub(super) fn command_on(program: impl AsRef<OsStr>, cpu: Option<usize>) -> Command {
    match cpu {
        Some(c) => {
            let mut cmd = Command::new("taskset");
            cmd.arg("-c").arg(c.to_string()).arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

pub(super) struct ChildServer {
    child: Reaped,
    /// The child's data directory (its self-signed certificate), removed once the child
    /// is gone (fields drop in order: the child first).
    _data: tempfile::TempDir,
    pub addr: SocketAddr,
    /// A TLS or QUIC server's certificate, as it said at start.
    pub fingerprint: Option<String>,
}

/// A child process that is killed and waited for when this is dropped: when the bench
/// ends, fails or is interrupted, nothing it started is left running.
pub(super) struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The arguments of a `nettool chat -l` child as the fan-out benches run it: room for
/// `members` (and a margin), a deep queue, no UDP flood limit (the bench measures the
/// room, not the limit), and the bench's `--coalesce` window (zero: rounds only).
pub(super) fn room_server_args(
    proto: crate::wire::Proto,
    members: usize,
    coalesce: std::time::Duration,
) -> Vec<String> {
    let max = (members + 16).to_string();
    let coalesce = format!("{}us", coalesce.as_micros());
    let proto = proto.to_string();
    [
        "chat",
        "-l",
        "127.0.0.1:0",
        "--proto",
        &proto,
        "--max-members",
        &max,
        "--max-conns",
        &max,
        "--queue",
        "4096",
        "--udp-rate",
        "0",
        "--coalesce",
        &coalesce,
    ]
    .map(String::from)
    .to_vec()
}

impl ChildServer {
    /// Start `exe ARGS…` and wait (bounded) for its address, on CPU `cpu` only if given
    /// ([`command_on`]).
    pub(super) fn spawn_pinned(
        exe: &Path,
        args: &[impl AsRef<OsStr>],
        cpu: Option<usize>,
    ) -> Result<ChildServer> {
        let mut cmd = command_on(exe, cpu);
        // Its self-signed certificate is this server's, not the user's, and goes with it.
        let data = tempfile::Builder::new()
            .prefix("nettool-bench-")
            .tempdir()
            .context("a data directory for the child server")?;
        let mut child = Reaped(
            cmd.args(args)
                .env("RUST_LOG", "warn")
                .env(crate::cert::DATA_DIR_ENV, data.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .with_context(|| format!("cannot start {}{}", exe.display(), through(cpu)))?,
        );
        let stderr = child.0.stderr.take().ok_or_else(|| anyhow!("no stderr"))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Every line up to the address (the last one says why, if it never comes),
            // then drained unread.
            let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
            for line in lines.by_ref() {
                let done = line.contains("serving");
                if tx.send(line).is_err() || done {
                    break;
                }
            }
            lines.for_each(drop);
        });
        // A TLS or QUIC server says its certificate first.
        let mut fingerprint = None;
        let mut last = String::new();
        let line = loop {
            let Ok(line) = rx.recv_timeout(Duration::from_secs(10)) else {
                // `child` is killed
                bail!(
                    "{} did not report its address{}",
                    exe.display(),
                    said(&last)
                );
            };
            if line.contains("serving") {
                break line;
            }
            if line.contains("certificate SHA256:") {
                fingerprint = line
                    .split_whitespace()
                    .find(|w| w.starts_with("SHA256:"))
                    .map(str::to_string);
            }
            last = line;
        };
        let addr = line
            .split_whitespace()
            .last()
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| anyhow!("no address in {line:?}"))?;
        Ok(ChildServer {
            child,
            _data: data,
            addr,
            fingerprint,
        })
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.0.id()
    }
}

/// How a child was started, for the error when it could not be: " through taskset"
/// when pinned ([`command_on`]), since a missing `taskset` fails the same way as a
/// missing program.
pub(super) fn through(cpu: Option<usize>) -> &'static str {
    match cpu {
        Some(_) => " through taskset (--pin)",
        None => "",
    }
}

/// A child's last line before it failed to start, as the tail of the error (the reason
/// comes from it or from `taskset`: a program missing from the PATH, say).
pub(super) fn said(last: &str) -> String {
    match last.trim() {
        "" => String::new(),
        l => format!(" (it said: {l})"),
    }
}

/// Pin every thread of this process to CPU `cpu` (`taskset -a -p`); a warning if that fails.
/// Only the first call does it: the threads started since then inherit their creator's
/// CPUs, and a thread that has pinned itself elsewhere on purpose (the in-process echo
/// server of `bench --pin`) must stay there when fan-out pins the load later in the run.
pub(super) fn pin_self(cpu: usize) {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| {
        let status = Command::new("taskset")
            .args([
                "-a",
                "-p",
                "-c",
                &cpu.to_string(),
                &std::process::id().to_string(),
            ])
            .stdout(Stdio::null())
            .status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => tracing::warn!("cannot pin the measuring side to CPU {cpu}: taskset {s}"),
            Err(e) => tracing::warn!("cannot pin the measuring side to CPU {cpu}: taskset: {e}"),
        }
    });
}
