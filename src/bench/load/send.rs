//! A member's sending side: `rate` numbered load lines per second once the load starts,
//! its schedule shifted by `phase` of a period so that the members' lines are spread
//! over each period instead of reaching the server in one burst; a `Ping` whenever
//! nothing went out for half the keepalive period; commands at any time.

use super::member::Tx;
use super::{Cmd, Shared};
use crate::wire::{now_us, ClientMsg};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// One member's schedule and limits.
pub(super) struct Sender {
    pub(super) idx: usize,
    /// Load lines per second; 0: none.
    pub(super) rate: f64,
    /// Fraction of a period this member's schedule is shifted by.
    pub(super) phase: f64,
    pub(super) keepalive: Duration,
    pub(super) text: Arc<str>,
    /// Lines that may be unseen by the watcher (the next member) before the schedule
    /// skips.
    pub(super) in_flight: Option<u64>,
}

impl Sender {
    /// Line k (from 0) is due at `start + (k + phase) / rate`; lines that fell behind are
    /// skipped, not owed. Runs until `done`; acknowledges `stop_send` once its last line
    /// is out, then only keeps the membership alive. Says goodbye at the end.
    pub(super) async fn run(
        self,
        mut tx: Tx,
        mut cmds: mpsc::UnboundedReceiver<Cmd>,
        shared: Arc<Shared>,
    ) {
        let half = self.keepalive / 2;
        let mut begun: Option<Instant> = None;
        let mut seq = 0u64;
        let mut loads = 0u64;
        let mut last_out = Instant::now();
        let mut acked = false;
        let far = Duration::from_secs(3600);
        let mut batch: Vec<ClientMsg> = Vec::new();
        loop {
            let stopping = shared.stop_send.is_cancelled();
            if !acked && stopping {
                let _ = shared.stopped.send(());
                acked = true;
            }
            let next_load = match begun {
                Some(b) if self.rate > 0.0 && !stopping => {
                    b + Duration::from_secs_f64((loads as f64 + self.phase) / self.rate)
                }
                _ => Instant::now() + far,
            };
            let wake = next_load.min(last_out + half);
            let mut probe = false;
            tokio::select! {
                _ = shared.done.cancelled() => break,
                _ = shared.start.cancelled(), if begun.is_none() => {
                    begun = Some(shared.start_at.get().copied().unwrap_or_else(Instant::now));
                    continue;
                }
                _ = shared.stop_send.cancelled(), if !stopping => continue,
                _ = tokio::time::sleep_until(wake) => {
                    if let (Some(b), false) = (begun, stopping) {
                        let x = b.elapsed().as_secs_f64() * self.rate - self.phase;
                        let due = if self.rate > 0.0 && x >= 0.0 { x as u64 + 1 } else { 0 };
                        let limit = match self.in_flight {
                            Some(w) => shared.seen[self.idx].load(Ordering::Relaxed) + w,
                            None => u64::MAX,
                        };
                        while loads < due && seq < limit {
                            loads += 1;
                            seq += 1;
                            let text = self.text.to_string();
                            batch.push(ClientMsg::Say { seq, sent_us: now_us(), text });
                        }
                        loads = loads.max(due); // skipped, not owed
                    }
                    if batch.is_empty() && last_out.elapsed() >= half {
                        batch.push(ClientMsg::Ping { t_us: now_us() });
                    }
                }
                Some(cmd) = cmds.recv() => match cmd {
                    Cmd::Say(text) => {
                        seq += 1;
                        batch.push(ClientMsg::Say { seq, sent_us: now_us(), text });
                    }
                    Cmd::Send(msg) => batch.push(msg),
                    Cmd::Probe => probe = true,
                },
            }
            if batch.is_empty() && !probe {
                continue;
            }
            if !self.send(&mut tx, &mut batch, probe, &shared).await {
                // The server went away (shutdown) or dropped us: counted, not sent.
                shared.send_errors.fetch_add(1, Ordering::SeqCst);
                break;
            }
            shared.sent[self.idx].store(seq, Ordering::SeqCst);
            last_out = Instant::now();
        }
        if !acked {
            let _ = shared.stopped.send(());
        }
        tx.bye().await;
    }

    /// Send `batch` (emptied) and, if asked, a probe; count the lines sent inside the
    /// window. `false`: the connection is gone.
    async fn send(
        &self,
        tx: &mut Tx,
        batch: &mut Vec<ClientMsg>,
        probe: bool,
        shared: &Shared,
    ) -> bool {
        let mut in_window = 0;
        for m in batch.drain(..) {
            if let ClientMsg::Say { sent_us, .. } = &m {
                in_window += u64::from(shared.window.contains(*sent_us));
            }
            if !tx.feed(self.idx, m).await {
                return false;
            }
        }
        if probe && !tx.probe().await {
            return false;
        }
        if !tx.flush().await {
            return false;
        }
        shared
            .sent_in_window
            .fetch_add(in_window, Ordering::Relaxed);
        true
    }
}
