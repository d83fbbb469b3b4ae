//! A nettool server run as a child process, so that its CPU time can be measured apart
//! from the load generator's. Its address is read from the `serving … on ADDR` line it
//! prints on stderr; the rest of stderr is drained so it never blocks on a full pipe.
//! For per-core comparisons the child and the load generator can be pinned to CPUs.

use anyhow::{anyhow, bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub(super) struct ChildServer {
    child: Child,
    pub addr: SocketAddr,
}

impl ChildServer {
    /// Start `exe ARGS…` and wait (bounded) for its address, on CPU `cpu` only if given
    /// (through `taskset`, which execs the server, so the pid is the server's).
    pub(super) fn spawn_pinned(
        exe: &Path,
        args: &[&str],
        cpu: Option<usize>,
    ) -> Result<ChildServer> {
        let mut cmd = match cpu {
            Some(c) => {
                let mut cmd = Command::new("taskset");
                cmd.arg("-c").arg(c.to_string()).arg(exe);
                cmd
            }
            None => Command::new(exe),
        };
        let mut child = cmd
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", exe.display()))?;
        let stderr = child.stderr.take().ok_or_else(|| anyhow!("no stderr"))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("serving") {
                    let _ = tx.send(line);
                }
            }
        });
        let line = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                bail!("{} did not report its address", exe.display());
            }
        };
        let addr = line
            .split_whitespace()
            .last()
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| anyhow!("no address in {line:?}"))?;
        Ok(ChildServer { child, addr })
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// Pin every thread of this process to CPU `cpu` (`taskset -a -p`); a warning if that fails.
pub(super) fn pin_self(cpu: usize) {
    let ok = Command::new("taskset")
        .args([
            "-a",
            "-p",
            "-c",
            &cpu.to_string(),
            &std::process::id().to_string(),
        ])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        tracing::warn!("cannot pin the load generator to CPU {cpu} (taskset)");
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
