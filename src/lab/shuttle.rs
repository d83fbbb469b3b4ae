//! The shuttle: one blocking thread per direction moving every packet from one TUN
//! device to the other through that direction's [`Engine`].
//!
//! Each thread reads packets in batches until the device has none (non-blocking
//! reads), hands them to the engine with the time they arrived, writes whatever is due,
//! and then sleeps in `ppoll` (nanosecond timeout, timer slack set to 1 ns) until a
//! packet arrives, the next held packet is due, or the lab stops. A perfect link skips
//! the engine: packets are written straight from the read buffer (with offload on, see
//! [`super::tun`], a "packet" there is a GSO super-packet and is counted once). Packets are opaque
//! bytes here: a truncated or garbage packet is moved (or dropped) like any other, and
//! a write the kernel refuses is counted, never fatal. One buffer per thread, pooled
//! buffers in the engine: no allocation per packet in steady state.

use super::counts::{Counts, SharedCounts};
use super::impair::Engine;
use nix::poll::{ppoll, PollFd, PollFlags};
use nix::sys::time::TimeSpec;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tun_rs::SyncDevice;

/// Packets read before the due ones are written.
const BATCH: usize = 64;

/// The two running directions.
pub struct Shuttle {
    stop: Arc<AtomicBool>,
    /// Dropping the write end wakes every thread's `ppoll` (POLLHUP on the read end).
    wake: Option<OwnedFd>,
    threads: Vec<JoinHandle<()>>,
    pub uplink: Arc<SharedCounts>,
    pub downlink: Arc<SharedCounts>,
}

struct Direction {
    name: &'static str,
    src: Arc<SyncDevice>,
    dst: Arc<SyncDevice>,
    engine: Option<Engine>,
    stop: Arc<AtomicBool>,
    wake: OwnedFd,
    shared: Arc<SharedCounts>,
}

impl Shuttle {
    /// Start both directions. `None` for an engine means a perfect link in that direction.
    pub fn start(
        host: SyncDevice,
        inside: SyncDevice,
        uplink: Option<Engine>,
        downlink: Option<Engine>,
    ) -> io::Result<Shuttle> {
        let (wake_rx, wake_tx) = nix::unistd::pipe()?;
        let host = Arc::new(host);
        let inside = Arc::new(inside);
        let stop = Arc::new(AtomicBool::new(false));
        let up_counts = Arc::new(SharedCounts::default());
        let down_counts = Arc::new(SharedCounts::default());
        let dirs = [
            Direction {
                name: "uplink",
                src: inside.clone(),
                dst: host.clone(),
                engine: uplink,
                stop: stop.clone(),
                wake: wake_rx.try_clone()?,
                shared: up_counts.clone(),
            },
            Direction {
                name: "downlink",
                src: host,
                dst: inside,
                engine: downlink,
                stop: stop.clone(),
                wake: wake_rx,
                shared: down_counts.clone(),
            },
        ];
        let mut threads = Vec::new();
        for d in dirs {
            threads.push(
                std::thread::Builder::new()
                    .name(format!("lab-{}", d.name))
                    .spawn(move || d.run())?,
            );
        }
        Ok(Shuttle {
            stop,
            wake: Some(wake_tx),
            threads,
            uplink: up_counts,
            downlink: down_counts,
        })
    }

    /// Stop both threads and wait for them (packets still held are discarded).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.wake.take();
        for t in self.threads.drain(..) {
            if t.join().is_err() {
                tracing::error!("a lab shuttle thread panicked");
            }
        }
    }
}

impl Drop for Shuttle {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Direction {
    fn run(mut self) {
        if let Err(e) = nix::sys::prctl::set_timerslack(1) {
            tracing::debug!(error = %e, "timer slack unchanged");
        }
        // Room for a 64 KiB GSO packet and its virtio-net header.
        let mut buf = vec![0u8; 65_536 + 64];
        // A perfect link counts here; an impaired one in its engine.
        let mut direct = Counts::default();
        let mut write_errors = 0u64;
        while !self.stop.load(Ordering::Relaxed) {
            let mut drained = false;
            for _ in 0..BATCH {
                match self.src.recv(&mut buf) {
                    Ok(n) => match &mut self.engine {
                        Some(e) => e.submit(Instant::now(), &buf[..n]),
                        None => {
                            direct.received += 1;
                            direct.passed += 1;
                            write(&self.dst, &buf[..n], &mut write_errors);
                        }
                    },
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        drained = true;
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        tracing::error!(direction = self.name, error = %e, "TUN read failed; this direction stops");
                        return;
                    }
                }
            }
            let mut published = match &mut self.engine {
                Some(e) => {
                    let dst = &self.dst;
                    e.deliver_due(Instant::now(), |p| write(dst, p, &mut write_errors));
                    *e.counts()
                }
                None => direct,
            };
            published.write_errors = write_errors;
            self.shared.store(&published);
            if drained && !self.wait() {
                return;
            }
        }
    }

    /// Sleep until input, the next due packet, or stop; false when stopping.
    fn wait(&self) -> bool {
        let timeout = match self.engine.as_ref().and_then(Engine::next_due) {
            Some(due) => {
                let left = due.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return true;
                }
                Some(TimeSpec::from_duration(left.min(Duration::from_secs(1))))
            }
            None => None,
        };
        let mut fds = [
            PollFd::new(self.src.as_fd(), PollFlags::POLLIN),
            PollFd::new(self.wake.as_fd(), PollFlags::POLLIN),
        ];
        match ppoll(&mut fds, timeout, None) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                tracing::error!(direction = self.name, error = %e, "ppoll failed; this direction stops");
                return false;
            }
        }
        !fds[1].any().unwrap_or(false)
    }
}

fn write(dst: &SyncDevice, pkt: &[u8], errors: &mut u64) {
    if let Err(e) = dst.send(pkt) {
        *errors += 1;
        tracing::debug!(error = %e, len = pkt.len(), "TUN write refused");
    }
}
