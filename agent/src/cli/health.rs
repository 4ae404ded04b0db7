//! `panier health`: every health check with its state, what it means and what to do, in the
//! box's language, through the same API route as the Health page.

use super::{CliError, JsonArg, SocketArg, print_json};
use serde_json::Value;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    socket: SocketArg,
    #[command(flatten)]
    json: JsonArg,
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

pub async fn run(args: Args) -> Result<(), CliError> {
    let client = args.socket.client();
    let report: Value = client.get("/api/v1/health/checks").await?;
    if args.json.json {
        print_json(&report);
        return Ok(());
    }
    let status: Value = client.get("/api/v1/status").await?;
    let lang = match s(&status["language"]) {
        "en" => "en",
        _ => "fr",
    };
    for c in report["checks"].as_array().into_iter().flatten() {
        let state = s(&c["state"]).to_uppercase();
        println!(
            "[{state:>8}] {}: {}",
            s(&c["title"][lang]),
            s(&c["what"][lang])
        );
        if c["state"] != "ok" {
            println!("{:>11}{}", "", s(&c["fix"][lang]));
        }
    }
    Ok(())
}
