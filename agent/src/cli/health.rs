//! `panier health`: every health check with its state, what it means and what to do, in the
//! box's language, through the same API route as the Health page; `panier health mail
//! show|set|test|remove`: the mail alerts.

use super::{CliError, JsonArg, SocketArg, print_json};
use hyper::Method;
use serde_json::{Value, json};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    socket: SocketArg,
    #[command(flatten)]
    json: JsonArg,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Mail alerts: where new critical issues are mailed (once, then a daily digest).
    Mail {
        #[command(subcommand)]
        command: Mail,
    },
}

#[derive(Debug, clap::Subcommand)]
enum Mail {
    /// The address and relay (never the password).
    Show,
    /// Set the address and the SMTP relay.
    Set {
        /// Who receives the alerts.
        #[arg(long)]
        to: String,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        host: String,
        #[arg(long, default_value_t = 587)]
        port: u16,
        /// starttls, tls or none.
        #[arg(long, default_value = "starttls")]
        security: String,
        #[arg(long)]
        user: Option<String>,
        /// Read the relay's password from the first line of stdin (kept if not given).
        #[arg(long)]
        password_stdin: bool,
        /// A PEM file with the relay's own certificate authority.
        #[arg(long, value_name = "FILE")]
        ca: Option<std::path::PathBuf>,
    },
    /// Send a test mail now.
    Test,
    /// Stop mail alerts.
    Remove,
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

pub async fn run(args: Args) -> Result<(), CliError> {
    let client = args.socket.client();
    if let Some(Command::Mail { command }) = args.command {
        return mail(&client, command, args.json.json).await;
    }
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

async fn mail(client: &super::client::Client, command: Mail, json: bool) -> Result<(), CliError> {
    match command {
        Mail::Show => {
            let v: Value = client.get("/api/v1/notify/mail").await?;
            if json {
                print_json(&v);
            } else if v.is_null() {
                println!("no mail alerts are set (panier health mail set …)");
            } else {
                println!("to:      {}", s(&v["to"]));
                println!(
                    "relay:   {}:{} ({})",
                    s(&v["host"]),
                    v["port"],
                    s(&v["security"])
                );
                if let Some(u) = v["username"].as_str() {
                    println!(
                        "user:    {u} (password {})",
                        if v["password_set"] == true {
                            "set"
                        } else {
                            "not set"
                        }
                    );
                }
                if let Some(e) = v["last_error"].as_str() {
                    println!("the last mail failed: {e}");
                }
            }
        }
        Mail::Set {
            to,
            from,
            host,
            port,
            security,
            user,
            password_stdin,
            ca,
        } => {
            let password = if password_stdin {
                Some(super::admin::read_password(true)?)
            } else {
                None
            };
            let ca_pem = match ca {
                Some(path) => Some(std::fs::read_to_string(&path).map_err(|e| {
                    CliError::Usage(format!("cannot read {}: {e}", path.display()))
                })?),
                None => None,
            };
            let body = json!({"to": to, "from": from, "host": host, "port": port,
                "security": security, "username": user, "password": password, "ca_pem": ca_pem});
            client
                .send(Method::PUT, "/api/v1/notify/mail", body)
                .await?;
            println!("mail alerts go to {to}");
        }
        Mail::Test => {
            client
                .call(Method::POST, "/api/v1/notify/test", None)
                .await?;
            println!("test mail sent");
        }
        Mail::Remove => {
            client
                .call(Method::DELETE, "/api/v1/notify/mail", None)
                .await?;
            println!("mail alerts stopped");
        }
    }
    Ok(())
}
