//! The shuttle: the threads moving every packet from one TUN device to the other through
//! that direction's [`Engine`].
//!
//! A *lane* is one direction: its source and destination devices, its engine and its
//! counts. A worker thread owns one or two lanes. It reads each lane's packets in
//! batches until the device has none (non-blocking reads), hands them to the engine with
//! the time they arrived, writes whatever is due, and, once nothing moved for [`SPIN`],
//! sleeps in `ppoll` (nanosecond timeout, timer slack set to 1 ns) until a packet
//! arrives, the next held packet is due, or the lab stops.
//!
//! Latency of an unimpaired link. Waking a sleeping thread costs 20–50 µs on this kind
//! of machine, and a round trip through two sleeping threads paid it twice. So a link
//! that is perfect both ways has **one** worker owning both lanes: a ping's request is
//! written to the host, the host's kernel answers it before that write returns, and the
//! same worker finds the reply on its next pass, with no second wake-up. After any
//! packet the worker polls for [`SPIN`] more before sleeping, so a reply that takes a
//! user-space server a few microseconds (sockperf, nettool echo) is caught without a
//! sleep either. An idle link sleeps: no packet, no CPU. An impaired link keeps one
//! worker per direction (its throughput is packets per second; the delays it adds
//! dwarf a wake-up).
//!
//! A perfect lane skips the engine: packets are written straight from the read buffer
//! (with offload on, see [`super::tun`], a "packet" there is a GSO super-packet and is
//! counted once). Packets are opaque bytes here: a truncated or garbage packet is moved
//! (or dropped) like any other, and a write the kernel refuses is counted, never fatal.
//! One buffer per worker, pooled buffers in the engine: no allocation per packet in
//! steady state. With a capture (`--pcap`), each lane hands every packet it reads, with
//! the time it read it and the engine's verdict, to its [`Tap`], which copies the headers
//! into a batch and never blocks (see [`super::pcap`]).

use super::counts::{Counts, SharedCounts};
use super::impair::Engine;
use super::pcap::Tap;
use nix::poll::{ppoll, PollFd, PollFlags};
use nix::sys::time::TimeSpec;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tun_rs::SyncDevice;

/// Packets read from a lane before the due ones are written.
const BATCH: usize = 64;

/// How long a worker keeps polling after the last packet it moved, before it sleeps.
pub const SPIN: Duration = Duration::from_micros(40);

/// The running workers.
pub struct Shuttle {
    stop: Arc<AtomicBool>,
    /// Dropping the write end wakes every thread's `ppoll` (POLLHUP on the read end).
    wake: Option<OwnedFd>,
    threads: Vec<JoinHandle<()>>,
    /// What the inside → host direction did, updated live.
    pub uplink: Arc<SharedCounts>,
    /// What the host → inside direction did, updated live.
    pub downlink: Arc<SharedCounts>,
}

/// One direction.
struct Lane {
    name: &'static str,
    src: Arc<SyncDevice>,
    dst: Arc<SyncDevice>,
    engine: Option<Engine>,
    /// A perfect lane counts here; an impaired one in its engine.
    direct: Counts,
    write_errors: u64,
    shared: Arc<SharedCounts>,
    /// A read failed for good: this lane stops moving packets.
    dead: bool,
    /// The capture's handle (`--pcap`).
    tap: Option<Tap>,
}

struct Worker {
    name: String,
    lanes: Vec<Lane>,
    stop: Arc<AtomicBool>,
    wake: OwnedFd,
}

impl Shuttle {
    /// Start both directions. `None` for an engine means a perfect link in that direction;
    /// `taps` (uplink, downlink) record every packet for a capture.
    pub fn start(
        host: SyncDevice,
        inside: SyncDevice,
        uplink: Option<Engine>,
        downlink: Option<Engine>,
        taps: [Option<Tap>; 2],
    ) -> io::Result<Shuttle> {
        // Close-on-exec: a child spawned meanwhile (the wrapped command, `ip`, a test's
        // peer) must not keep the write end open, or dropping ours would wake nobody.
        let (wake_rx, wake_tx) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let host = Arc::new(host);
        let inside = Arc::new(inside);
        let stop = Arc::new(AtomicBool::new(false));
        let up_counts = Arc::new(SharedCounts::default());
        let down_counts = Arc::new(SharedCounts::default());
        let perfect = uplink.is_none() && downlink.is_none();
        let [up_tap, down_tap] = taps;
        let lane = |name, src: &Arc<SyncDevice>, dst: &Arc<SyncDevice>, engine, shared, tap| Lane {
            name,
            tap,
            src: src.clone(),
            dst: dst.clone(),
            engine,
            direct: Counts::default(),
            write_errors: 0,
            shared,
            dead: false,
        };
        let up = lane("uplink", &inside, &host, uplink, up_counts.clone(), up_tap);
        let down = lane(
            "downlink",
            &host,
            &inside,
            downlink,
            down_counts.clone(),
            down_tap,
        );
        let groups = if perfect {
            vec![("lab-link".to_string(), vec![up, down])]
        } else {
            vec![
                ("lab-uplink".to_string(), vec![up]),
                ("lab-downlink".to_string(), vec![down]),
            ]
        };
        let mut threads = Vec::new();
        for (name, lanes) in groups {
            let w = Worker {
                name: name.clone(),
                lanes,
                stop: stop.clone(),
                wake: wake_rx.try_clone()?,
            };
            threads.push(
                std::thread::Builder::new()
                    .name(name)
                    .spawn(move || w.run())?,
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

    /// Stop every worker and wait for them (packets still held are discarded).
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

impl Lane {
    /// Move what this lane has (up to a batch): (whether anything moved, whether its
    /// device is drained).
    fn pass(&mut self, buf: &mut [u8]) -> (bool, bool) {
        let mut moved = false;
        let mut drained = self.dead;
        for _ in 0..BATCH {
            if self.dead {
                break;
            }
            match self.src.recv(buf) {
                Ok(n) => {
                    moved = true;
                    let at = Instant::now();
                    let verdict = match &mut self.engine {
                        Some(e) => Some(e.submit(at, &buf[..n])),
                        None => {
                            self.direct.received += 1;
                            self.direct.passed += 1;
                            write(&self.dst, &buf[..n], &mut self.write_errors);
                            None
                        }
                    };
                    if let Some(tap) = &self.tap {
                        tap.record(at, &buf[..n], verdict);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    drained = true;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::error!(direction = self.name, error = %e, "TUN read failed; this direction stops");
                    self.dead = true;
                    drained = true;
                }
            }
        }
        let mut published = match &mut self.engine {
            Some(e) => {
                let (dst, errors) = (&self.dst, &mut self.write_errors);
                e.deliver_due(Instant::now(), |p| {
                    moved = true;
                    write(dst, p, errors)
                });
                *e.counts()
            }
            None => self.direct,
        };
        published.write_errors = self.write_errors;
        self.shared.store(&published);
        (moved, drained)
    }
}

impl Worker {
    fn run(mut self) {
        if let Err(e) = nix::sys::prctl::set_timerslack(1) {
            tracing::debug!(error = %e, "timer slack unchanged");
        }
        // Room for a 64 KiB GSO packet and its virtio-net header.
        let mut buf = vec![0u8; 65_536 + 64];
        let mut last_moved = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            let mut all_drained = true;
            for lane in &mut self.lanes {
                let (moved, drained) = lane.pass(&mut buf);
                if moved {
                    last_moved = Instant::now();
                }
                all_drained &= drained;
            }
            if self.lanes.iter().all(|l| l.dead) {
                return;
            }
            if !all_drained {
                continue;
            }
            if last_moved.elapsed() < SPIN {
                std::hint::spin_loop();
                continue;
            }
            if !self.wait() {
                return;
            }
        }
    }

    /// Sleep until input, the next due packet, or stop; false when stopping.
    fn wait(&self) -> bool {
        let next_due = self
            .lanes
            .iter()
            .filter_map(|l| l.engine.as_ref().and_then(Engine::next_due))
            .min();
        let timeout = match next_due {
            Some(due) => {
                let left = due.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return true;
                }
                Some(TimeSpec::from_duration(left.min(Duration::from_secs(1))))
            }
            None => None,
        };
        let mut fds: Vec<PollFd> = self
            .lanes
            .iter()
            .filter(|l| !l.dead)
            .map(|l| PollFd::new(l.src.as_fd(), PollFlags::POLLIN))
            .collect();
        fds.push(PollFd::new(self.wake.as_fd(), PollFlags::POLLIN));
        match ppoll(&mut fds, timeout, None) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                tracing::error!(worker = %self.name, error = %e, "ppoll failed; this worker stops");
                return false;
            }
        }
        !fds.last().and_then(|f| f.any()).unwrap_or(false)
    }
}

fn write(dst: &SyncDevice, pkt: &[u8], errors: &mut u64) {
    if let Err(e) = dst.send(pkt) {
        *errors += 1;
        tracing::debug!(error = %e, len = pkt.len(), "TUN write refused");
    }
}
