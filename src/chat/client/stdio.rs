//! The client as the `nettool chat` command runs it: stdin and stdout, Ctrl-C and
//! SIGTERM as a goodbye (like `/quit`), and an error when the server was lost.
//!
//! Stdin is read on a thread of its own rather than through `tokio::io::stdin`, whose
//! read sits in the runtime's blocking pool: a runtime being shut down waits for it,
//! so a client whose server had gone kept running until the user pressed Enter.

use super::run::{run_until, End};
use super::ClientConfig;
use anyhow::{bail, Result};
use bytes::Bytes;
use std::io::{self, Read};
use tokio::io::AsyncBufRead;
use tokio_util::io::StreamReader;

/// Run on the process's stdin and stdout until EOF, `/quit`, Ctrl-C or SIGTERM (each
/// says goodbye; `Ok`), or until the server ends the session: `Ok` when it said
/// goodbye (or, in text mode, closed), an error naming the server when it was lost.
/// With `--json`, the stats report (with how the session ended) is printed either way.
pub async fn run_stdio(cfg: ClientConfig) -> Result<()> {
    let stop = crate::shutdown::on_signal();
    let report = run_until(&cfg, stdin_reader(), tokio::io::stdout(), stop).await?;
    if cfg.json {
        crate::output::print(format_args!("{}\n", serde_json::to_string_pretty(&report)?))?;
    }
    match report.end {
        Some(End::Lost(why)) => bail!("lost the server at {} {}: {why}", cfg.proto, cfg.addr),
        _ => Ok(()),
    }
}

/// The process's stdin, read by a detached thread (it ends with the process).
fn stdin_reader() -> impl AsyncBufRead + Unpin {
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(4);
    let spawned = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut stdin = io::stdin().lock();
            let mut buf = vec![0u8; 8192];
            loop {
                let item = match stdin.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => Ok(Bytes::copy_from_slice(&buf[..n])),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => Err(e),
                };
                let failed = item.is_err();
                if tx.blocking_send(item).is_err() || failed {
                    break;
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the stdin reader: no input");
    }
    StreamReader::new(Box::pin(futures_util::stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|item| (item, rx)) },
    )))
}
