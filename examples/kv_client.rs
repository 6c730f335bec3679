//! A client of the key-value store:
//!
//! ```text
//! cargo run --example kv_client -- --nodes 127.0.0.1:6301,127.0.0.1:6302 set k v
//! cargo run --example kv_client -- --nodes 127.0.0.1:6301      # an interactive prompt
//! ```
//!
//! Writes go with an exactly-once session, so the client's retries through a failover never
//! apply a write twice.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use kv_store::resp::Value;
use kv_store::Client;

#[derive(Parser, Debug)]
#[command(about = "A client of the replicated key-value store")]
struct Args {
    /// The nodes' client addresses, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    nodes: Vec<SocketAddr>,
    /// How long one command may keep retrying, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// A command and its arguments (without one: an interactive prompt).
    command: Vec<String>,
}

const WRITES: &[&str] = &["set", "del", "incr", "incrby", "decr", "mset", "cas"];

fn run(client: &mut Client, words: &[String]) -> String {
    let args: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
    let is_write = WRITES.contains(&words[0].to_lowercase().as_str());
    let r = if is_write {
        client.write(&args)
    } else {
        client.read(&args)
    };
    match r {
        Ok(v) => show(&v),
        Err(e) => format!("(error) {e}"),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Simple(s) => s.clone(),
        Value::Error(e) => format!("(error) {e}"),
        Value::Integer(n) => format!("(integer) {n}"),
        Value::Bulk(None) | Value::Array(None) | Value::Null => "(nil)".into(),
        Value::Double(t) => format!("(double) {t}"),
        Value::BigNumber(t) => format!("(big number) {t}"),
        Value::Boolean(b) => format!("({b})"),
        Value::Verbatim(_, t) => format!("\"{}\"", String::from_utf8_lossy(t)),
        Value::Map(pairs) => show(&Value::Array(Some(
            pairs
                .iter()
                .flat_map(|(k, v)| [k.clone(), v.clone()])
                .collect(),
        ))),
        Value::Set(items) | Value::Push(items) => show(&Value::Array(Some(items.clone()))),
        Value::Bulk(Some(b)) => format!("\"{}\"", String::from_utf8_lossy(b)),
        Value::Array(Some(items)) if items.is_empty() => "(empty array)".into(),
        Value::Array(Some(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{}) {}", i + 1, show(v)))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut client = Client::new(args.nodes.clone(), Duration::from_millis(args.timeout_ms));
    if !args.command.is_empty() {
        let out = run(&mut client, &args.command);
        println!("{out}");
        return if out.starts_with("(error)") {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        };
    }
    let stdin = std::io::stdin();
    loop {
        print!("kv> ");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => return ExitCode::SUCCESS,
            Ok(_) => {}
        }
        let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        match words.first().map(|w| w.to_lowercase()) {
            None => continue,
            Some(w) if w == "quit" || w == "exit" => return ExitCode::SUCCESS,
            Some(_) => println!("{}", run(&mut client, &words)),
        }
    }
}
