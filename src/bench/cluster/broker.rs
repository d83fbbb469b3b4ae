//! The bench's broker: a `nats-server` child on free ports (`-p -1 -m -1`), its client
//! and monitoring ports read from the lines it logs, its message counts read from its
//! monitoring endpoint (`/varz`) so that its CPU can be divided by what it routed.

use crate::bench::child::{command_on, said, through, Reaped};
use anyhow::{anyhow, bail, Context, Result};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

/// A `nats-server` started for the bench; killed when dropped.
pub(super) struct Broker {
    child: Reaped,
    /// `nats://127.0.0.1:PORT`.
    pub url: String,
    monitor: SocketAddr,
}

/// Messages the broker took in and sent out so far.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Routed {
    pub in_msgs: u64,
    pub out_msgs: u64,
}

impl Broker {
    /// Start `nats-server` from the PATH (on CPU `cpu` if given).
    pub(super) fn start(cpu: Option<usize>) -> Result<Broker> {
        let mut child = Reaped(
            command_on("nats-server", cpu)
                .args(["-a", "127.0.0.1", "-p", "-1", "-m", "-1"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .with_context(|| {
                    format!(
                        "cannot start nats-server{} (apt-get install nats-server, or give --broker URL)",
                        through(cpu)
                    )
                })?,
        );
        let stderr = child.0.stderr.take().ok_or_else(|| anyhow!("no stderr"))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let (mut client, mut monitor) = (None, None);
        let mut last = String::new();
        while client.is_none() || monitor.is_none() {
            let Ok(line) = rx.recv_timeout(Duration::from_secs(10)) else {
                bail!("nats-server did not report its ports{}", said(&last));
            };
            let addr = || {
                line.rsplit(' ')
                    .next()
                    .and_then(|a| a.parse::<SocketAddr>().ok())
            };
            if line.contains("Listening for client connections on") {
                client = addr();
            } else if line.contains("Starting http monitor on") {
                monitor = addr();
            }
            last = line;
        }
        let (client, monitor) = client.zip(monitor).ok_or_else(|| anyhow!("no ports"))?;
        Ok(Broker {
            child,
            url: format!("nats://{client}"),
            monitor,
        })
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// Its counts so far (from `/varz`).
    pub(super) fn routed(&self) -> Result<Routed> {
        let mut s = TcpStream::connect_timeout(&self.monitor, Duration::from_secs(2))?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        s.write_all(b"GET /varz HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        let mut body = String::new();
        s.take(1 << 20).read_to_string(&mut body)?;
        let json = body.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        let v: serde_json::Value = serde_json::from_str(json).context("/varz")?;
        let n = |k: &str| v[k].as_u64().unwrap_or(0);
        Ok(Routed {
            in_msgs: n("in_msgs"),
            out_msgs: n("out_msgs"),
        })
    }
}
