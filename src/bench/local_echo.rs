//! The in-process echo server of a local `nettool bench` run: TCP, UDP, TLS and QUIC
//! (the last two on the next port), with a certificate of the run's that the bench pins.

use super::suite::ECHO_PROTOS;
use crate::echo;
use crate::wire::Proto;
use anyhow::{Context, Result};
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;

/// An echo server on loopback for the duration of a local run, on a thread and a
/// single-threaded runtime of its own (as `nettool echo -l` runs), so that it shares no
/// worker with the measuring side.
pub(super) struct LocalEcho {
    shutdown: CancellationToken,
    thread: std::thread::JoinHandle<()>,
    pub(super) bound: Vec<(Proto, SocketAddr)>,
    pub(super) fingerprint: String,
}

impl LocalEcho {
    /// TCP, UDP, TLS and QUIC (the last two on the next port), with a certificate of
    /// this run's; its thread on CPU `cpu` only, if given (`bench --pin`).
    pub(super) async fn start(cpu: Option<usize>) -> Result<(SocketAddr, LocalEcho)> {
        let identity = std::sync::Arc::new(crate::cert::Identity::ephemeral()?);
        let fingerprint = identity.fingerprint.clone();
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("echo-server".into())
            .spawn(move || {
                if let Some(cpu) = cpu {
                    super::cpu::pin_thread(cpu);
                }
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    let any = "127.0.0.1:0".parse().expect("literal");
                    let cfg = echo::ServerConfig {
                        identity: Some(identity),
                        ..Default::default()
                    };
                    let server = echo::Server::bind(any, &ECHO_PROTOS, cfg).await;
                    match server {
                        Ok(server) => {
                            let _ = tx.send(Ok(server.bound()));
                            if let Err(e) = server.run(stop).await {
                                tracing::warn!(error = %e, "echo server ended");
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
            })?;
        let bound: Vec<(Proto, SocketAddr)> =
            rx.await.context("the echo server thread ended")??;
        let addr = bound.first().map(|b| b.1).context("nothing bound")?;
        Ok((
            addr,
            LocalEcho {
                shutdown,
                thread,
                bound,
                fingerprint,
            },
        ))
    }

    pub(super) async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::task::spawn_blocking(move || self.thread.join()).await;
    }
}
