//! `panier firewall show|explain|reload|set|confirm|blocked`: a thin client of the firewall
//! routes. Changes made here come over the local socket, so they need no confirmation.

use super::{CliError, JsonArg, SocketArg, print_json};
use hyper::Method;
use serde_json::json;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
    #[command(flatten)]
    socket: SocketArg,
    #[command(flatten)]
    json: JsonArg,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Print the live table `inet panier` as nft shows it.
    Show,
    /// Say in plain words what is open to whom, and why.
    Explain {
        /// fr or en (default: the box's language).
        #[arg(long)]
        lang: Option<String>,
    },
    /// Generate and apply the whole table again.
    Reload,
    /// Change the policy.
    #[command(subcommand)]
    Set(Set),
    /// Keep a change made over the network (it is undone after 60 s otherwise).
    Confirm,
    /// The latest blocked attempts from the journal.
    Blocked,
}

#[derive(Debug, clap::Subcommand)]
enum Set {
    /// Who may reach a service: closed, lan or outside.
    Service { app: String, exposure: String },
    /// The LAN zone: `auto` (detected) or one or more subnets such as 192.168.1.0/24.
    Lan {
        #[arg(required = true)]
        subnets: Vec<String>,
    },
    /// SSH from the LAN: on or off.
    Ssh {
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
}

pub async fn run(args: Args) -> Result<(), CliError> {
    let client = args.socket.client();
    match args.command {
        Sub::Show => {
            let live: serde_json::Value = client.get("/api/v1/firewall/live").await?;
            match live["table"].as_str() {
                Some(t) => print!("{t}"),
                None => return Err(CliError::Usage(
                    "the table inet panier does not exist right now: run `panier firewall reload`"
                        .into(),
                )),
            }
        }
        Sub::Explain { lang } => {
            let path = match lang {
                Some(l) => format!(
                    "/api/v1/firewall?lang={}",
                    if l == "en" { "en" } else { "fr" }
                ),
                None => "/api/v1/firewall".into(),
            };
            let o: serde_json::Value = client.get(&path).await?;
            if args.json.json {
                print_json(&o);
                return Ok(());
            }
            for line in o["explanation"].as_array().into_iter().flatten() {
                println!("- {}", line.as_str().unwrap_or(""));
            }
            if o["enabled"] == false {
                println!("(firewall off: these rules are not applied)");
            }
            if let Some(at) = o["revert_at"].as_i64() {
                println!(
                    "A change waits for confirmation; it is undone at {} unless `panier firewall confirm`.",
                    crate::http::time::format_time(at)
                );
            }
            if let Some(e) = o["last_error"].as_str() {
                println!("Last application failed: {e}");
            }
        }
        Sub::Reload => {
            let (_, body) = client
                .call(Method::POST, "/api/v1/firewall/reload", Some(json!({})))
                .await?;
            let r: serde_json::Value =
                serde_json::from_slice(&body).map_err(|e| CliError::Decode(e.to_string()))?;
            println!("table inet panier applied ({} rules)", r["rules"]);
        }
        Sub::Set(set) => {
            let (path, body) = match set {
                Set::Service { app, exposure } => (
                    format!("/api/v1/firewall/services/{app}"),
                    json!({"exposure": exposure}),
                ),
                Set::Lan { subnets } if subnets.len() == 1 && subnets[0] == "auto" => {
                    ("/api/v1/firewall/lan".into(), json!({"subnets": null}))
                }
                Set::Lan { subnets } => {
                    ("/api/v1/firewall/lan".into(), json!({"subnets": subnets}))
                }
                Set::Ssh { state } => (
                    "/api/v1/firewall/ssh".into(),
                    json!({"enabled": state == "on"}),
                ),
            };
            client.send(Method::PUT, &path, body).await?;
            println!("firewall changed and applied");
        }
        Sub::Confirm => {
            client
                .send(Method::POST, "/api/v1/firewall/confirm", json!({}))
                .await?;
            println!("change confirmed");
        }
        Sub::Blocked => {
            let list: Vec<serde_json::Value> = client.get("/api/v1/firewall/blocked").await?;
            if args.json.json {
                print_json(&list);
                return Ok(());
            }
            for b in list {
                let port = b["port"]
                    .as_u64()
                    .map(|p| format!(":{p}"))
                    .unwrap_or_default();
                println!(
                    "{}  {} → {}{port} {} (on {})",
                    crate::http::time::format_time(b["at"].as_i64().unwrap_or(0)),
                    b["source"].as_str().unwrap_or(""),
                    b["destination"].as_str().unwrap_or(""),
                    b["protocol"].as_str().unwrap_or(""),
                    b["interface"].as_str().unwrap_or("")
                );
            }
        }
    }
    Ok(())
}
