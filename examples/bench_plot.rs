//! Draws what `scripts/bench-vs-redis.sh` measured: throughput and p99 latency against the
//! number of clients, the replicated store beside Redis, one column per workload.
//!
//! `cargo run --release --example bench_plot -- docs/bench-vs-redis.csv docs/bench-vs-redis.svg`
//!
//! The CSV has a header and rows `system,test,pipeline,clients,rps,p50_ms,p99_ms`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use plotters::prelude::*;

#[derive(Parser, Debug)]
#[command(about = "Plots the figures scripts/bench-vs-redis.sh measured")]
struct Args {
    /// The measurements (CSV written by the script).
    csv: PathBuf,
    /// Where to write the picture (SVG).
    svg: PathBuf,
    /// A line under the title: the date and the machine.
    #[arg(long, default_value = "")]
    subtitle: String,
}

/// One measurement.
struct Row {
    system: String,
    clients: f64,
    rps: f64,
    p99_ms: f64,
}

/// Rows by workload (`SET`, `GET -P 16`, ...), in the order first seen.
type Workloads = Vec<(String, Vec<Row>)>;

fn parse(text: &str) -> Result<Workloads, String> {
    let mut out: Workloads = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let [system, test, pipeline, clients, rps, _p50, p99] = f[..] else {
            return Err(format!(
                "line {}: expected 7 fields, got {}",
                n + 1,
                f.len()
            ));
        };
        let num = |s: &str| {
            s.parse::<f64>()
                .map_err(|_| format!("line {}: '{s}' is not a number", n + 1))
        };
        let workload = match pipeline {
            "1" => test.to_string(),
            p => format!("{test} -P {p}"),
        };
        let row = Row {
            system: system.to_string(),
            clients: num(clients)?,
            rps: num(rps)?,
            p99_ms: num(p99)?,
        };
        match out.iter_mut().find(|(w, _)| *w == workload) {
            Some((_, rows)) => rows.push(row),
            None => out.push((workload, vec![row])),
        }
    }
    Ok(out)
}

fn draw(workloads: &Workloads, args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let columns = workloads.len().max(1);
    let root = SVGBackend::new(&args.svg, (320 * columns as u32, 640)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        &format!(
            "kv_server (3 nodes) vs redis-server --appendfsync always   {}",
            args.subtitle
        ),
        ("sans-serif", 18),
    )?;
    let panels = root.split_evenly((2, columns));
    let colors: BTreeMap<&str, RGBColor> = [("kv_server", BLUE), ("redis", RED)].into();
    for (col, (workload, rows)) in workloads.iter().enumerate() {
        let clients_max = rows.iter().map(|r| r.clients).fold(1.0, f64::max);
        for (row, (what, value)) in [
            ("requests/s", (|r: &Row| r.rps) as fn(&Row) -> f64),
            ("p99 ms", |r: &Row| r.p99_ms),
        ]
        .into_iter()
        .enumerate()
        {
            let top = rows.iter().map(value).fold(0.0, f64::max) * 1.1 + 1e-9;
            let mut chart = ChartBuilder::on(&panels[row * columns + col])
                .caption(format!("{workload}: {what}"), ("sans-serif", 15))
                .margin(8)
                .x_label_area_size(30)
                .y_label_area_size(55)
                .build_cartesian_2d((1f64..clients_max * 1.2).log_scale(), 0f64..top)?;
            chart
                .configure_mesh()
                .x_desc("clients")
                .x_labels(6)
                .y_labels(6)
                .x_label_formatter(&|x| format!("{x:.0}"))
                .y_label_formatter(&|y| match *y {
                    y if y >= 1000.0 => format!("{:.0}k", y / 1000.0),
                    y => format!("{y:.1}"),
                })
                .draw()?;
            for (system, color) in &colors {
                let mut points: Vec<(f64, f64)> = rows
                    .iter()
                    .filter(|r| r.system == *system)
                    .map(|r| (r.clients, value(r)))
                    .collect();
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
                let color = *color;
                chart
                    .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
                    .label(*system)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
                chart.draw_series(
                    points
                        .into_iter()
                        .map(|p| Circle::new(p, 3, color.filled())),
                )?;
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()?;
        }
    }
    root.present()?;
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let text = match std::fs::read_to_string(&args.csv) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", args.csv.display());
            return ExitCode::FAILURE;
        }
    };
    let workloads = match parse(&text) {
        Ok(w) if !w.is_empty() => w,
        Ok(_) => {
            eprintln!("error: {} holds no measurements", args.csv.display());
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("error: {}: {e}", args.csv.display());
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = draw(&workloads, &args) {
        eprintln!("error: drawing {}: {e}", args.svg.display());
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
