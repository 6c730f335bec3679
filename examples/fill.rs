//! Fills a Redis-protocol server with `--keys` distinct keys (`key:<n>`, each once, values of
//! `--value-bytes`), from `--clients` connections pipelining `--pipeline` SETs each, and reports
//! what the scale benchmark (`scripts/scale-bench.sh`) needs: completions in every 100 ms
//! window (as CSV), the longest run of windows with none, and latency percentiles.
//!
//! `cargo run --release --example fill -- --addr 127.0.0.1:6379 --keys 1000000 --csv fill.csv`
//!
//! Prints one line of `name=value` pairs. A request's latency runs from the write of its
//! pipeline batch to its reply, as redis-benchmark counts it. An error reply is counted (and
//! the first one printed), not retried: a store that loses its leader under load shows it.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Fills a Redis-protocol server with distinct keys, pipelined, and times it")]
struct Args {
    /// The server.
    #[arg(long)]
    addr: String,
    /// Distinct keys to write.
    #[arg(long)]
    keys: u64,
    /// Bytes in each value.
    #[arg(long, default_value_t = 100)]
    value_bytes: usize,
    /// Connections.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    clients: u64,
    /// SETs in flight per connection.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pipeline: u64,
    /// Where to write completions per 100 ms window (`window_ms,completed`).
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Write keys from this number on (to continue a fill).
    #[arg(long, default_value_t = 0)]
    first: u64,
}

/// The longest run: 12 hours of 100 ms windows.
const WINDOWS: usize = 12 * 3600 * 10;
const WINDOW: Duration = Duration::from_millis(100);

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let start = Instant::now();
    let windows: Arc<Vec<AtomicU64>> = Arc::new((0..WINDOWS).map(|_| AtomicU64::new(0)).collect());
    let value = "v".repeat(args.value_bytes);
    let threads: Vec<_> = (0..args.clients)
        .map(|c| {
            let (addr, windows, value) = (args.addr.clone(), windows.clone(), value.clone());
            let (clients, pipeline, first, keys) =
                (args.clients, args.pipeline, args.first, args.keys);
            std::thread::spawn(move || {
                let mine = (first + c..first + keys).step_by(clients as usize);
                client(&addr, mine, pipeline as usize, &value, start, &windows)
            })
        })
        .collect();
    let mut latencies_us = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for t in threads {
        let done = t.join().map_err(|_| "a client thread panicked")??;
        latencies_us.extend(done.latencies_us);
        errors += done.errors;
        first_error = first_error.or(done.first_error);
    }
    if let Some(e) = first_error {
        eprintln!("an error reply: {e:?}");
    }
    let elapsed = start.elapsed();
    let used = (elapsed.as_millis() / WINDOW.as_millis()) as usize + 1;
    let counts: Vec<u64> = windows[..used.min(WINDOWS)]
        .iter()
        .map(|w| w.load(Ordering::Relaxed))
        .collect();
    if let Some(path) = &args.csv {
        let mut out = String::from("window_ms,completed\n");
        for (i, n) in counts.iter().enumerate() {
            out.push_str(&format!("{},{n}\n", i as u128 * WINDOW.as_millis()));
        }
        std::fs::write(path, out).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    // Windows with nothing completed, not counting the last (partial) one.
    let mut longest_zero = 0;
    let mut run = 0;
    for n in &counts[..counts.len().saturating_sub(1)] {
        run = if *n == 0 { run + 1 } else { 0 };
        longest_zero = longest_zero.max(run);
    }
    latencies_us.sort_unstable();
    let pct = |p: f64| {
        let i = ((latencies_us.len() as f64 * p).ceil() as usize).saturating_sub(1);
        latencies_us.get(i).copied().unwrap_or(0) as f64 / 1000.0
    };
    println!(
        "keys={} seconds={:.2} rps={:.0} p50_ms={:.2} p99_ms={:.2} p999_ms={:.2} max_ms={:.2} \
         longest_zero_ms={} errors={errors}",
        args.keys,
        elapsed.as_secs_f64(),
        args.keys as f64 / elapsed.as_secs_f64(),
        pct(0.5),
        pct(0.99),
        pct(0.999),
        pct(1.0),
        longest_zero * WINDOW.as_millis()
    );
    Ok(())
}

/// What one connection saw.
struct Done {
    /// Each SET's latency, in microseconds.
    latencies_us: Vec<u32>,
    /// Error replies.
    errors: u64,
    first_error: Option<String>,
}

/// One connection's share: SETs of `keys`, `pipeline` at a time.
fn client(
    addr: &str,
    keys: impl Iterator<Item = u64>,
    pipeline: usize,
    value: &str,
    start: Instant,
    windows: &[AtomicU64],
) -> Result<Done, String> {
    let stream = TcpStream::connect(addr).map_err(|e| format!("{addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
    let mut writer = stream;
    let mut done = Done {
        latencies_us: Vec::new(),
        errors: 0,
        first_error: None,
    };
    let mut keys = keys.peekable();
    let mut batch = Vec::new();
    let mut line = String::new();
    while keys.peek().is_some() {
        batch.clear();
        let mut n = 0;
        for k in keys.by_ref().take(pipeline) {
            let key = format!("key:{k:012}");
            write!(
                batch,
                "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n",
                key.len(),
                value.len()
            )
            .expect("writes to a Vec");
            n += 1;
        }
        let sent = Instant::now();
        writer
            .write_all(&batch)
            .map_err(|e| format!("{addr}: {e}"))?;
        for _ in 0..n {
            line.clear();
            reader
                .read_line(&mut line)
                .map_err(|e| format!("{addr}: {e}"))?;
            if line.starts_with('-') {
                done.errors += 1;
                done.first_error.get_or_insert_with(|| line.clone());
            } else if line != "+OK\r\n" {
                return Err(format!("{addr} answered a SET with {line:?}"));
            }
            let now = Instant::now();
            let latency = now.duration_since(sent).as_micros();
            done.latencies_us.push(latency.min(u32::MAX as u128) as u32);
            let w = (now.duration_since(start).as_millis() / WINDOW.as_millis()) as usize;
            if let Some(slot) = windows.get(w) {
                slot.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    Ok(done)
}
