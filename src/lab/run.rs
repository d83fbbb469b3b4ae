//! Running a command inside a lab (`nettool lab -- CMD`): the command is started
//! through `ip netns exec`, with `NETTOOL_LAB_HOST` set; a Ctrl-C or SIGTERM to the lab
//! is passed on to it as SIGTERM (SIGKILL after [`KILL_AFTER`]), and its exit status
//! becomes the lab's (128 + N for a command killed by signal N, as shells do).

use super::Lab;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a command has to exit after SIGTERM before it is killed.
pub const KILL_AFTER: Duration = Duration::from_secs(5);

/// Run `argv` inside `lab` until it exits (or `shutdown` fires and it is stopped).
pub async fn run_command(
    lab: &Lab,
    argv: &[String],
    shutdown: CancellationToken,
) -> io::Result<ExitStatus> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no command given"))?;
    let mut cmd = tokio::process::Command::from(lab.command(program, args));
    let mut child = cmd.kill_on_drop(true).spawn()?;
    tokio::select! {
        status = child.wait() => status,
        _ = shutdown.cancelled() => {
            if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
            match tokio::time::timeout(KILL_AFTER, child.wait()).await {
                Ok(status) => status,
                Err(_) => {
                    child.start_kill()?;
                    child.wait().await
                }
            }
        }
    }
}

/// The exit code a shell would report for `status`.
pub fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}
