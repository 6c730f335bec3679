//! Draws what `scripts/scale-bench.py` measured: SET throughput in every second of the fill
//! against the keys filled so far, one panel per system (each on its own scale).
//!
//! `cargo run --release --example scale_plot -- docs/scale-bench.csv docs/scale-bench.svg`
//!
//! The CSV has a header and rows `system,keys_done,rps`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use plotters::prelude::*;

#[derive(Parser, Debug)]
#[command(about = "Plots the throughput scripts/scale-bench.py measured")]
struct Args {
    /// The measurements (CSV written by the script).
    csv: PathBuf,
    /// Where to write the picture (SVG).
    svg: PathBuf,
    /// A line under the title: the date and the machine.
    #[arg(long, default_value = "")]
    subtitle: String,
}

/// Per system, in the order first seen: (keys filled, SET/s) for every second.
type Series = Vec<(String, Vec<(f64, f64)>)>;

fn parse(text: &str) -> Result<Series, String> {
    let mut out: Series = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let [system, keys, rps] = f[..] else {
            return Err(format!(
                "line {}: expected 3 fields, got {}",
                n + 1,
                f.len()
            ));
        };
        let num = |s: &str| {
            s.parse::<f64>()
                .map_err(|_| format!("line {}: '{s}' is not a number", n + 1))
        };
        let point = (num(keys)? / 1e6, num(rps)?);
        match out.iter_mut().find(|(s, _)| s == system) {
            Some((_, points)) => points.push(point),
            None => out.push((system.to_string(), vec![point])),
        }
    }
    Ok(out)
}

fn draw(series: &Series, args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let root =
        SVGBackend::new(&args.svg, (960, 300 * series.len().max(1) as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        &format!("SET/s in each second of the fill   {}", args.subtitle),
        ("sans-serif", 16),
    )?;
    let keys_max = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(k, _)| *k))
        .fold(0.0, f64::max)
        * 1.02
        + 1e-9;
    let panels = root.split_evenly((series.len().max(1), 1));
    for ((system, points), (panel, color)) in series.iter().zip(panels.iter().zip([BLUE, RED])) {
        let top = points.iter().map(|(_, r)| *r).fold(0.0, f64::max) * 1.1 + 1.0;
        let mut chart = ChartBuilder::on(panel)
            .caption(system, ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..keys_max, 0f64..top)?;
        chart
            .configure_mesh()
            .x_desc("keys filled (millions)")
            .y_desc("SET/s")
            .y_label_formatter(&|y| format!("{:.0}k", y / 1000.0))
            .draw()?;
        chart.draw_series(LineSeries::new(points.clone(), color.stroke_width(1)))?;
    }
    root.present()?;
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let series = match std::fs::read_to_string(&args.csv)
        .map_err(|e| format!("cannot read {}: {e}", args.csv.display()))
        .and_then(|t| parse(&t))
    {
        Ok(s) if !s.is_empty() => s,
        Ok(_) => {
            eprintln!("error: {} holds no measurements", args.csv.display());
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = draw(&series, &args) {
        eprintln!("error: drawing {}: {e}", args.svg.display());
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
