//! The floor for the cluster's bus cost: a bare async-nats peer, nothing of nettool's.
//! It publishes `RATE` messages of `SIZE` bytes per second on `SUBJECT` (paced by a
//! tick of 1/RATE but at least 1 ms, so up to 1 000 msg/s it wakes once a message, at
//! 20 000 it publishes 20 per wake-up), receives everything the other peers publish there (`no_echo`), for
//! `SECONDS`, then prints `published received` on stdout. `nettool bench fanout
//! --servers N` runs N of them beside the same broker, at each server's rates, in the
//! same run; by hand (`scripts/bus-floor.sh` builds it when missing, then runs it):
//!
//!     scripts/bus-floor.sh nats://127.0.0.1:4222 floor 1000 10 64
//!
//! One thread, as `nettool chat -l` runs.

use futures_util::StreamExt;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        eprintln!("usage: bus_floor URL SUBJECT RATE SECONDS [SIZE]");
        std::process::exit(2);
    }
    let rate: f64 = args[2].parse().unwrap_or(0.0);
    let secs: f64 = args[3].parse().unwrap_or(0.0);
    let size: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(64);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (url, subject) = (args[0].clone(), args[1].clone());
    let r = rt.block_on(async move {
        let client = async_nats::ConnectOptions::new()
            .no_echo()
            .connect(url.as_str())
            .await?;
        let mut sub = client.subscribe(subject.clone()).await?;
        let payload = bytes::Bytes::from(vec![b'x'; size]);
        let start = Instant::now();
        let end = start + Duration::from_secs_f64(secs);
        let period = Duration::from_secs_f64(1.0 / rate.max(1.0)).max(Duration::from_millis(1));
        let mut tick = tokio::time::interval(period);
        let (mut published, mut received) = (0u64, 0u64);
        while Instant::now() < end {
            tokio::select! {
                _ = tick.tick() => {
                    let due = (start.elapsed().as_secs_f64() * rate) as u64;
                    while published < due {
                        client.publish(subject.clone(), payload.clone()).await?;
                        published += 1;
                    }
                }
                m = sub.next() => match m {
                    Some(_) => received += 1,
                    None => break,
                },
            }
        }
        client.flush().await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>((published, received))
    });
    match r {
        Ok((p, r)) => println!("{p} {r}"),
        Err(e) => {
            eprintln!("bus_floor: {e}");
            std::process::exit(1);
        }
    }
}
