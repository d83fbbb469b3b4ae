//! `--plot DIR`: SVG charts of a bench report (plotters' SVG backend).
//!
//! * `rtt_cdf.svg`: the round-trip latency CDF, TCP against UDP, cut at the slower
//!   side's p99.9 (the legend gives each side's max, which may lie beyond the axis).
//! * `stream.svg`: goodput bars: TCP, UDP unpaced (with its loss, which is what the
//!   unpaced figure mostly says), and UDP at the highest rate with (near) zero loss.
//! * `stream_time.svg`: the stream over time (see [`super::plot_time`]).
//! * `fanout.svg`: what differs between the protocols in the chat room: delivery
//!   latency percentiles and the server's CPU per delivery, with the loss in the title
//!   (delivered msg/s is just the offered load, so it is not plotted). Where the
//!   server's CPU is not measured (`--link`, a `--chat` server without `--server-pid`)
//!   latency takes the whole chart rather than beside an empty panel.

use super::fanout::FanoutResult;
use super::report::{Pair, Report};
use super::rtt::RttResult;
use super::stream::StreamResult;
use crate::measure::latency::{self as stats, Latency};
use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};

const TCP_COLOR: RGBColor = RGBColor(31, 119, 180);
const UDP_COLOR: RGBColor = RGBColor(255, 127, 14);
const UDP_PACED_COLOR: RGBColor = RGBColor(44, 160, 44);
const TLS_COLOR: RGBColor = RGBColor(148, 103, 189);
const QUIC_COLOR: RGBColor = RGBColor(214, 39, 40);

/// Write every chart the report has data for; returns the files written.
pub fn write(report: &Report, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut files = Vec::new();
    if report.rtt.any().is_some() {
        let f = dir.join("rtt_cdf.svg");
        latency_cdf(&report.rtt, &f)?;
        files.push(f);
    }
    if report.stream.any().is_some() {
        let f = dir.join("stream.svg");
        stream_chart(&report.stream, &f)?;
        files.push(f);
    }
    if super::plot_time::has_samples(&report.stream) {
        let f = dir.join("stream_time.svg");
        super::plot_time::stream_over_time(&report.stream, &f)?;
        files.push(f);
    }
    if report.fanout.any().is_some() {
        let f = dir.join("fanout.svg");
        fanout_chart(&report.fanout, &f)?;
        files.push(f);
    }
    Ok(files)
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("plot: {e:?}")
}

/// Microseconds as text, in ms from 1 000 µs.
fn us(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} ms", v / 1000.0)
    } else {
        format!("{v:.1} µs")
    }
}

/// A named, coloured line of (x, y) points.
type Series = (String, RGBColor, Vec<(f64, f64)>);

fn latency_cdf(rtt: &Pair<RttResult>, file: &Path) -> Result<()> {
    let series: Vec<Series> = [
        ("TCP", TCP_COLOR, rtt.tcp.as_ref()),
        ("TCP+TLS", TLS_COLOR, rtt.tls.as_ref()),
        ("UDP", UDP_COLOR, rtt.udp.as_ref()),
        ("QUIC", QUIC_COLOR, rtt.quic.as_ref()),
    ]
    .into_iter()
    .filter_map(|(n, c, r)| {
        let r = r?;
        let name = match &r.latency {
            Some(l) => format!("{n}: max {}", us(l.max_us)),
            None => n.to_string(),
        };
        Some((name, c, stats::cdf(&r.hist)))
    })
    .collect();
    // Up to the 99.9th percentile of the slower side, so one outlier does not flatten it.
    let x_max = rtt
        .all()
        .into_iter()
        .flatten()
        .filter_map(|r| r.latency.as_ref().map(|l| l.p999_us))
        .fold(1.0_f64, f64::max)
        * 1.1;
    // The axis in ms once it reaches milliseconds (a lossy link's retransmissions).
    let (scale, unit) = if x_max >= 2000.0 {
        (1000.0, "round trip (ms)")
    } else {
        (1.0, "round trip (µs)")
    };
    let size = rtt.any().map_or(0, |r| r.size);
    let root = SVGBackend::new(file, (800, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Round-trip latency, {size} B (axis to p99.9; max in the legend)"),
            ("sans-serif", 20),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..x_max / scale, 0.0..1.0)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(unit)
        .y_desc("fraction of round trips")
        .draw()
        .map_err(err)?;
    for (name, color, points) in series {
        chart
            .draw_series(LineSeries::new(
                points
                    .into_iter()
                    .filter(|(x, _)| *x <= x_max)
                    .map(|(x, y)| (x / scale, y)),
                color.stroke_width(2),
            ))
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

fn stream_chart(stream: &Pair<StreamResult>, file: &Path) -> Result<()> {
    let mut groups: Vec<Group> = Vec::new();
    if let Some(t) = &stream.tcp {
        let label = format!("{:.2}", t.recv_gbps);
        groups.push(("TCP".into(), vec![(t.recv_gbps, TCP_COLOR, label)]));
    }
    for (name, color, r) in [
        ("TCP+TLS", TLS_COLOR, &stream.tls),
        ("QUIC", QUIC_COLOR, &stream.quic),
    ] {
        if let Some(r) = r {
            let label = format!("{:.2}", r.recv_gbps);
            groups.push((name.into(), vec![(r.recv_gbps, color, label)]));
        }
    }
    if let Some(u) = &stream.udp {
        let loss = u.loss_pct.unwrap_or(0.0);
        let label = format!("{:.2}, {loss:.1} % lost", u.recv_gbps);
        groups.push(("UDP".into(), vec![(u.recv_gbps, UDP_COLOR, label)]));
        if let Some(z) = &u.zero_loss {
            let label = format!("{:.2}", z.gbps);
            groups.push((
                format!("UDP at ≤ {} % loss", z.max_loss_pct),
                vec![(z.gbps, UDP_PACED_COLOR, label)],
            ));
        }
    }
    let root = SVGBackend::new(file, (720, 440)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    bars(
        &root,
        "Stream goodput at the receiver",
        "Gbit/s received",
        &groups,
        &[],
    )?;
    root.present().map_err(err)?;
    Ok(())
}

fn fanout_chart(fanout: &Pair<FanoutResult>, file: &Path) -> Result<()> {
    let sides = [
        ("TCP", TCP_COLOR, fanout.tcp.as_ref()),
        ("TCP+TLS", TLS_COLOR, fanout.tls.as_ref()),
        ("UDP", UDP_COLOR, fanout.udp.as_ref()),
        ("QUIC", QUIC_COLOR, fanout.quic.as_ref()),
    ];
    let present: Vec<_> = sides
        .iter()
        .filter_map(|(n, c, r)| Some((*n, *c, (*r)?)))
        .collect();
    let lat_group = |name: &str, q: fn(&Latency) -> f64| -> Group {
        let bars = present
            .iter()
            .filter_map(|(_, c, r)| {
                let v = q(r.latency.as_ref()?);
                Some((v, *c, us(v)))
            })
            .collect();
        (name.to_string(), bars)
    };
    let mut latency = vec![
        lat_group("p50", |l| l.p50_us),
        lat_group("p99", |l| l.p99_us),
        lat_group("p99.9", |l| l.p999_us),
    ];
    // The axis in ms once the bars reach milliseconds (the labels say their own unit).
    let top = latency
        .iter()
        .flat_map(|g| g.1.iter().map(|b| b.0))
        .fold(0.0, f64::max);
    let lat_unit = if top >= 2000.0 {
        for bar in latency.iter_mut().flat_map(|g| g.1.iter_mut()) {
            bar.0 /= 1000.0;
        }
        "ms, send to receive"
    } else {
        "µs, send to receive"
    };
    let cpu_bars = present
        .iter()
        .filter_map(|(_, c, r)| {
            let v = r.server_cpu_us_per_delivery?;
            Some((v, *c, format!("{v:.2}")))
        })
        .collect();
    let cpu: Vec<Group> = vec![("server".to_string(), cpu_bars)];
    let cpu_measured = !cpu[0].1.is_empty();
    let any = present
        .first()
        .map(|p| p.2)
        .ok_or_else(|| anyhow!("no fan-out"))?;
    let loss: Vec<String> = present
        .iter()
        .map(|(n, _, r)| format!("{n} {:.2} %", r.loss_pct))
        .collect();
    let legend: Vec<(&str, RGBColor)> = present.iter().map(|(n, c, _)| (*n, *c)).collect();
    let root = SVGBackend::new(file, (900, 460)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let title = format!(
        "Chat fan-out, {} clients × {}/s — loss: {}",
        any.clients,
        any.rate_per_client,
        loss.join(", ")
    );
    let root = root.titled(&title, ("sans-serif", 20)).map_err(err)?;
    if cpu_measured {
        let (left, right) = root.split_horizontally(560);
        bars(&left, "Delivery latency", lat_unit, &latency, &legend)?;
        bars(&right, "Server CPU per delivery", "µs of CPU", &cpu, &[])?;
    } else {
        bars(&root, "Delivery latency", lat_unit, &latency, &legend)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

/// A labelled group of bars: (value, colour, the value as text).
type Group = (String, Vec<(f64, RGBColor, String)>);

/// Grouped bars with a y-axis title, each bar's value written above it, and an
/// optional legend.
fn bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    y_desc: &str,
    groups: &[Group],
    legend: &[(&str, RGBColor)],
) -> Result<()> {
    let y_max = groups
        .iter()
        .flat_map(|g| g.1.iter().map(|b| b.0))
        .fold(0.0_f64, f64::max)
        .max(1e-9)
        * 1.2;
    let n = groups.len().max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..n, 0.0..y_max)
        .map_err(err)?;
    let labels: Vec<String> = groups.iter().map(|g| g.0.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_desc(y_desc)
        .y_label_formatter(&|v| {
            if y_max >= 10.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.1}")
            }
        })
        .x_labels(groups.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - i as f64 - 0.5).abs() < 0.01 {
                labels.get(i).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .draw()
        .map_err(err)?;
    let above =
        TextStyle::from(("sans-serif", 14).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
    for (i, (_, group)) in groups.iter().enumerate() {
        let w = 0.8 / group.len().max(1) as f64;
        for (j, (v, c, text)) in group.iter().enumerate() {
            let x0 = i as f64 + 0.1 + j as f64 * w;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x0 + 0.04, 0.0), (x0 + w - 0.04, *v)],
                    c.filled(),
                )))
                .map_err(err)?;
            // Above the bar, clear of its top edge.
            chart
                .draw_series(std::iter::once(Text::new(
                    text.clone(),
                    (x0 + w / 2.0, *v + y_max * 0.02),
                    above.clone(),
                )))
                .map_err(err)?;
        }
    }
    if !legend.is_empty() {
        for (name, color) in legend {
            let c = *color;
            chart
                .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())
                .map_err(err)?
                .label(*name)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], c.filled()));
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Proto;

    fn fanout(proto: Proto, cpu: Option<f64>) -> FanoutResult {
        FanoutResult {
            proto,
            datagrams: false,
            text: false,
            clients: 20,
            rate_per_client: 200.0,
            seconds: 2.0,
            sent: 8000,
            expected: 152_000,
            delivered: 152_000,
            delivered_per_s: 76_000.0,
            loss_pct: 0.0,
            reordered: 0,
            duplicates: 0,
            latency: Some(Latency {
                samples: 152_000,
                p50_us: 20_400.0,
                p99_us: 56_900.0,
                p999_us: 71_900.0,
                ..Latency::default()
            }),
            server_cpu_s: cpu,
            server_cpu_us_per_delivery: cpu,
            loadgen_cpu_s: None,
            slow_readers: 0,
            slow_policy: "disconnect".into(),
            slow_dropped: 0,
            slow_missed: 0,
        }
    }

    /// The chart of a run, as SVG text.
    fn chart(cpu: Option<f64>) -> String {
        let pair = Pair {
            tcp: Some(fanout(Proto::Tcp, cpu)),
            udp: Some(fanout(Proto::Udp, cpu)),
            ..Pair::default()
        };
        let name = format!("nettool-fanout-{}-{cpu:?}.svg", std::process::id());
        let file = std::env::temp_dir().join(name);
        fanout_chart(&pair, &file).expect("the chart");
        let svg = std::fs::read_to_string(&file).expect("the SVG");
        let _ = std::fs::remove_file(&file);
        svg
    }

    #[test]
    fn fan_out_without_the_servers_cpu_draws_no_empty_cpu_panel() {
        let svg = chart(None);
        assert!(svg.contains("Delivery latency"), "latency is plotted");
        assert!(svg.contains("56.90 ms"), "with each bar's value");
        assert!(!svg.contains("Server CPU per delivery"), "no empty panel");
        let svg = chart(Some(3.2));
        assert!(svg.contains("Server CPU per delivery") && svg.contains("3.20"));
    }
}
