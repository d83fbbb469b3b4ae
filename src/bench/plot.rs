//! `--plot DIR`: SVG charts of a bench report (plotters' SVG backend): the round-trip
//! latency CDF, TCP against UDP, and bars of stream goodput and chat deliveries.

use super::report::{Pair, Report};
use super::rtt::RttResult;
use crate::measure::latency as stats;
use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::path::{Path, PathBuf};

const TCP_COLOR: RGBColor = RGBColor(31, 119, 180);
const UDP_COLOR: RGBColor = RGBColor(255, 127, 14);

/// Write every chart the report has data for; returns the files written.
pub fn write(report: &Report, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut files = Vec::new();
    if report.rtt.any().is_some() {
        let f = dir.join("rtt_cdf.svg");
        latency_cdf(&report.rtt, &f)?;
        files.push(f);
    }
    let mut bars = Vec::new();
    if let Some(t) = &report.stream.tcp {
        bars.push(("TCP stream (Gbit/s)".to_string(), t.recv_gbps, TCP_COLOR));
    }
    if let Some(u) = &report.stream.udp {
        bars.push(("UDP stream (Gbit/s)".to_string(), u.recv_gbps, UDP_COLOR));
    }
    if !bars.is_empty() {
        let f = dir.join("stream.svg");
        bar_chart("Stream goodput at the receiver", &bars, &f)?;
        files.push(f);
    }
    let mut bars = Vec::new();
    if let Some(t) = &report.fanout.tcp {
        bars.push((
            "TCP (k msg/s)".to_string(),
            t.delivered_per_s / 1e3,
            TCP_COLOR,
        ));
    }
    if let Some(u) = &report.fanout.udp {
        bars.push((
            "UDP (k msg/s)".to_string(),
            u.delivered_per_s / 1e3,
            UDP_COLOR,
        ));
    }
    if !bars.is_empty() {
        let f = dir.join("fanout.svg");
        bar_chart("Chat fan-out: deliveries per second", &bars, &f)?;
        files.push(f);
    }
    Ok(files)
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("plot: {e:?}")
}

/// A named, coloured line of (x, y) points.
type Series = (&'static str, RGBColor, Vec<(f64, f64)>);

fn latency_cdf(rtt: &Pair<RttResult>, file: &Path) -> Result<()> {
    let series: Vec<Series> = [
        ("TCP", TCP_COLOR, rtt.tcp.as_ref()),
        ("UDP", UDP_COLOR, rtt.udp.as_ref()),
    ]
    .into_iter()
    .filter_map(|(n, c, r)| r.map(|r| (n, c, stats::cdf(&r.hist))))
    .collect();
    // Up to the 99.9th percentile of the slower side, so one outlier does not flatten it.
    let x_max = [rtt.tcp.as_ref(), rtt.udp.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(|r| r.latency.as_ref().map(|l| l.p999_us))
        .fold(1.0_f64, f64::max)
        * 1.1;
    let size = rtt.any().map_or(0, |r| r.size);
    let root = SVGBackend::new(file, (800, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Round-trip latency, {size} B, loopback"),
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..x_max, 0.0..1.0)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("round trip (µs)")
        .y_desc("fraction of round trips")
        .draw()
        .map_err(err)?;
    for (name, color, points) in series {
        chart
            .draw_series(LineSeries::new(
                points.into_iter().filter(|(x, _)| *x <= x_max),
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

fn bar_chart(title: &str, bars: &[(String, f64, RGBColor)], file: &Path) -> Result<()> {
    let y_max = bars.iter().map(|b| b.1).fold(0.0_f64, f64::max).max(1e-9) * 1.15;
    let root = SVGBackend::new(file, (640, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let n = bars.len() as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..n, 0.0..y_max)
        .map_err(err)?;
    let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(bars.len() * 2 + 1)
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
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (_, v, c))| {
            let x = i as f64;
            Rectangle::new([(x + 0.2, 0.0), (x + 0.8, *v)], c.filled())
        }))
        .map_err(err)?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (_, v, _))| {
            Text::new(format!("{v:.2}"), (i as f64 + 0.42, *v), ("sans-serif", 16))
        }))
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
