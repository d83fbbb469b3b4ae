//! The fault and soak tests' use of the library's load generator
//! (`nettool::bench::load`): their settings for it, and waiting on its events.

use nettool::bench::load::{sender_index, Load, LoadConfig};
use nettool::wire::{Proto, ServerMsg};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::{timeout, Instant};

/// Lines a load member may have in flight (sent, not yet seen by the next member):
/// beyond it the schedule skips instead of piling lines up in socket buffers, so a
/// saturated (debug, shared-CPU) server shows as a lower rate, not as seconds of latency.
const IN_FLIGHT: u64 = 256;
/// Receivers that are told to stop end after this long without a chat line.
const QUIET: Duration = Duration::from_millis(1000);

/// Join one member per `(proto, rate)` (lines/s; 0: none), `parallel` joins at a time,
/// and start the load once all are in.
pub async fn start_load(addr: SocketAddr, specs: &[(Proto, f64)], parallel: usize) -> Load {
    let cfg = LoadConfig {
        parallel,
        in_flight: Some(IN_FLIGHT),
        quiet: QUIET,
        ..LoadConfig::new(addr, specs.to_vec())
    };
    let load = Load::join(&cfg)
        .await
        .unwrap_or_else(|e| panic!("load members join: {e:#}"));
    load.start();
    load
}

/// Wait (bounded by `wait`) until every member in `who` has had an event for which
/// `want` holds; returns those events in member order. A load member leaving or being
/// told goodbye meanwhile fails the test: the room must keep them.
pub async fn wait_all(
    load: &mut Load,
    who: &[usize],
    wait: Duration,
    what: &str,
    want: impl Fn(&ServerMsg) -> bool,
) -> Vec<ServerMsg> {
    let mut got: Vec<Option<ServerMsg>> = vec![None; load.len()];
    let deadline = Instant::now() + wait;
    while who.iter().any(|&i| got[i].is_none()) {
        let left = deadline.saturating_duration_since(Instant::now());
        let (i, msg) = match timeout(left, load.events.recv()).await {
            Ok(Some(ev)) => ev,
            Ok(None) => panic!("event channel closed waiting for {what}"),
            Err(_) => {
                let missing: Vec<_> = who.iter().filter(|&&i| got[i].is_none()).collect();
                panic!("no {what} within {wait:?} at members {missing:?}")
            }
        };
        if want(&msg) {
            got[i].get_or_insert(msg);
            continue;
        }
        match &msg {
            ServerMsg::Left { nick, reason } if sender_index(nick).is_some() => {
                panic!("load member {nick} left ({reason}), seen by {i}")
            }
            ServerMsg::Bye { reason } => panic!("load member {i} told bye ({reason})"),
            _ => {}
        }
    }
    who.iter().filter_map(|&i| got[i].take()).collect()
}
