//! The interactive client: stdin lines out (`/nick`, `/who`, `/quit`, and the local
//! `/stats`), room lines in, UDP keepalives, and loss/reorder/duplicate notices.

use super::connect::{connect, Conn, Incoming, Mode};
use super::stats::{ClientStats, StatsReport};
use super::ClientConfig;
use crate::wire::binary::WireError;
use crate::wire::{now_us, text, ClientMsg, Proto, ServerMsg};
use anyhow::Result;
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use std::fmt;
use std::io;
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{interval, timeout, Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// How long a leaving client waits for the server to acknowledge.
const BYE_WAIT: Duration = Duration::from_secs(1);

/// UDP keepalives sent in a row without a datagram back before the server counts as
/// lost (the server answers each with a `Pong`).
pub(super) const KEEPALIVES_UNANSWERED: u32 = 3;

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "how", content = "why")]
pub enum End {
    /// We left: end of input, `/quit`, or Ctrl-C / SIGTERM (all say goodbye).
    Left,
    /// The server said goodbye, with its reason.
    Disconnected(String),
    /// Text mode: the server closed the connection (the way such servers end).
    Closed,
    /// The server went away without a word: reset, closed without a goodbye, port
    /// unreachable, or silent through its keepalives.
    Lost(String),
}

impl End {
    /// Whether the session ended the way sessions should (the exit status is 0).
    pub fn is_clean(&self) -> bool {
        !matches!(self, End::Lost(_))
    }
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            End::Left => f.write_str("left"),
            End::Disconnected(why) => write!(f, "disconnected: {why}"),
            End::Closed => f.write_str("the server closed the connection"),
            End::Lost(why) => write!(f, "lost the server: {why}"),
        }
    }
}

/// Run a session: read `input` lines until EOF or `/quit`, print room lines to `output`.
/// Returns what the client measured, with how the session ended in `end`.
pub async fn run<I, O>(cfg: &ClientConfig, input: I, output: O) -> Result<StatsReport>
where
    I: AsyncBufRead + Unpin,
    O: AsyncWrite + Unpin,
{
    run_until(cfg, input, output, CancellationToken::new()).await
}

/// [`run`], also leaving (with a goodbye, as `/quit` does) when `stop` is cancelled.
pub async fn run_until<I, O>(
    cfg: &ClientConfig,
    input: I,
    mut output: O,
    stop: CancellationToken,
) -> Result<StatsReport>
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
        unanswered: 0,
        period: Duration::ZERO,
    };
    let mut lines = input.lines();
    let mut keepalive = interval(Duration::from_secs(3600));
    keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let pings = conn.mode == Mode::Binary && conn.proto == Proto::Udp;
    let end = loop {
        if let Some(period) = session.keepalive.take() {
            session.period = period;
            keepalive = interval(period);
            keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
            keepalive.reset();
        }
        let sent = tokio::select! {
            _ = stop.cancelled() => break leave(&mut conn, &mut session, &mut output).await?,
            line = lines.next_line() => match line? {
                None => break leave(&mut conn, &mut session, &mut output).await?,
                Some(line) => match session.typed(&line, conn.mode) {
                    Typed::Send(msg) => conn.tx.send(msg).await,
                    Typed::Show(line) => {
                        write_line(&mut output, &line).await?;
                        Ok(())
                    }
                    Typed::Quit => break leave(&mut conn, &mut session, &mut output).await?,
                    Typed::Nothing => Ok(()),
                },
            },
            incoming = conn.rx.next() => match incoming {
                None if conn.mode == Mode::Text => break End::Closed,
                None => break End::Lost("it closed the connection without a goodbye".into()),
                Some(Err(e)) => break lost(&e),
                Some(Ok(item)) => {
                    session.unanswered = 0;
                    if let Some(end) = session.show(item, conn.proto, &mut output).await? {
                        break end;
                    }
                    Ok(())
                }
            },
            _ = keepalive.tick(), if pings => {
                if session.unanswered >= KEEPALIVES_UNANSWERED {
                    break End::Lost(format!(
                        "no answer to {} keepalives (one every {} ms)",
                        session.unanswered,
                        session.period.as_millis()
                    ));
                }
                session.unanswered += 1;
                conn.tx.send(ClientMsg::Ping { t_us: now_us() }).await
            }
        };
        if let Err(e) = sent {
            break lost(&e);
        }
    };
    match &end {
        End::Lost(why) => tracing::debug!(addr = %cfg.addr, "lost the server: {why}"),
        End::Closed => {
            write_line(
                &mut output,
                "* disconnected: the server closed the connection",
            )
            .await?
        }
        _ => {}
    }
    let mut report = session.stats.report();
    report.end = Some(end);
    Ok(report)
}

/// A receive or send error as the way the server was lost.
fn lost(e: &WireError) -> End {
    match e {
        WireError::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            End::Lost("port unreachable (nothing listens there any more)".into())
        }
        WireError::Io(e) => End::Lost(crate::addr::cause(e)),
        other => End::Lost(other.to_string()),
    }
}

/// What a typed line amounts to.
enum Typed {
    Send(ClientMsg),
    /// A line for the user only.
    Show(String),
    Quit,
    Nothing,
}

struct Session {
    stats: ClientStats,
    seq: u64,
    /// Set when a `Welcome` says how often to send keepalives.
    keepalive: Option<Duration>,
    /// The keepalive period in force.
    period: Duration,
    /// Keepalives sent since the server was last heard from.
    unanswered: u32,
}

impl Session {
    /// Turn a line the user typed into what to do.
    fn typed(&mut self, line: &str, mode: Mode) -> Typed {
        let text_only = |cmd: &str, why: &str| {
            Typed::Show(format!(
                "* {cmd} is not available: the server is not nettool (text mode), {why}"
            ))
        };
        if line.trim() == "/stats" {
            return match mode {
                Mode::Binary => Typed::Show(self.stats.report().to_string()),
                Mode::Text => text_only("/stats", "its lines carry no sequence numbers"),
            };
        }
        match text::parse_line(line, &mut self.seq) {
            Ok(Some(ClientMsg::Bye)) => Typed::Quit,
            Ok(Some(ClientMsg::Who)) if mode == Mode::Text => {
                text_only("/who", "so there is no member list to ask for")
            }
            Ok(Some(msg)) => Typed::Send(msg),
            Ok(None) => Typed::Nothing,
            // Not ours to judge: a foreign server may have its own commands.
            Err(_) if mode == Mode::Text => Typed::Send(say(line, &mut self.seq)),
            Err(why) => Typed::Show(format!("! {why} (or /stats)")),
        }
    }

    /// Print one incoming item; `Some` when the server said goodbye or turned us away.
    async fn show<O: AsyncWrite + Unpin>(
        &mut self,
        item: Incoming,
        proto: Proto,
        out: &mut O,
    ) -> Result<Option<End>> {
        let msg = match item {
            Incoming::Line(line) => {
                write_line(out, &line).await?;
                return Ok(None);
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
                self.stats.departed(nick)
            }
            ServerMsg::Welcome { keepalive_ms, .. } => {
                self.keepalive = Some(Duration::from_millis((*keepalive_ms).max(100)));
            }
            _ => {}
        }
        if let Some(line) = text::render(&msg) {
            write_line(out, &line).await?;
        }
        Ok(match msg {
            ServerMsg::Bye { reason } => Some(End::Disconnected(reason.to_string())),
            ServerMsg::Refused(why) => Some(End::Disconnected(why.to_string())),
            _ => None,
        })
    }
}

/// Say goodbye and wait (bounded) for the server to acknowledge or close, printing what
/// still arrives; UDP repeats the goodbye once, since a datagram may be lost. A server
/// that cannot be told any more is not an error here: we were leaving anyway.
async fn leave<O: AsyncWrite + Unpin>(
    conn: &mut Conn,
    session: &mut Session,
    out: &mut O,
) -> Result<End> {
    if conn.mode == Mode::Text {
        let _ = conn.tx.close().await;
        return Ok(End::Left);
    }
    if conn.tx.send(ClientMsg::Bye).await.is_err() {
        return Ok(End::Left);
    }
    let deadline = Instant::now() + BYE_WAIT;
    let mut resent = conn.proto != Proto::Udp;
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
                if session.show(item, conn.proto, out).await?.is_some() {
                    break;
                }
            }
            Ok(_) => break,
            Err(_) if !resent => {
                resent = true;
                if conn.tx.send(ClientMsg::Bye).await.is_err() {
                    break;
                }
            }
            Err(_) => break,
        }
        if Instant::now() >= deadline {
            break;
        }
    }
    let _ = conn.tx.close().await;
    Ok(End::Left)
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
