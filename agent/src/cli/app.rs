//! `panier app …`: the catalog and the installed services, through the daemon's socket API.

use super::{CliError, Client, JsonArg, SocketArg, print_json};
use hyper::Method;
use serde_json::Value;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
    #[command(flatten)]
    socket: SocketArg,
    #[command(flatten)]
    json: JsonArg,
}

#[derive(Debug, clap::Args)]
struct Follow {
    /// Show the job's progress until it ends (exit code 1 if it fails).
    #[arg(long)]
    follow: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// The services that can be installed, and whether they fit on this box.
    Catalog,
    /// The installed services and their state.
    List,
    /// Install a service from the catalog.
    Install {
        id: String,
        /// A setting, as key=value (repeat for several).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Install from the image pack in this folder (verified first) instead of pulling.
        #[arg(long, value_name = "DIR")]
        from_pack: Option<std::path::PathBuf>,
        #[command(flatten)]
        follow: Follow,
    },
    Start {
        id: String,
        #[command(flatten)]
        follow: Follow,
    },
    Stop {
        id: String,
        #[command(flatten)]
        follow: Follow,
    },
    Restart {
        id: String,
        #[command(flatten)]
        follow: Follow,
    },
    /// Update a service to the catalog's version.
    Update {
        id: String,
        #[command(flatten)]
        follow: Follow,
    },
    /// Uninstall a service. Its data is kept unless --delete-data (asks to type the id,
    /// or give it with --confirm ID).
    Remove {
        id: String,
        #[arg(long)]
        delete_data: bool,
        #[arg(long, value_name = "ID")]
        confirm: Option<String>,
        #[command(flatten)]
        follow: Follow,
    },
    /// The last lines of a service's logs.
    Logs {
        id: String,
        #[arg(long, default_value_t = 100)]
        tail: usize,
    },
    /// A service's state, containers, health and memory, and its last job.
    Status { id: String },
}

pub async fn run(args: Args) -> Result<(), CliError> {
    let client = args.socket.client();
    let json = args.json.json;
    match args.command {
        Sub::Catalog => {
            let cards: Vec<Value> = client.get("/api/v1/catalog").await?;
            if json {
                print_json(&cards);
                return Ok(());
            }
            for c in cards {
                let fit = if c["fits"] == true {
                    "fits"
                } else {
                    "does not fit"
                };
                let inst = if c["installed"] == true {
                    " [installed]"
                } else {
                    ""
                };
                println!(
                    "{:<14} {:<10} {:<11} {:>5} MiB RAM {:>6} MiB disk  {fit}{inst}  {}",
                    s(&c["id"]),
                    s(&c["version"]),
                    s(&c["category"]),
                    c["memory_mb"],
                    c["disk_mb"],
                    s(&c["name"])
                );
            }
        }
        Sub::List => {
            let list: Vec<Value> = client.get("/api/v1/apps").await?;
            if json {
                print_json(&list);
                return Ok(());
            }
            if list.is_empty() {
                println!("no service installed (see `panier app catalog`)");
            }
            for a in list {
                println!(
                    "{:<14} {:<10} {:<15} {}",
                    s(&a["id"]),
                    s(&a["version"]),
                    s(&a["state"]),
                    s(&a["url"])
                );
            }
        }
        Sub::Install {
            id,
            set,
            from_pack,
            follow,
        } => {
            let mut settings = serde_json::Map::new();
            for kv in set {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| CliError::Usage(format!("--set {kv}: expected key=value")))?;
                settings.insert(k.to_owned(), Value::String(v.to_owned()));
            }
            let mut body = serde_json::json!({"app": id, "settings": settings});
            if let Some(dir) = from_pack {
                body["from_pack"] = Value::String(super::pack::absolute(&dir)?);
            }
            started(
                &client,
                Method::POST,
                "/api/v1/apps",
                Some(body),
                follow.follow,
                json,
            )
            .await?;
        }
        Sub::Start { id, follow } => {
            started(
                &client,
                Method::POST,
                &format!("/api/v1/apps/{id}/start"),
                None,
                follow.follow,
                json,
            )
            .await?
        }
        Sub::Stop { id, follow } => {
            started(
                &client,
                Method::POST,
                &format!("/api/v1/apps/{id}/stop"),
                None,
                follow.follow,
                json,
            )
            .await?
        }
        Sub::Restart { id, follow } => {
            started(
                &client,
                Method::POST,
                &format!("/api/v1/apps/{id}/restart"),
                None,
                follow.follow,
                json,
            )
            .await?
        }
        Sub::Update { id, follow } => {
            started(
                &client,
                Method::POST,
                &format!("/api/v1/apps/{id}/update"),
                None,
                follow.follow,
                json,
            )
            .await?
        }
        Sub::Remove {
            id,
            delete_data,
            confirm,
            follow,
        } => {
            let mut path = format!("/api/v1/apps/{id}");
            if delete_data {
                let confirm = match confirm {
                    Some(c) => c,
                    None => {
                        eprintln!(
                            "This deletes every file and database of '{id}' for good. Type its id to confirm:"
                        );
                        let mut line = String::new();
                        std::io::stdin()
                            .read_line(&mut line)
                            .map_err(|e| CliError::Usage(e.to_string()))?;
                        line.trim().to_owned()
                    }
                };
                path = format!("{path}?delete_data=true&confirm={}", urlencode(&confirm));
            }
            started(&client, Method::DELETE, &path, None, follow.follow, json).await?;
        }
        Sub::Logs { id, tail } => {
            let lines: Vec<String> = client
                .get(&format!("/api/v1/apps/{id}/logs?tail={tail}"))
                .await?;
            if json {
                print_json(&lines);
            } else {
                lines.iter().for_each(|l| println!("{l}"));
            }
        }
        Sub::Status { id } => {
            let a: Value = client.get(&format!("/api/v1/apps/{id}")).await?;
            if json {
                print_json(&a);
                return Ok(());
            }
            println!(
                "{} ({}) version {}: {} (wanted: {})",
                s(&a["name"]),
                s(&a["id"]),
                s(&a["version"]),
                s(&a["state"]),
                s(&a["wanted"])
            );
            if let Some(u) = a["update_to"].as_str() {
                println!("update available: {u}");
            }
            if let Some(u) = a["url"].as_str() {
                println!("address: {u}");
            }
            for c in a["containers"].as_array().into_iter().flatten() {
                let mem = c["memory_bytes"]
                    .as_u64()
                    .map(|b| format!("{} MiB", b >> 20))
                    .unwrap_or_else(|| "—".into());
                let cpu = c["cpu_percent"]
                    .as_f64()
                    .map(|p| format!("{p:.1} %"))
                    .unwrap_or_else(|| "—".into());
                println!(
                    "  {:<12} {:<10} health {:<9} memory {mem} of {} MiB, processor {cpu}",
                    s(&c["name"]),
                    s(&c["status"]),
                    s(&c["health"]),
                    c["memory_limit_bytes"].as_u64().unwrap_or(0) >> 20
                );
            }
            if a["job"].is_object() {
                let j = &a["job"];
                println!(
                    "last job: #{} {} {} {}",
                    j["id"],
                    s(&j["kind"]),
                    s(&j["state"]),
                    s(&j["message"])
                );
            }
        }
    }
    Ok(())
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn urlencode(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Sends a request that starts a job; prints the job id, or follows it to its end.
pub(super) async fn started(
    client: &Client,
    method: Method,
    path: &str,
    body: Option<Value>,
    follow: bool,
    json: bool,
) -> Result<(), CliError> {
    let (_, bytes) = client.call(method, path, body).await?;
    let started: Value =
        serde_json::from_slice(&bytes).map_err(|e| CliError::Decode(e.to_string()))?;
    let id = started["job"]
        .as_i64()
        .ok_or_else(|| CliError::Decode("no job id".into()))?;
    if !follow {
        if json {
            print_json(&started);
        } else {
            println!("job #{id} started (follow it with --follow, or `panier app status`)");
        }
        return Ok(());
    }
    let mut last = String::new();
    loop {
        let job: Value = client.get(&format!("/api/v1/jobs/{id}")).await?;
        let line = format!("{} {}%", s(&job["step"]), job["percent"]);
        if line != last && !json {
            println!("{line}");
            last = line;
        }
        match s(&job["state"]) {
            "running" => tokio::time::sleep(Duration::from_millis(300)).await,
            "succeeded" => {
                if json {
                    print_json(&job);
                } else {
                    println!("done: {} {} succeeded", s(&job["kind"]), s(&job["app"]));
                }
                return Ok(());
            }
            _ => {
                if json {
                    print_json(&job);
                }
                return Err(CliError::JobFailed(format!(
                    "{} {} {}: {}",
                    s(&job["kind"]),
                    s(&job["app"]),
                    s(&job["state"]),
                    s(&job["message"])
                )));
            }
        }
    }
}
