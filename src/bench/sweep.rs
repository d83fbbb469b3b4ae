//! `nettool bench --link SPEC --sweep loss=0,0.5,1,2,5%`: TCP goodput against random
//! loss, beside the Mathis et al. (1997) bound goodput ≤ (MSS/RTT)·(1.22/√p).
//!
//! One lab per loss value (`SPEC loss=P%`); inside it a child `nettool bench rtt stream
//! --proto tcp --json` against an echo server on the host side; RTT is that run's TCP
//! round-trip p50, MSS 1448 bytes (MTU 1500 with timestamps). The bound is derived for
//! Reno, so the lab's namespace is set to `reno` for the run (a namespace may only pick
//! from `tcp_allowed_congestion_control`, which here is `reno bbr`): this machine's
//! default is BBR, which does not back off on random loss and sits far above the curve
//! (measured: 294 Mbit/s at 5 % loss and 20 ms, 95 times the bound). Prints one row per
//! point with the distance from the bound, and draws `sweep_loss.svg`.

use super::link::HostServers;
use crate::lab::{Lab, LabConfig};
use crate::output::print;
use anyhow::{anyhow, bail, Context, Result};
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Bytes of TCP payload per 1500-byte packet (IPv4 + TCP with timestamps).
pub const MSS: f64 = 1448.0;

/// One point of the sweep.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Point {
    /// Loss probability, 0..=1.
    pub loss: f64,
    /// Round trip measured across the link, p50, in milliseconds.
    pub rtt_ms: f64,
    /// TCP goodput at the receiver, in Mbit/s.
    pub goodput_mbps: f64,
    /// `None` at zero loss (no bound).
    pub bound_mbps: Option<f64>,
}

/// Parse `loss=0,0.5,1,2,5%` into probabilities.
pub fn parse(sweep: &str) -> Result<Vec<f64>> {
    let list = sweep
        .strip_prefix("loss=")
        .ok_or_else(|| anyhow!("--sweep: only loss=P1,P2,…% is supported (got {sweep})"))?;
    list.trim_end_matches('%')
        .split(',')
        .map(|v| {
            let x: f64 = v
                .trim()
                .trim_end_matches('%')
                .parse()
                .map_err(|_| anyhow!("--sweep: `{v}` is not a percentage"))?;
            if !(0.0..100.0).contains(&x) {
                bail!("--sweep: `{v}` must be in 0..100");
            }
            Ok(x / 100.0)
        })
        .collect()
}

/// The Mathis bound in Mbit/s.
pub fn mathis_mbps(rtt_ms: f64, loss: f64) -> Option<f64> {
    (loss > 0.0 && rtt_ms > 0.0).then(|| MSS * 8.0 / (rtt_ms / 1e3) * 1.22 / loss.sqrt() / 1e6)
}

/// Run the sweep; `duration` per point; the SVG goes into `dir`.
pub async fn run(link: &str, sweep: &str, duration: &str, dir: &Path) -> Result<Vec<Point>> {
    if link.contains("loss=") {
        bail!("--sweep sets loss= itself: leave it out of --link");
    }
    // A missing privilege is the one line, before the table's header.
    crate::lab::access::check().map_err(|e| anyhow!(e))?;
    let exe = std::env::current_exe().context("finding the nettool binary")?;
    let mut points = Vec::new();
    print(format_args!(
        "TCP goodput vs loss across `{link}` (congestion control reno, MSS {MSS} B)\n"
    ))?;
    print(format_args!(
        "{:>7} {:>10} {:>14} {:>14} {:>10}\n",
        "loss", "rtt p50", "goodput", "Mathis bound", "of bound"
    ))?;
    for p in parse(sweep)? {
        let lab = Lab::start(&LabConfig::parse(
            &format!("{link} loss={}%", p * 100.0),
            None,
            None,
        )?)?;
        let cc = lab
            .command(
                "sysctl",
                &["-qw".into(), "net.ipv4.tcp_congestion_control=reno".into()],
            )
            .status()?;
        if !cc.success() {
            tracing::warn!("could not set reno in the lab; the sender keeps the default");
        }
        let servers = HostServers::start(&lab).await?;
        let echo_addr = servers.echo;
        let args: Vec<String> = [
            "bench",
            "rtt",
            "stream",
            "--proto",
            "tcp",
            "--json",
            "--duration",
            duration,
            "--connect",
            &echo_addr.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut cmd = tokio::process::Command::from(lab.command(&exe.to_string_lossy(), &args));
        let out = cmd.kill_on_drop(true).output().await?;
        drop(servers);
        lab.stop();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "bench inside the lab: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
        let rtt_ms = json["rtt"]["tcp"]["latency"]["p50_us"]
            .as_f64()
            .unwrap_or(0.0)
            / 1e3;
        let goodput_mbps = json["stream"]["tcp"]["recv_gbps"].as_f64().unwrap_or(0.0) * 1e3;
        let bound_mbps = mathis_mbps(rtt_ms, p);
        let of = bound_mbps.map_or("-".to_string(), |b| {
            format!("{:.0} %", goodput_mbps / b * 100.0)
        });
        let bound = bound_mbps.map_or("-".to_string(), |b| format!("{b:.1} Mbit/s"));
        print(format_args!(
            "{:>6}% {:>7.2} ms {:>9.1} Mbit/s {:>14} {:>10}\n",
            p * 100.0,
            rtt_ms,
            goodput_mbps,
            bound,
            of
        ))?;
        points.push(Point {
            loss: p,
            rtt_ms,
            goodput_mbps,
            bound_mbps,
        });
    }
    let file = dir.join("sweep_loss.svg");
    std::fs::create_dir_all(dir)?;
    plot(link, &points, &file)?;
    eprintln!("wrote {}", file.display());
    Ok(points)
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("plot: {e:?}")
}

fn plot(link: &str, points: &[Point], file: &PathBuf) -> Result<()> {
    let x_max = points
        .iter()
        .map(|p| p.loss * 100.0)
        .fold(0.0, f64::max)
        .max(0.1)
        * 1.05;
    let measured: Vec<(f64, f64)> = points
        .iter()
        .map(|p| (p.loss * 100.0, p.goodput_mbps))
        .collect();
    let bound: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| p.bound_mbps.map(|b| (p.loss * 100.0, b)))
        .collect();
    // A log axis: goodput falls by ~30x from 0 to 0.5 % loss, and on a linear one the
    // points beside the bound, which are the point of the chart, sit flat on the floor.
    let y_max = measured.iter().map(|p| p.1).fold(1.0, f64::max) * 2.0;
    let y_min = measured
        .iter()
        .chain(&bound)
        .map(|p| p.1)
        .filter(|y| *y > 0.0)
        .fold(y_max, f64::min)
        / 2.0;
    let measured: Vec<(f64, f64)> = measured.into_iter().filter(|p| p.1 > 0.0).collect();
    let root = SVGBackend::new(file, (800, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("TCP goodput vs random loss ({link})"),
            ("sans-serif", 20),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, (y_min..y_max).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("loss (%)")
        .y_desc("goodput (Mbit/s, log scale)")
        .draw()
        .map_err(err)?;
    let blue = RGBColor(31, 119, 180);
    let grey = RGBColor(120, 120, 120);
    chart
        .draw_series(LineSeries::new(measured.clone(), blue.stroke_width(2)))
        .map_err(err)?
        .label("measured (reno)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], blue.stroke_width(2)));
    chart
        .draw_series(measured.iter().map(|&p| Circle::new(p, 4, blue.filled())))
        .map_err(err)?;
    // The bound is huge near zero loss: clip it to the chart.
    chart
        .draw_series(LineSeries::new(
            bound.into_iter().map(|(x, y)| (x, y.min(y_max))),
            grey.stroke_width(2),
        ))
        .map_err(err)?
        .label("Mathis bound (MSS/RTT)·1.22/√p")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], grey.stroke_width(2)));
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_sweep_and_computes_the_bound() {
        let v = parse("loss=0,0.5,1,2,5%").unwrap();
        assert_eq!(v, vec![0.0, 0.005, 0.01, 0.02, 0.05]);
        assert!(parse("delay=1,2").is_err());
        assert!(parse("loss=x%").is_err());
        assert_eq!(mathis_mbps(20.0, 0.0), None);
        // 1448 B / 20 ms * 1.22 / 0.1 = 7.07 Mbit/s
        let b = mathis_mbps(20.0, 0.01).unwrap();
        assert!((b - 7.066_24).abs() < 1e-3, "{b}");
    }
}
