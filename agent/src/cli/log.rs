//! `panier log [--follow] [--json]`: the audit log.

use super::{CliError, JsonArg, SocketArg};
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    socket: SocketArg,
    #[command(flatten)]
    json: JsonArg,
    /// Keep printing new entries as they come.
    #[arg(long, short)]
    follow: bool,
    /// How many of the latest entries to show first.
    #[arg(long, short = 'n', default_value_t = 50)]
    lines: u32,
}

pub async fn run(args: Args) -> Result<(), CliError> {
    let client = args.socket.client();
    let mut last = 0i64;
    let mut limit = args.lines;
    loop {
        let entries: Vec<serde_json::Value> = client
            .get(&format!("/api/v1/audit?after={last}&limit={limit}"))
            .await?;
        for e in &entries {
            last = last.max(e["id"].as_i64().unwrap_or(0));
            if args.json.json {
                println!("{e}");
            } else {
                let when = e["at"]
                    .as_i64()
                    .map(crate::http::time::format_time)
                    .unwrap_or_default();
                let detail = e["detail"]
                    .as_str()
                    .filter(|d| !d.is_empty())
                    .map(|d| format!(" — {d}"))
                    .unwrap_or_default();
                println!(
                    "{when}  {:<20} {:<18} {:<16} {}{detail}",
                    e["actor"].as_str().unwrap_or(""),
                    e["action"].as_str().unwrap_or(""),
                    e["target"].as_str().unwrap_or(""),
                    e["result"].as_str().unwrap_or("")
                );
            }
        }
        if !args.follow {
            return Ok(());
        }
        limit = 1000;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
