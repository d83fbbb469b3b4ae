//! `stream_time.svg` (with `--plot`): the stream part over time, from the 100 ms samples
//! the stream keeps for it. Three panels on one time axis: goodput of both protocols;
//! TCP's congestion window (the sawtooth); and per sample TCP's retransmitted segments
//! beside UDP's lost datagrams (what each protocol does about the same loss).

use super::interval::Interval;
use super::report::Pair;
use super::stream::StreamResult;
use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::path::Path;

const TCP: RGBColor = RGBColor(31, 119, 180);
const UDP: RGBColor = RGBColor(255, 127, 14);

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("plot: {e:?}")
}

/// Whether the report has samples to draw.
pub(super) fn has_samples(stream: &Pair<StreamResult>) -> bool {
    [&stream.tcp, &stream.udp]
        .into_iter()
        .flatten()
        .any(|r| r.samples.len() >= 2)
}

type Points = Vec<(f64, f64)>;

fn series(r: Option<&StreamResult>, f: impl Fn(&Interval) -> Option<f64>) -> Points {
    r.map(|r| {
        r.samples
            .iter()
            .filter_map(|s| Some((s.end, f(s)?)))
            .collect()
    })
    .unwrap_or_default()
}

/// Draw the chart into `file`.
pub(super) fn stream_over_time(stream: &Pair<StreamResult>, file: &Path) -> Result<()> {
    let (tcp, udp) = (stream.tcp.as_ref(), stream.udp.as_ref());
    let mbps = |s: &Interval| Some(s.bits_per_second / 1e6);
    let goodput = [
        ("TCP", TCP, series(tcp, mbps)),
        ("UDP", UDP, series(udp, mbps)),
    ];
    let cwnd = series(tcp, |s| Some(s.cc?.snd_cwnd as f64 / 1e3));
    let retr = series(tcp, |s| Some(s.cc?.retransmits as f64));
    let lost = series(udp, |s| Some(s.datagrams?.lost_packets.max(0) as f64));
    let t_max = goodput
        .iter()
        .flat_map(|g| g.2.iter().map(|p| p.0))
        .fold(0.1, f64::max);
    let root = SVGBackend::new(file, (900, 720)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let root = root
        .titled(
            "Stream over time: TCP's goodput, cwnd and retransmissions beside UDP's loss",
            ("sans-serif", 20),
        )
        .map_err(err)?;
    let rows = root.split_evenly((3, 1));
    let panel = |area: &DrawingArea<SVGBackend, _>,
                 title: &str,
                 y_desc: &str,
                 lines: &[(&str, RGBColor, &Points)],
                 last: bool|
     -> Result<()> {
        let y_max = lines
            .iter()
            .flat_map(|l| l.2.iter().map(|p| p.1))
            .fold(1e-9, f64::max)
            * 1.15;
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(if last { 32 } else { 20 })
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..t_max, 0.0..y_max)
            .map_err(err)?;
        let mut mesh = chart.configure_mesh();
        mesh.y_desc(y_desc);
        if last {
            mesh.x_desc("seconds since the stream started");
        }
        mesh.draw().map_err(err)?;
        for (name, color, points) in lines {
            let c = *color;
            chart
                .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))
                .map_err(err)?
                .label(*name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
            chart
                .draw_series(points.iter().map(|p| Circle::new(*p, 2, c.filled())))
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.85))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(err)?;
        Ok(())
    };
    let present: Vec<(&str, RGBColor, &Points)> = goodput
        .iter()
        .filter(|g| !g.2.is_empty())
        .map(|g| (g.0, g.1, &g.2))
        .collect();
    panel(
        &rows[0],
        "Goodput per 100 ms (TCP: acknowledged; UDP: received)",
        "Mbit/s",
        &present,
        false,
    )?;
    panel(
        &rows[1],
        "TCP congestion window (TCP_INFO of the sender)",
        "KB",
        &[("TCP cwnd", TCP, &cwnd)],
        false,
    )?;
    panel(
        &rows[2],
        "Per 100 ms: TCP segments retransmitted, UDP datagrams lost",
        "packets",
        &[("TCP retransmitted", TCP, &retr), ("UDP lost", UDP, &lost)],
        true,
    )?;
    root.present().map_err(err)?;
    Ok(())
}
