//! `panier update`: OS updates from the command line, through the same API routes as the
//! Update page: `status`, `check`, `install [--version V] [--at HOUR] [--follow] [--usb UUID]`,
//! `usb`, `restart`, `channel [URL | --default]`.

use super::{CliError, JsonArg, SocketArg, print_json};
use hyper::Method;
use serde_json::{Value, json};
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    socket: SocketArg,
    #[command(flatten)]
    json: JsonArg,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// The running and offered versions, the last check, the latest installation.
    Status,
    /// Check the update channel now.
    Check,
    /// Install the offered system into the other slot, then restart into it.
    Install {
        /// The version you expect (refused if the offer is another one).
        #[arg(long)]
        version: Option<String>,
        /// Restart at this hour (0-23) instead of as soon as it is installed.
        #[arg(long, value_name = "HOUR")]
        at: Option<u8>,
        /// Show the progress until the system is installed (exit code 1 if it fails).
        #[arg(long)]
        follow: bool,
        /// Install the update on this USB stick (its file-system UUID, from `panier update
        /// usb`) instead of the channel's.
        #[arg(long, value_name = "UUID")]
        usb: Option<String>,
    },
    /// The updates on the USB sticks plugged in now, checked with the release key.
    Usb,
    /// Restart into the installed system now.
    Restart,
    /// Set the channel's index address (an HTTPS URL), or go back to the configuration's.
    Channel {
        url: Option<String>,
        #[arg(long, conflicts_with = "url")]
        default: bool,
    },
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn when(secs: &Value) -> String {
    secs.as_i64()
        .map(crate::http::time::format_time)
        .unwrap_or_else(|| "never".into())
}

fn print_status(v: &Value) {
    match v["running"].as_str() {
        Some(r) => println!("running system: {r} (slot {})", s(&v["booted_slot"])),
        None => println!("this machine is not a Panier system: nothing to update"),
    }
    println!("channel: {}", v["channel"].as_str().unwrap_or("(none)"));
    println!(
        "last check: {}; last valid index: {}",
        when(&v["checked_at"]),
        when(&v["accepted_at"])
    );
    if let Some(e) = v["check_error"].as_object() {
        println!(
            "  the last check failed: {} ({})",
            s(&e["en"]),
            s(&e["key"])
        );
    }
    if v["stale"] == true {
        println!("  WARNING: no valid update index for a while: updates may be held back");
    }
    match s(&v["offer"]["kind"]) {
        "available" => {
            let r = &v["offer"]["release"];
            println!(
                "available: {} ({} MB)",
                s(&r["version"]),
                r["size"].as_u64().unwrap_or(0) / 1_000_000
            );
            if v["offer"]["stepping_stone"] == true {
                println!("  (a step: newer releases need this one first)");
            }
            println!("  {}", s(&r["notes"]["en"]).replace('\n', "\n  "));
        }
        "up_to_date" => println!("up to date"),
        "blocked" => println!(
            "{} is out, but needs {} first: install that one from a USB stick",
            s(&v["offer"]["latest"]),
            s(&v["offer"]["min_from"])
        ),
        _ => println!("no valid index: check the channel"),
    }
    if let Some(a) = v["attempt"].as_object() {
        let progress = match (a.get("step").and_then(Value::as_str), a.get("percent")) {
            (Some(step), Some(p)) if !step.is_empty() => format!(" — {step} {p} %"),
            _ => String::new(),
        };
        println!(
            "latest installation: {} → {}: {}{progress}",
            s(&a["from_version"]),
            s(&a["version"]),
            s(&a["state"])
        );
        if let Some(e) = a.get("error").and_then(Value::as_object) {
            println!("  {}", s(&e["en"]));
        }
        if let Some(log) = a.get("boot_log").and_then(Value::as_str) {
            println!(
                "  what the failed start logged:\n    {}",
                log.replace('\n', "\n    ")
            );
        }
        if a.get("state").and_then(Value::as_str) == Some("installed") {
            println!("  restart planned: {}", when(&a["reboot_at"]));
        }
    }
}

pub async fn run(args: Args) -> Result<(), CliError> {
    let client = args.socket.client();
    let status = match args.command {
        Command::Status => client.get::<Value>("/api/v1/update").await?,
        Command::Check => {
            let (_, body) = client
                .call(Method::POST, "/api/v1/update/check", Some(json!({})))
                .await?;
            serde_json::from_slice(&body).map_err(|e| CliError::Decode(e.to_string()))?
        }
        Command::Install {
            version,
            at,
            follow,
            usb,
        } => {
            let mut body = match at {
                Some(h) => json!({"restart": "at", "hour": h}),
                None => json!({"restart": "now"}),
            };
            if let Some(v) = version {
                body["version"] = v.into();
            }
            let path = match usb {
                Some(uuid) => {
                    body["uuid"] = uuid.into();
                    "/api/v1/update/usb/install"
                }
                None => "/api/v1/update/install",
            };
            client.send(Method::POST, path, body).await?;
            if !follow {
                println!("installation started; follow it with `panier update status`");
                return Ok(());
            }
            follow_install(&client).await?
        }
        Command::Usb => {
            let found: Value = client.get("/api/v1/update/usb").await?;
            if args.json.json {
                print_json(&found);
                return Ok(());
            }
            let sticks = found.as_array().cloned().unwrap_or_default();
            if sticks.is_empty() {
                println!("no update on the plugged USB sticks");
            }
            for u in sticks {
                let name = format!("{} ({})", s(&u["device"]), s(&u["uuid"]));
                match (u["problem"].as_object(), s(&u["offer"]["kind"])) {
                    (Some(p), _) => println!("{name}: refused: {}", s(&p["en"])),
                    (None, "available") => println!(
                        "{name}: {} (panier update install --usb {})",
                        s(&u["offer"]["release"]["version"]),
                        s(&u["uuid"])
                    ),
                    (None, kind) => println!("{name}: nothing newer ({kind})"),
                }
            }
            return Ok(());
        }
        Command::Restart => {
            client
                .send(Method::POST, "/api/v1/update/restart", json!({}))
                .await?;
            println!("restarting into the new system");
            return Ok(());
        }
        Command::Channel { url, default } => {
            let current: Value = client.get("/api/v1/update").await?;
            let channel = if default { None } else { url.clone() };
            if url.is_none() && !default {
                println!("{}", current["channel"].as_str().unwrap_or("(none)"));
                return Ok(());
            }
            let body = json!({"channel": channel, "restart_hour": current["restart_hour"]});
            let (_, body) = client
                .call(Method::PUT, "/api/v1/update/settings", Some(body))
                .await?;
            serde_json::from_slice(&body).map_err(|e| CliError::Decode(e.to_string()))?
        }
    };
    if args.json.json {
        print_json(&status);
    } else {
        print_status(&status);
    }
    Ok(())
}

/// Prints the job's steps until the attempt is installed or failed.
async fn follow_install(client: &super::Client) -> Result<Value, CliError> {
    let mut last = String::new();
    loop {
        let v: Value = client.get("/api/v1/update").await?;
        let a = &v["attempt"];
        let line = format!("{} {} %", s(&a["step"]), a["percent"].as_i64().unwrap_or(0));
        if line != last && !s(&a["step"]).is_empty() {
            eprintln!("{line}");
            last = line;
        }
        match s(&a["state"]) {
            "downloading" | "installing" => {}
            "failed" => return Err(CliError::JobFailed(s(&a["error"]["en"]).to_owned())),
            _ => return Ok(v),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
