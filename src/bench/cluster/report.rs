//! What `bench fanout --servers N` measured: both layouts, each server's and the
//! broker's CPU, the bus's extra CPU per server beside the bare peer's (the floor),
//! as JSON fields and as a table.

use super::{ClusterBenchConfig, Floor};
use crate::measure::latency::Latency;
use crate::wire::Proto;
use serde::Serialize;
use std::fmt;

/// One server's share of a layout.
#[derive(Debug, Clone, Serialize)]
pub struct ServerCost {
    /// Its `--name`.
    pub name: String,
    /// Members on it.
    pub members: usize,
    /// Deliveries to its members over the window.
    pub deliveries: u64,
    /// Its CPU over the window, in seconds.
    pub cpu_s: Option<f64>,
    /// Its CPU per delivery, in µs.
    pub cpu_us_per_delivery: Option<f64>,
    /// Its CPU, in ms per second.
    pub cpu_ms_per_s: Option<f64>,
    /// Cluster layout: its CPU minus its deliveries at the single server's CPU per
    /// delivery, in ms per second (what the bus costs it).
    pub bus_ms_per_s: Option<f64>,
    /// The bare peer's CPU at this server's rates, in ms per second (same run).
    pub floor_ms_per_s: Option<f64>,
    /// `bus_ms_per_s / floor_ms_per_s` (target ≤ 1.25).
    pub bus_to_floor: Option<f64>,
}

impl ServerCost {
    pub(super) fn new(
        name: String,
        members: usize,
        deliveries: u64,
        cpu_s: Option<f64>,
        secs: f64,
    ) -> ServerCost {
        ServerCost {
            name,
            members,
            deliveries,
            cpu_s,
            cpu_us_per_delivery: cpu_s
                .filter(|_| deliveries > 0)
                .map(|c| c * 1e6 / deliveries as f64),
            cpu_ms_per_s: cpu_s.map(|c| c * 1e3 / secs),
            bus_ms_per_s: None,
            floor_ms_per_s: None,
            bus_to_floor: None,
        }
    }
}

/// The broker's share of the cluster layout (a broker the bench started).
#[derive(Debug, Clone, Serialize)]
pub struct BrokerCost {
    /// Its CPU over the window, in seconds.
    pub cpu_s: Option<f64>,
    /// Publications it received per second.
    pub in_per_s: f64,
    /// Publications it delivered per second (one per other server per publication).
    pub out_per_s: f64,
    /// Chat lines per publication (the rounds' batching).
    pub lines_per_publication: f64,
    /// Its CPU per publication routed (in), in µs.
    pub cpu_us_per_publication: Option<f64>,
    /// Its CPU per chat line carried, in µs.
    pub cpu_us_per_line: Option<f64>,
}

impl BrokerCost {
    pub(super) fn new(
        cpu_s: Option<f64>,
        ins: u64,
        outs: u64,
        lines: u64,
        secs: f64,
    ) -> BrokerCost {
        BrokerCost {
            cpu_s,
            in_per_s: ins as f64 / secs,
            out_per_s: outs as f64 / secs,
            lines_per_publication: if ins == 0 {
                0.0
            } else {
                lines as f64 / ins as f64
            },
            cpu_us_per_publication: cpu_s.filter(|_| ins > 0).map(|c| c * 1e6 / ins as f64),
            cpu_us_per_line: cpu_s.filter(|_| lines > 0).map(|c| c * 1e6 / lines as f64),
        }
    }
}

/// One layout's result.
#[derive(Debug, Clone, Serialize)]
pub struct Layout {
    /// Servers in it.
    pub servers: usize,
    /// The measured window, in seconds.
    pub seconds: f64,
    /// Lines sent in the window.
    pub sent: u64,
    /// Deliveries in the window.
    pub delivered: u64,
    /// Deliveries per second.
    pub delivered_per_s: f64,
    /// Deliveries missing, % of those due.
    pub loss_pct: f64,
    /// Send-to-delivery latency (µs).
    pub latency: Option<Latency>,
    /// Each server's share.
    pub per_server: Vec<ServerCost>,
    /// The broker's share (cluster layout, broker started by the bench).
    pub broker: Option<BrokerCost>,
}

/// The comparison.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterReport {
    /// UTC, seconds since the Unix epoch.
    pub unix_time: u64,
    /// The broker used.
    pub broker_url: String,
    /// The members' protocol.
    pub proto: Proto,
    /// Members.
    pub clients: usize,
    /// Lines per second per member.
    pub rate_per_client: f64,
    /// One server.
    pub single: Layout,
    /// N servers on the bus.
    pub cluster: Layout,
    /// The bare peers (same run), if `bus_floor` was found.
    pub floor: Option<Floor>,
    /// Whether they ran beside the cluster layout (same window) rather than after it.
    pub floor_beside: bool,
}

impl ClusterReport {
    pub(super) fn new(
        cfg: &ClusterBenchConfig,
        url: String,
        single: Layout,
        cluster: Layout,
    ) -> Self {
        ClusterReport {
            unix_time: crate::wire::now_us() / 1_000_000,
            broker_url: url,
            proto: cfg.proto,
            clients: cfg.clients,
            rate_per_client: cfg.rate,
            single,
            cluster,
            floor: None,
            floor_beside: cfg.floor_beside,
        }
    }

    /// Set the floor and each server's bus cost against it.
    pub(super) fn set_floor(&mut self, f: Floor) {
        let per = self
            .single
            .per_server
            .first()
            .and_then(|s| s.cpu_us_per_delivery);
        for (s, floor) in self.cluster.per_server.iter_mut().zip(&f.cpu_ms_per_s) {
            let deliveries_per_s = s.deliveries as f64 / self.cluster.seconds;
            s.bus_ms_per_s = s
                .cpu_ms_per_s
                .zip(per)
                .map(|(cpu, per)| cpu - deliveries_per_s * per / 1e3);
            s.floor_ms_per_s = Some(*floor);
            s.bus_to_floor = s.bus_ms_per_s.map(|b| b / floor);
        }
        self.floor = Some(f);
    }
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map(f).unwrap_or_else(|| "-".into())
}

impl fmt::Display for ClusterReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (a, b) = (&self.single, &self.cluster);
        let offered = self.clients as f64 * self.rate_per_client;
        writeln!(
            f,
            "chat fan-out, {} members x {} lines/s over {} ({offered:.0} lines/s offered); broker {}",
            self.clients, self.rate_per_client, self.proto, self.broker_url
        )?;
        writeln!(
            f,
            "{:<34} {:>14} {:>14}",
            "",
            "1 server",
            format!("{} servers", b.servers)
        )?;
        let row = |f: &mut fmt::Formatter<'_>, l: &str, x: String, y: String| {
            writeln!(f, "{l:<34} {x:>14} {y:>14}")
        };
        row(
            f,
            "delivered msg/s",
            format!("{:.0}", a.delivered_per_s),
            format!("{:.0}", b.delivered_per_s),
        )?;
        let p99 = |l: &Layout| {
            opt(l.latency.as_ref().map(|l| l.p99_us), |v| {
                format!("{:.2} ms", v / 1e3)
            })
        };
        row(f, "p99 latency", p99(a), p99(b))?;
        row(
            f,
            "loss",
            format!("{:.3} %", a.loss_pct),
            format!("{:.3} %", b.loss_pct),
        )?;
        let one = a.per_server.first().and_then(|s| s.cpu_us_per_delivery);
        for s in &b.per_server {
            let label = format!("CPU/delivery, server {}", s.name);
            row(
                f,
                &label,
                opt(one, |v| format!("{v:.2} µs")),
                opt(s.cpu_us_per_delivery, |v| format!("{v:.2} µs")),
            )?;
        }
        if let Some(k) = &b.broker {
            row(
                f,
                "broker publications/s in, out",
                "-".into(),
                format!("{:.0}, {:.0}", k.in_per_s, k.out_per_s),
            )?;
            row(
                f,
                "broker lines per publication",
                "-".into(),
                format!("{:.1}", k.lines_per_publication),
            )?;
            row(
                f,
                "broker CPU/publication, /line",
                "-".into(),
                format!(
                    "{} / {}",
                    opt(k.cpu_us_per_publication, |v| format!("{v:.1}")),
                    opt(k.cpu_us_per_line, |v| format!("{v:.1} µs"))
                ),
            )?;
        }
        for s in &b.per_server {
            if let (Some(bus), Some(fl), Some(r)) =
                (s.bus_ms_per_s, s.floor_ms_per_s, s.bus_to_floor)
            {
                let when = if self.floor_beside {
                    "beside it"
                } else {
                    "after it"
                };
                writeln!(f, "bus cost, server {}: {bus:.1} ms/s of CPU beyond its deliveries; bare async-nats peer at its rates ({when}) {fl:.1} ms/s: {r:.2}x (target <= 1.25x)", s.name)?;
            }
        }
        Ok(())
    }
}
