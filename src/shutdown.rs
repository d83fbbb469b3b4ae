//! Ctrl-C and SIGTERM as a [`CancellationToken`]: servers take a token, tests cancel it
//! by hand, the binary cancels it on a signal.

use std::future::Future;
use tokio_util::sync::CancellationToken;

/// A token cancelled on the first Ctrl-C or SIGTERM. The handlers are installed before
/// this returns (a server that has said it is serving must not die of the default
/// SIGTERM action), so call it inside a runtime, before announcing anything.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    let signalled = signals();
    tokio::spawn(async move {
        signalled.await;
        // Cancel first: nothing that happens to the log line may keep the signal unheard.
        t.cancel();
        tracing::info!("signal received: shutting down");
    });
    token
}

/// Completes on the first Ctrl-C or SIGTERM, saying nothing: for commands that have no
/// server to stop but must not die of the default action halfway (the bench, whose
/// child servers are killed when the work is dropped). The handlers are installed when
/// this is called, not when it is first polled.
pub fn interrupted() -> impl Future<Output = ()> {
    signals()
}

/// Register for SIGINT and SIGTERM now; the future completes on the first of them.
#[cfg(unix)]
fn signals() -> impl Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let int = signal(SignalKind::interrupt());
    let term = signal(SignalKind::terminate());
    async move {
        match (int, term) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            (Ok(mut one), Err(e)) | (Err(e), Ok(mut one)) => {
                tracing::warn!(error = %e, "only one of SIGINT and SIGTERM is handled");
                one.recv().await;
            }
            (Err(e), Err(_)) => {
                tracing::warn!(error = %e, "no signal handlers: Ctrl-C and SIGTERM kill");
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(not(unix))]
fn signals() -> impl Future<Output = ()> {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
