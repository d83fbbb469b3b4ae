//! A real `nats-server` for the cluster tests, on a port it chose itself (`-p -1`; the
//! port is read from its `Listening for client connections on …` line, which comes just
//! before the file `--ports_file_dir` makes), restartable on that same port.
//! Missing `nats-server`: the test fails under CI and is skipped (with a notice) otherwise.

use super::{require_tool, Proc, WAIT};
use tokio::time::{timeout, Instant};

/// A running broker.
pub struct Broker {
    pub proc: Option<Proc>,
    pub port: u16,
    dir: std::path::PathBuf,
    extra: Vec<String>,
}

impl Broker {
    /// Start one (with `extra` arguments, e.g. `--user u --pass p`); `None` to skip.
    pub async fn start(extra: &[&str]) -> Option<Broker> {
        if !require_tool("nats-server") {
            return None;
        }
        let dir = std::env::temp_dir().join(format!(
            "nettool-nats-{}-{}",
            std::process::id(),
            nettool::wire::now_us()
        ));
        std::fs::create_dir_all(&dir).expect("ports dir");
        let mut b = Broker {
            proc: None,
            port: 0,
            dir,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        b.launch("-1").await;
        Some(b)
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    async fn launch(&mut self, port: &str) {
        let d = self.dir.to_str().expect("UTF-8 temp dir").to_string();
        let mut args = vec!["-a", "127.0.0.1", "-p", port, "--ports_file_dir", &d];
        args.extend(self.extra.iter().map(String::as_str));
        let mut p = Proc::spawn("nats-server", "nats-server", &args);
        // nats-server 2.9 writes the ports file just after it says it is ready; the
        // same port is in the line before, which can be waited for.
        let line = p
            .stderr_containing("Listening for client connections on")
            .await;
        self.port = (line.rsplit(':').next())
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        p.stderr_containing("Server is ready").await;
        self.proc = Some(p);
    }

    /// Kill it (SIGKILL) and wait until it is gone.
    pub async fn kill(&mut self) {
        if let Some(p) = self.proc.take() {
            p.signal("KILL").await;
            p.exit().await;
        }
    }

    /// Start it again on the same port; when it is ready.
    pub async fn restart(&mut self) -> Instant {
        let port = self.port.to_string();
        self.launch(&port).await;
        Instant::now()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Wait (bounded) until a server's stderr says it has heard each of `others` on the bus.
pub async fn linked(server: &mut Proc, others: &[&str]) {
    for name in others {
        let want = format!("server joined the room server={name}");
        timeout(WAIT, server.stderr_containing(&want))
            .await
            .expect("linked in time");
    }
}
