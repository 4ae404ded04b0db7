//! `panier relay join|status|leave|server-config`: the relay on the association's server; a
//! thin client of `/api/v1/relay`.

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
    /// Join the relay: its WireGuard endpoint (host:port) and public key.
    Join {
        #[arg(long)]
        endpoint: String,
        #[arg(long)]
        relay_key: String,
        /// The box's tunnel address with its prefix (default 10.251.71.2/24).
        #[arg(long)]
        box_address: Option<String>,
        /// The relay's tunnel address (default 10.251.71.1).
        #[arg(long)]
        relay_address: Option<String>,
    },
    /// The relay, the tunnel's state and its last handshake.
    Status,
    /// Leave the relay (the tunnel is removed).
    Leave,
    /// Print the files and steps for the relay's Debian server.
    ServerConfig {
        /// The server's public interface.
        #[arg(long, default_value = "eth0")]
        interface: String,
    },
}

pub async fn run(args: Args) -> Result<(), CliError> {
    let client = args.socket.client();
    match args.command {
        Sub::Join {
            endpoint,
            relay_key,
            box_address,
            relay_address,
        } => {
            let body = json!({"endpoint": endpoint, "relay_key": relay_key,
                "box_address": box_address, "relay_address": relay_address});
            let (_, out) = client
                .call(Method::PUT, "/api/v1/relay", Some(body))
                .await?;
            let v: serde_json::Value =
                serde_json::from_slice(&out).map_err(|e| CliError::Decode(e.to_string()))?;
            if args.json.json {
                print_json(&v);
                return Ok(());
            }
            println!("joined the relay {}", v["endpoint"].as_str().unwrap_or(""));
            println!(
                "the box's public key: {}",
                v["box_public_key"].as_str().unwrap_or("")
            );
            println!("now run `panier relay server-config` and follow its steps on the relay");
        }
        Sub::Status => {
            let v: serde_json::Value = client.get("/api/v1/relay").await?;
            if args.json.json {
                print_json(&v);
                return Ok(());
            }
            println!("Relay: {}", v["endpoint"].as_str().unwrap_or(""));
            println!(
                "Tunnel: {}, the relay {}",
                if v["up"] == true { "up" } else { "down" },
                if v["relay_answers"] == true {
                    "answers"
                } else {
                    "does not answer"
                }
            );
            match v["latest_handshake"].as_i64() {
                Some(t) => println!("Last handshake: {}", crate::http::time::format_time(t)),
                None => println!("Last handshake: never"),
            }
            if let Some(e) = v["last_error"].as_str() {
                println!("Problem: {e}");
            }
        }
        Sub::Leave => {
            client
                .send(Method::DELETE, "/api/v1/relay", json!({}))
                .await?;
            println!("left the relay");
        }
        Sub::ServerConfig { interface } => {
            let v: serde_json::Value = client
                .get(&format!(
                    "/api/v1/relay/server-config?interface={interface}"
                ))
                .await?;
            print!("{}", v["config"].as_str().unwrap_or(""));
        }
    }
    Ok(())
}
