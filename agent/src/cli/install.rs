//! `panier install`: install mode from the command line, through the daemon's socket API
//! (the same routes as the setup wizard's install page).
//!
//! Without `--target`: whether install mode is offered, the internal disks (with the serial
//! to type) and the last install. With `--target`: starts the install (the serial given
//! with `--yes-i-know`, or typed on a terminal; the new box's name with `--name`), and with
//! `--follow` prints its progress lines until it ends, then the new box's name, setup code and
//! sheet.

use super::{CliError, Client, JsonArg, SocketArg, print_json};
use hyper::Method;
use serde_json::{Value, json};
use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The internal disk to install onto (/dev/nvme0n1, /dev/sda…); without it, list them.
    #[arg(long, value_name = "DEV")]
    target: Option<String>,
    /// Confirm without a prompt by giving the target's serial number: it is erased.
    #[arg(long, value_name = "SERIAL")]
    yes_i_know: Option<String>,
    /// The new box's name (its address becomes http://NAME.local).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Language of the progress lines and of the sheet.
    #[arg(long, value_parser = ["fr", "en"], default_value = "fr")]
    lang: String,
    /// Show the progress until the install ends (exit code 1 if it fails).
    #[arg(long)]
    follow: bool,
    #[command(flatten)]
    socket: SocketArg,
    #[command(flatten)]
    json: JsonArg,
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn print_view(v: &Value) {
    if v["offered"] != true {
        println!(
            "install mode is not offered ({}): the box does not run from a Panier USB stick",
            s(&v["not_offered"])
        );
        return;
    }
    println!("install mode: the system runs from {}", s(&v["source"]));
    for d in v["targets"].as_array().into_iter().flatten() {
        let size = d["size_bytes"].as_u64().unwrap_or(0) as f64 / 1e9;
        let small = if d["too_small"] == true {
            " (too small)"
        } else {
            ""
        };
        println!(
            "  {}  {}  {size:.1} GB  serial {}{small}",
            s(&d["path"]),
            s(&d["model"]),
            s(&d["serial"])
        );
    }
    if let Some(j) = v["job"].as_object() {
        println!(
            "last install: job #{} {} {} {}",
            j["id"],
            s(&j["state"]),
            s(&j["step"]),
            s(&j["message"])
        );
    }
}

fn print_outcome(o: &Value) {
    println!("new box: {}", s(&o["box_name"]));
    println!("setup code: {}", s(&o["setup_code"]));
    println!("sheet: {}", s(&o["sheet"]));
    println!(
        "Remove the USB stick, then restart (`systemctl reboot`): the box starts from {}.",
        s(&o["target"])
    );
}

pub async fn run(args: Args) -> Result<(), CliError> {
    let client: Client = args.socket.client();
    let json = args.json.json;
    let Some(target) = args.target else {
        let v: Value = client.get("/api/v1/install").await?;
        if json {
            print_json(&v)
        } else {
            print_view(&v)
        }
        return Ok(());
    };
    let name = args
        .name
        .ok_or_else(|| CliError::Usage("give the new box's name with --name NAME".into()))?;
    let confirm = match args.yes_i_know {
        Some(serial) => serial,
        None => {
            if !std::io::stdin().is_terminal() {
                return Err(CliError::Usage(format!(
                    "everything on {target} will be erased: confirm with --yes-i-know SERIAL (its serial, see `panier install`)"
                )));
            }
            print!("Everything on {target} will be erased. Type its serial number to confirm: ");
            let _ = std::io::stdout().flush();
            let mut typed = String::new();
            let _ = std::io::stdin().lock().read_line(&mut typed);
            typed.trim().to_owned()
        }
    };
    let body =
        json!({"target": target, "confirm": confirm, "box_name": name, "language": args.lang});
    let (_, bytes) = client
        .call(Method::POST, "/api/v1/install", Some(body))
        .await?;
    let started: Value =
        serde_json::from_slice(&bytes).map_err(|e| CliError::Decode(e.to_string()))?;
    let id = started["job"]
        .as_i64()
        .ok_or_else(|| CliError::Decode("no job id".into()))?;
    if !args.follow {
        if json {
            print_json(&started)
        } else {
            println!("install started: job #{id} (follow it with `panier install`, or --follow)")
        }
        return Ok(());
    }
    let mut shown = 0;
    loop {
        let v: Value = client.get("/api/v1/install").await?;
        let lines = v["lines"].as_array().cloned().unwrap_or_default();
        if !json {
            lines.iter().skip(shown).for_each(|l| println!("{}", s(l)));
        }
        shown = lines.len();
        let job = &v["job"];
        if job["id"].as_i64() != Some(id) {
            return Err(CliError::Decode(format!(
                "the install job #{id} is no longer the box's"
            )));
        }
        match s(&job["state"]) {
            "running" => tokio::time::sleep(Duration::from_millis(500)).await,
            "succeeded" => {
                if json {
                    print_json(&v)
                } else {
                    print_outcome(&v["outcome"])
                }
                return Ok(());
            }
            state => {
                if json {
                    print_json(&v);
                }
                return Err(CliError::JobFailed(format!(
                    "install {state}: {}",
                    s(&job["message"])
                )));
            }
        }
    }
}
