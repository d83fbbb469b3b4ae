//! The link lab: an impaired path between this host and a network namespace, emulated
//! in user space the way mahimahi's delay and loss shells do it.
//!
//! The host side is the current network namespace; each lab makes one new namespace
//! (`nettool-lab-PID-N`) for the inside. Two TUN devices are created here, the inside
//! one is moved into the namespace, and each gets one end of a point-to-point pair from
//! the lab's own private range: 10.213.N.1 on the host, 10.213.N.2 inside, with `N`
//! chosen so that labs running at once do not collide. The only route is the one
//! between the two addresses: no default route, no forwarding, no NAT, so traffic never
//! leaves this machine. The [`shuttle`] moves every IP packet between the two devices
//! through one [`impair::Engine`] per direction: uplink is inside → host, downlink is
//! host → inside.
//!
//! | module | owns |
//! | --- | --- |
//! | [`spec`] | the `delay=25ms loss=1% …` spec and its errors |
//! | [`impair`] | the pure impairment engine (loss, bursts, rate queue, delay, jitter, reorder, dup) |
//! | [`rng`] | the seeded PRNG that makes a run replayable |
//! | [`counts`] | what the engine did, per direction |
//! | [`packet`] | just enough of an IP packet's headers (snap length, TCP data) |
//! | [`pcap`] | `--pcap FILE`: every packet entering the link as pcapng, the lab's drops marked |
//! | [`shuttle`] | the two threads that move packets between the TUN devices |
//! | [`tun`] | creating TUN devices (tun-rs) |
//! | [`netns`] | namespaces, addresses and stale-lab sweeping through iproute2's `ip` |
//! | [`access`] | the privileges the lab needs, checked up front |
//! | [`run`] | `nettool lab -- CMD`: running a command inside, signals, exit status |
//!
//! Everything a [`Lab`] creates is removed when it is dropped: the threads stop, the
//! TUN devices vanish with their descriptors, the namespace is deleted. A lab whose
//! process was killed outright leaves only its namespace, which the next lab sweeps.

#![forbid(unsafe_code)]

pub mod access;
pub mod counts;
pub mod impair;
pub mod netns;
pub mod packet;
pub mod pcap;
pub mod rng;
pub mod run;
pub mod shuttle;
pub mod spec;
pub mod tun;

pub use counts::{Counts, LinkCounts};
pub use spec::{LinkSpec, SpecError};

use std::net::Ipv4Addr;
use std::sync::Mutex;

/// The environment variable that tells a command inside the lab where the host is.
pub const HOST_ENV: &str = "NETTOOL_LAB_HOST";

/// Why a lab could not start.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A privilege or system facility is missing (one line, naming it).
    #[error("{0}")]
    Privilege(String),
    /// The link spec could not be parsed.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// The capture file cannot be written.
    #[error("{0}")]
    Capture(std::io::Error),
    /// Creating a device, namespace or address failed.
    #[error("setting up the lab: {0}")]
    Setup(#[from] std::io::Error),
}

/// The two directions of the link.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabConfig {
    /// Inside → host.
    pub uplink: LinkSpec,
    /// Host → inside.
    pub downlink: LinkSpec,
    /// Write every packet crossing the link to a file (`--pcap`).
    pub capture: Option<pcap::CaptureConfig>,
}

impl LabConfig {
    /// `--link` for both directions, `--uplink` / `--downlink` instead of it for one.
    pub fn parse(
        link: &str,
        uplink: Option<&str>,
        downlink: Option<&str>,
    ) -> Result<LabConfig, SpecError> {
        let both = LinkSpec::parse(link)?;
        let one = |s: Option<&str>| s.map_or_else(|| Ok(both.clone()), LinkSpec::parse);
        Ok(LabConfig {
            uplink: one(uplink)?,
            downlink: one(downlink)?,
            capture: None,
        })
    }

    /// `up: SPEC, down: SPEC`, or one spec when both directions are alike.
    pub fn describe(&self) -> String {
        if self.uplink == self.downlink {
            format!("{} each way", self.uplink)
        } else {
            format!("up {}, down {}", self.uplink, self.downlink)
        }
    }
}

/// Serialises subnet choice and namespace creation among labs of this process (the
/// flock of [`netns::pick_lock`] does it among processes).
static SETUP: Mutex<()> = Mutex::new(());

/// A running lab.
pub struct Lab {
    shuttle: shuttle::Shuttle,
    netns: netns::Netns,
    host: Ipv4Addr,
    inside: Ipv4Addr,
    seeds: (u64, u64),
    capture: Option<pcap::Capture>,
}

impl Lab {
    /// Check privileges, sweep stale labs, create the namespace, the devices and the
    /// addresses, and start moving packets.
    pub fn start(cfg: &LabConfig) -> Result<Lab, LabError> {
        access::check().map_err(LabError::Privilege)?;
        let base = cfg
            .uplink
            .seed
            .or(cfg.downlink.seed)
            .unwrap_or_else(random_seed);
        let seeds = (
            cfg.uplink.seed.unwrap_or(base),
            cfg.downlink.seed.unwrap_or(base) ^ 0x5DEE_CE66_D1CE_4E5B,
        );
        // Offload only where no packet needs impairing (see `tun`).
        let offload = cfg.uplink.is_transparent() && cfg.downlink.is_transparent();
        // The capture file first: a path that cannot be written fails before anything.
        let capture = match &cfg.capture {
            Some(c) => {
                let specs = [cfg.uplink.to_string(), cfg.downlink.to_string()];
                let describe = format!("{}; seeds {} / {}", cfg.describe(), seeds.0, seeds.1);
                Some(
                    pcap::Capture::start(c, &describe, specs, offload)
                        .map_err(LabError::Capture)?,
                )
            }
            None => None,
        };
        let pid = std::process::id();
        let (ns, n) = {
            let _guard = SETUP.lock().unwrap_or_else(|e| e.into_inner());
            let _machine = netns::pick_lock()?;
            // Under the locks: two labs sweeping at once would both delete the same
            // stale namespace, and one of them fail.
            netns::sweep_stale()?;
            let n = netns::pick_subnet(pid)?;
            (
                netns::Netns::create(&format!("{}{pid}-{n}", netns::PREFIX))?,
                n,
            )
        };
        let (host, inside) = netns::addresses(n);
        let host_tun = tun::create(&format!("nl{pid}-{n}h"), offload)?;
        let inside_tun = tun::create(&format!("nl{pid}-{n}i"), offload)?;
        netns::ip(&["link", "set", &inside_tun.name, "netns", ns.name()])?;
        netns::configure_p2p(None, &host_tun.name, host, inside)?;
        netns::configure_p2p(Some(ns.name()), &inside_tun.name, inside, host)?;
        let engine = |spec: &LinkSpec, seed| {
            (!spec.is_transparent()).then(|| impair::Engine::new(spec.clone(), seed))
        };
        let shuttle = shuttle::Shuttle::start(
            host_tun.dev,
            inside_tun.dev,
            engine(&cfg.uplink, seeds.0),
            engine(&cfg.downlink, seeds.1),
            [0, 1].map(|lane| capture.as_ref().map(|c| c.tap(lane))),
        )?;
        tracing::debug!(netns = %ns.name(), %host, %inside, "lab up");
        Ok(Lab {
            shuttle,
            netns: ns,
            host,
            inside,
            seeds,
            capture,
        })
    }

    /// The host's address as seen from inside.
    pub fn host_addr(&self) -> Ipv4Addr {
        self.host
    }

    /// The inside's address as seen from the host.
    pub fn inside_addr(&self) -> Ipv4Addr {
        self.inside
    }

    /// The namespace's name (for `ip netns exec`).
    pub fn netns(&self) -> &str {
        self.netns.name()
    }

    /// The seeds in use (uplink, downlink): put `seed=` in a spec to replay a run.
    pub fn seeds(&self) -> (u64, u64) {
        self.seeds
    }

    /// What the link has done so far.
    pub fn counts(&self) -> LinkCounts {
        LinkCounts {
            uplink: self.shuttle.uplink.load(),
            downlink: self.shuttle.downlink.load(),
        }
    }

    /// A command that runs `program args` inside the lab, with [`HOST_ENV`] set.
    pub fn command(&self, program: &str, args: &[String]) -> std::process::Command {
        let ip = netns::ip_binary().unwrap_or_else(|| "ip".into());
        let mut cmd = std::process::Command::new(ip);
        cmd.args(["netns", "exec", self.netns.name(), program])
            .args(args)
            .env(HOST_ENV, self.host.to_string());
        cmd
    }

    /// Stop the link and remove everything; the final counts.
    pub fn stop(self) -> LinkCounts {
        self.finish().0
    }

    /// Stop the link, close the capture (if any) and remove everything: the final
    /// counts and how the capture went.
    pub fn finish(mut self) -> (LinkCounts, Option<pcap::Summary>) {
        self.shuttle.stop();
        let counts = self.counts();
        let capture = self.capture.take().map(|c| c.finish(counts));
        (counts, capture)
        // Dropping self removes the devices (with their descriptors) and the namespace.
    }
}

fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        return t.as_nanos() as u64 ^ u64::from(std::process::id());
    }
    u64::from_le_bytes(b)
}
