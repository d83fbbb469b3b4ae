//! The interactive client: stdin lines out (`/nick`, `/who`, `/quit`, and the local
//! `/stats`), room lines in, UDP keepalives, and loss/reorder/duplicate notices.

use super::connect::{connect, Conn, Incoming, Mode};
use super::stats::{ClientStats, StatsReport};
use super::ClientConfig;
use crate::wire::{now_us, text, ClientMsg, Proto, ServerMsg};
use anyhow::Result;
use futures::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{interval, timeout, Instant, MissedTickBehavior};

/// How long a leaving client waits for the server to acknowledge.
const BYE_WAIT: Duration = Duration::from_secs(1);

/// Run a session: read `input` lines until EOF or `/quit`, print room lines to `output`.
/// Returns what the client measured.
pub async fn run<I, O>(cfg: &ClientConfig, input: I, mut output: O) -> Result<StatsReport>
where
    I: AsyncBufRead + Unpin,
    O: AsyncWrite + Unpin,
{
    let mut conn = connect(cfg).await?;
    let how = match conn.mode {
        Mode::Binary => "nettool protocol",
        Mode::Text => "text mode: no nettool server answered",
    };
    tracing::info!("connected to {} over {} ({how})", cfg.addr, conn.proto);
    let mut session = Session {
        stats: ClientStats::default(),
        seq: 0,
        keepalive: None,
    };
    let mut lines = input.lines();
    let mut keepalive = interval(Duration::from_secs(3600));
    keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        if let Some(period) = session.keepalive.take() {
            keepalive = interval(period);
            keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
            keepalive.reset();
        }
        tokio::select! {
            line = lines.next_line() => match line? {
                None => {
                    leave(&mut conn, &mut session, &mut output).await?;
                    break;
                }
                Some(line) => {
                    if line.trim() == "/stats" {
                        write_line(&mut output, &session.stats.report().to_string()).await?;
                        continue;
                    }
                    match text::parse_line(&line, &mut session.seq) {
                        Ok(Some(ClientMsg::Bye)) => {
                            leave(&mut conn, &mut session, &mut output).await?;
                            break;
                        }
                        Ok(Some(msg)) => conn.tx.send(msg).await?,
                        Ok(None) => {}
                        // Not ours to judge: a foreign server may have its own commands.
                        Err(_) if conn.mode == Mode::Text => {
                            conn.tx.send(say(&line, &mut session.seq)).await?;
                        }
                        Err(why) => write_line(&mut output, &format!("! {why} (or /stats)")).await?,
                    }
                }
            },
            incoming = conn.rx.next() => match incoming {
                None => {
                    tracing::info!("the server closed the connection");
                    break;
                }
                Some(Err(e)) => return Err(anyhow::Error::from(e).context("receiving from the server")),
                Some(Ok(item)) => {
                    if session.show(item, conn.proto, &mut output).await? {
                        break;
                    }
                }
            },
            _ = keepalive.tick(), if conn.mode == Mode::Binary && conn.proto == Proto::Udp => {
                conn.tx.send(ClientMsg::Ping { t_us: now_us() }).await?;
            }
        }
    }
    Ok(session.stats.report())
}

/// Run on the process's stdin and stdout; with `--json`, print the stats report on exit.
pub async fn run_stdio(cfg: ClientConfig) -> Result<()> {
    let stdin = tokio::io::BufReader::new(tokio::io::stdin());
    let report = run(&cfg, stdin, tokio::io::stdout()).await?;
    if cfg.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

struct Session {
    stats: ClientStats,
    seq: u64,
    /// Set when a `Welcome` says how often to send keepalives.
    keepalive: Option<Duration>,
}

impl Session {
    /// Print one incoming item; `true` when the server said goodbye.
    async fn show<O: AsyncWrite + Unpin>(
        &mut self,
        item: Incoming,
        proto: Proto,
        out: &mut O,
    ) -> Result<bool> {
        let msg = match item {
            Incoming::Line(line) => {
                write_line(out, &line).await?;
                return Ok(false);
            }
            Incoming::Msg(msg) => msg,
        };
        match &msg {
            ServerMsg::Chat {
                from, seq, sent_us, ..
            } => {
                if let Some(anomaly) = self.stats.observe(from, *seq, *sent_us, now_us()) {
                    tracing::debug!(%from, %anomaly, "sequence anomaly over {proto}");
                    write_line(out, &format!("* {from}: {anomaly}")).await?;
                }
            }
            ServerMsg::Renamed { old, new } => self.stats.rename(old, new),
            ServerMsg::Left { nick, .. } | ServerMsg::Joined { nick, .. } => {
                self.stats.forget(nick)
            }
            ServerMsg::Welcome { keepalive_ms, .. } => {
                self.keepalive = Some(Duration::from_millis((*keepalive_ms).max(100)));
            }
            _ => {}
        }
        if let Some(line) = text::render(&msg) {
            write_line(out, &line).await?;
        }
        Ok(matches!(msg, ServerMsg::Bye { .. }))
    }
}

/// Say goodbye and wait (bounded) for the server to acknowledge or close, printing what
/// still arrives; UDP repeats the goodbye once, since a datagram may be lost.
async fn leave<O: AsyncWrite + Unpin>(
    conn: &mut Conn,
    session: &mut Session,
    out: &mut O,
) -> Result<()> {
    if conn.mode == Mode::Text {
        let _ = conn.tx.close().await;
        return Ok(());
    }
    conn.tx.send(ClientMsg::Bye).await?;
    let deadline = Instant::now() + BYE_WAIT;
    let mut resent = conn.proto == Proto::Tcp;
    loop {
        let wait = if resent {
            deadline
        } else {
            Instant::now() + BYE_WAIT / 3
        };
        match timeout(
            wait.saturating_duration_since(Instant::now()),
            conn.rx.next(),
        )
        .await
        {
            Ok(Some(Ok(item))) => {
                if session.show(item, conn.proto, out).await? {
                    break;
                }
            }
            Ok(_) => break,
            Err(_) if !resent => {
                resent = true;
                conn.tx.send(ClientMsg::Bye).await?;
            }
            Err(_) => break,
        }
        if Instant::now() >= deadline {
            break;
        }
    }
    let _ = conn.tx.close().await;
    Ok(())
}

fn say(line: &str, seq: &mut u64) -> ClientMsg {
    *seq += 1;
    ClientMsg::Say {
        seq: *seq,
        sent_us: now_us(),
        text: line.to_string(),
    }
}

async fn write_line<O: AsyncWrite + Unpin>(out: &mut O, line: &str) -> Result<()> {
    out.write_all(line.as_bytes()).await?;
    out.write_all(b"\n").await?;
    out.flush().await?;
    Ok(())
}
