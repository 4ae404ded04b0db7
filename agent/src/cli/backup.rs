//! `panier backup …`: targets, runs, snapshots, restore, kit and status, through the socket.

use super::{CliError, JsonArg, SocketArg, print_json};
use hyper::Method;
use serde_json::{Value, json};

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
    /// Backup targets.
    Target {
        #[command(subcommand)]
        command: TargetSub,
    },
    /// Back up now (all targets, or one), and wait for the end.
    Run {
        #[arg(long)]
        target: Option<String>,
    },
    /// List a target's snapshots.
    List { target: String },
    /// Restore one service to a snapshot (a safety snapshot of its current data is taken first).
    Restore {
        #[arg(long)]
        target: String,
        #[arg(long)]
        app: String,
        snapshot: String,
    },
    /// Print a target's emergency kit (password included); `--confirm` records it as saved.
    Kit {
        target: String,
        #[arg(long)]
        confirm: bool,
    },
    /// Targets, last runs and alerts.
    Status,
    /// Read back a subset of a target's data now.
    Check { target: String },
}

#[derive(Debug, clap::Subcommand)]
enum TargetSub {
    /// Add a target: `--folder PATH`, `--sftp USER@HOST:/PATH [--port N]` or `--rest URL`.
    Add {
        name: String,
        #[arg(long, conflicts_with_all = ["sftp", "rest"])]
        folder: Option<String>,
        #[arg(long, conflicts_with = "rest")]
        sftp: Option<String>,
        #[arg(long, default_value_t = 22)]
        port: u16,
        #[arg(long)]
        rest: Option<String>,
        /// Adopt an existing restic repository: read its password from stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    List,
    /// Forget a target (its data stays where it is).
    Remove {
        name: String,
    },
}

fn location(
    folder: Option<String>,
    sftp: Option<String>,
    port: u16,
    rest: Option<String>,
) -> Result<Value, CliError> {
    if let Some(path) = folder {
        return Ok(json!({"kind": "folder", "path": path}));
    }
    if let Some(s) = sftp {
        let (user, rest) = s
            .split_once('@')
            .ok_or_else(|| CliError::Usage("--sftp wants USER@HOST:/PATH".into()))?;
        let (host, path) = rest
            .split_once(':')
            .ok_or_else(|| CliError::Usage("--sftp wants USER@HOST:/PATH".into()))?;
        return Ok(json!({"kind": "sftp", "user": user, "host": host, "port": port, "path": path}));
    }
    if let Some(url) = rest {
        return Ok(json!({"kind": "rest", "url": url}));
    }
    Err(CliError::Usage(
        "say where: --folder, --sftp or --rest (USB disks are added from the Backups page)".into(),
    ))
}

fn print_kit(kit: &Value) {
    let s = |k: &str| kit[k].as_str().unwrap_or("").to_owned();
    println!("EMERGENCY KIT / KIT DE SECOURS");
    println!("box:       {}", s("box_name"));
    println!("target:    {} ({})", s("target"), s("location"));
    println!("password:  {}", s("password"));
    println!(
        "created:   {}",
        crate::http::time::format_time(kit["created_at"].as_i64().unwrap_or(0))
    );
    println!(
        "with Panier: on a fresh box, setup wizard → \"Restaurer une sauvegarde\" → pick the target → type the password."
    );
    println!(
        "with restic: restic -r {} snapshots",
        s("restic_repository")
    );
    println!(
        "             restic -r {} restore latest --tag part=state --target ./restore",
        s("restic_repository")
    );
    if kit["confirmed"] != true {
        println!(
            "Print or save this kit, then run: panier backup kit {} --confirm",
            s("target")
        );
    }
}

pub async fn run(args: Args) -> Result<(), CliError> {
    let c = args.socket.client();
    let json_out = args.json.json;
    let show = |v: &Value, text: &dyn Fn(&Value)| if json_out { print_json(v) } else { text(v) };
    match args.command {
        Sub::Target {
            command:
                TargetSub::Add {
                    name,
                    folder,
                    sftp,
                    port,
                    rest,
                    password_stdin,
                },
        } => {
            let mut password = None;
            if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .map_err(|e| CliError::Usage(format!("reading the password: {e}")))?;
                password = Some(line.trim_end_matches(['\r', '\n']).to_owned());
            }
            let body = json!({"name": name, "location": location(folder, sftp, port, rest)?, "password": password});
            let (_, bytes) = c
                .call(Method::POST, "/api/v1/backup/targets", Some(body))
                .await?;
            let kit: Value =
                serde_json::from_slice(&bytes).map_err(|e| CliError::Decode(e.to_string()))?;
            show(&kit, &print_kit);
        }
        Sub::Target {
            command: TargetSub::List,
        } => {
            let list: Value = c.get("/api/v1/backup/targets").await?;
            show(&list, &|l| {
                for t in l.as_array().into_iter().flatten() {
                    let last = t["last_ok_at"]
                        .as_i64()
                        .map(crate::http::time::format_time)
                        .unwrap_or_else(|| "never".into());
                    println!(
                        "{}\t{}\tlast good: {last}\tkit: {}",
                        t["name"].as_str().unwrap_or(""),
                        t["description"].as_str().unwrap_or(""),
                        if t["kit_confirmed"] == true {
                            "confirmed"
                        } else {
                            "NOT CONFIRMED"
                        }
                    );
                }
            });
        }
        Sub::Target {
            command: TargetSub::Remove { name },
        } => {
            c.send(
                Method::DELETE,
                &format!("/api/v1/backup/targets/{name}"),
                json!({}),
            )
            .await?
        }
        Sub::Run { target } => {
            let (_, bytes) = c
                .call(
                    Method::POST,
                    "/api/v1/backup/run",
                    Some(json!({"target": target, "wait": true})),
                )
                .await?;
            let reports: Value =
                serde_json::from_slice(&bytes).map_err(|e| CliError::Decode(e.to_string()))?;
            show(&reports, &|r| {
                for r in r.as_array().into_iter().flatten() {
                    if r["ok"] == true {
                        println!(
                            "{}: ok, {} files, {} bytes added, restic peak {} KiB",
                            r["target"].as_str().unwrap_or(""),
                            r["files"],
                            r["bytes_added"],
                            r["peak_rss_kib"]
                        );
                    } else {
                        println!(
                            "{}: FAILED ({}): {}",
                            r["target"].as_str().unwrap_or(""),
                            r["error_key"].as_str().unwrap_or(""),
                            r["error"].as_str().unwrap_or("")
                        );
                    }
                }
            });
            if reports
                .as_array()
                .is_some_and(|a| a.iter().any(|r| r["ok"] != true))
            {
                return Err(CliError::Api {
                    status: hyper::StatusCode::OK,
                    key: "backup_failed".into(),
                    message: "a backup failed".into(),
                    detail: None,
                });
            }
        }
        Sub::List { target } => {
            let list: Value = c
                .get(&format!("/api/v1/backup/targets/{target}/snapshots"))
                .await?;
            show(&list, &|l| {
                for s in l.as_array().into_iter().flatten() {
                    let tags: Vec<&str> = s["tags"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|t| t.as_str())
                        .filter(|t| {
                            t.starts_with("app=")
                                || t.starts_with("part=")
                                || t.starts_with("reason=")
                        })
                        .collect();
                    println!(
                        "{}\t{}\t{}",
                        s["short_id"].as_str().unwrap_or(""),
                        s["time"].as_str().unwrap_or("").get(..19).unwrap_or(""),
                        tags.join(" ")
                    );
                }
            });
        }
        Sub::Restore {
            target,
            app,
            snapshot,
        } => {
            c.send(
                Method::POST,
                "/api/v1/backup/restore",
                json!({"target": target, "app": app, "snapshot": snapshot}),
            )
            .await?;
            println!("{app} restored to {snapshot} and restarted");
        }
        Sub::Kit { target, confirm } => {
            if confirm {
                c.send(
                    Method::POST,
                    &format!("/api/v1/backup/targets/{target}/kit/confirm"),
                    json!({}),
                )
                .await?;
            }
            let kit: Value = c
                .get(&format!("/api/v1/backup/targets/{target}/kit"))
                .await?;
            show(&kit, &print_kit);
        }
        Sub::Status => {
            let st: Value = c.get("/api/v1/backup/status").await?;
            show(&st, &|st| {
                println!(
                    "nightly at {}:00; {}",
                    st["hour"],
                    if st["running"] == true {
                        "a backup is running"
                    } else {
                        "idle"
                    }
                );
                for t in st["targets"].as_array().into_iter().flatten() {
                    let last = t["last_ok_at"]
                        .as_i64()
                        .map(crate::http::time::format_time)
                        .unwrap_or_else(|| "never".into());
                    println!(
                        "target {}: {} — last good {last}",
                        t["name"].as_str().unwrap_or(""),
                        t["description"].as_str().unwrap_or("")
                    );
                }
                for a in st["alerts"].as_array().into_iter().flatten() {
                    println!(
                        "ALERT {} on {}",
                        a["key"].as_str().unwrap_or(""),
                        a["target"].as_str().unwrap_or("")
                    );
                }
            });
        }
        Sub::Check { target } => {
            c.send(
                Method::POST,
                "/api/v1/backup/check",
                json!({"target": target}),
            )
            .await?;
            println!("{target}: data check passed");
        }
    }
    Ok(())
}
