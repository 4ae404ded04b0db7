//! `panier reach status|domain|name|acme`: the box's public domain, services' public names
//! and how their certificate is obtained; a thin client of `/api/v1/reach`.

use super::{CliError, JsonArg, SocketArg, print_json};
use hyper::Method;
use serde_json::json;
use std::path::PathBuf;

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
    /// The domain, each service's public name, the certificate and its last attempt.
    Status,
    /// The box's public domain.
    #[command(subcommand)]
    Domain(Domain),
    /// A service's public name: `panier reach name pad notes.example.org`, or `--default`.
    Name {
        app: String,
        host: Option<String>,
        /// Back to `<service>.<domain>`.
        #[arg(long, conflicts_with = "host")]
        default: bool,
    },
    /// How certificates are obtained (ACME).
    Acme(Acme),
    /// Check every public name as a visitor would: DNS, ports 80 and 443, certificate.
    Diagnose {
        /// fr or en.
        #[arg(long, default_value = "fr", value_parser = ["fr", "en"])]
        lang: String,
    },
}

#[derive(Debug, clap::Subcommand)]
enum Domain {
    /// Give the box a domain: each service becomes `<service>.<domain>`.
    Set { domain: String },
    /// Remove the domain (services are reached by their local names only).
    Clear,
}

#[derive(Debug, clap::Args)]
struct Acme {
    /// The ACME directory (default Let's Encrypt's).
    #[arg(long)]
    directory: Option<String>,
    /// The e-mail address the authority writes to about expiring certificates.
    #[arg(long)]
    contact: Option<String>,
    /// http-01 (the box answers on port 80) or dns-01 (RFC 2136 updates).
    #[arg(long, value_parser = ["http-01", "dns-01"])]
    challenge: Option<String>,
    /// The DNS server taking updates, host:port.
    #[arg(long)]
    dns_server: Option<String>,
    /// The zone to update (default: the domain).
    #[arg(long)]
    dns_zone: Option<String>,
    /// The TSIG key's name.
    #[arg(long)]
    tsig_name: Option<String>,
    /// hmac-sha256 (default), hmac-sha512, …
    #[arg(long)]
    tsig_algorithm: Option<String>,
    /// A file holding the TSIG secret in base64 (never given on the command line).
    #[arg(long)]
    tsig_secret_file: Option<PathBuf>,
}

pub async fn run(args: Args) -> Result<(), CliError> {
    let client = args.socket.client();
    match args.command {
        Sub::Status => {
            let v: serde_json::Value = client.get("/api/v1/reach").await?;
            if args.json.json {
                print_json(&v);
                return Ok(());
            }
            print_status(&v);
        }
        Sub::Domain(d) => {
            let name = match d {
                Domain::Set { domain } => Some(domain),
                Domain::Clear => None,
            };
            client
                .send(Method::PUT, "/api/v1/reach/domain", json!({ "name": name }))
                .await?;
            match name {
                Some(n) => println!("public domain set: services are now <service>.{n}"),
                None => println!("public domain removed"),
            }
        }
        Sub::Name { app, host, default } => {
            if host.is_none() && !default {
                return Err(CliError::Usage("give a name, or --default".into()));
            }
            client
                .send(
                    Method::PUT,
                    &format!("/api/v1/reach/names/{app}"),
                    json!({ "name": host }),
                )
                .await?;
            println!("public name of {app} changed");
        }
        Sub::Acme(a) => {
            let secret = match &a.tsig_secret_file {
                Some(path) => Some(
                    std::fs::read_to_string(path)
                        .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?
                        .trim()
                        .to_owned(),
                ),
                None => None,
            };
            let body = json!({
                "directory": a.directory,
                "contact": a.contact,
                "challenge": a.challenge,
                "dns_server": a.dns_server,
                "dns_zone": a.dns_zone,
                "tsig_name": a.tsig_name,
                "tsig_algorithm": a.tsig_algorithm,
                "tsig_secret": secret,
            });
            client.send(Method::PUT, "/api/v1/reach/acme", body).await?;
            println!("certificate settings changed");
        }
        Sub::Diagnose { lang } => {
            let findings: Vec<serde_json::Value> = client.get("/api/v1/reach/diagnosis").await?;
            if args.json.json {
                print_json(&findings);
                return Ok(());
            }
            let failures = findings.iter().filter(|f| f["ok"] != true).count();
            for f in &findings {
                let host = f["host"].as_str().unwrap_or("");
                let check = f["check"].as_str().unwrap_or("");
                match f["message"][lang.as_str()].as_str() {
                    Some(m) if f["ok"] != true => println!("✘ {host} {check}: {m}"),
                    _ => println!("✔ {host} {check}: {}", f["detail"].as_str().unwrap_or("")),
                }
            }
            if failures > 0 {
                return Err(CliError::Invalid(format!("{failures} check(s) failed")));
            }
        }
    }
    Ok(())
}

fn print_status(v: &serde_json::Value) {
    let Some(domain) = v["domain"].as_str() else {
        println!("No public domain: services are reached on the local network only.");
        println!("Give one with `panier reach domain set biblio.example.org`.");
        return;
    };
    println!("Public domain: {domain}");
    println!(
        "Certificates: {} from {}",
        v["challenge"].as_str().unwrap_or(""),
        v["directory"].as_str().unwrap_or("")
    );
    for s in v["services"].as_array().into_iter().flatten() {
        println!(
            "  {:<12} https://{}/{}",
            s["app"].as_str().unwrap_or(""),
            s["host"].as_str().unwrap_or(""),
            if s["chosen"] == true { " (chosen)" } else { "" }
        );
    }
    let time =
        |k: &str, o: &serde_json::Value| crate::http::time::format_time(o[k].as_i64().unwrap_or(0));
    match v["certificate"].as_object() {
        Some(_) => {
            let c = &v["certificate"];
            println!(
                "Certificate: {} until {}, renewed from {}",
                c["names"]
                    .as_array()
                    .map(|n| n
                        .iter()
                        .filter_map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join(", "))
                    .unwrap_or_default(),
                time("not_after", c),
                time("renew_at", c)
            );
        }
        None => println!("Certificate: none yet"),
    }
    if let Some(a) = v["last_attempt"].as_object() {
        if a.get("ok") == Some(&json!(true)) {
            println!(
                "Last attempt: succeeded at {}",
                time("at", &v["last_attempt"])
            );
        } else {
            println!(
                "Last attempt failed at {}: {}",
                time("at", &v["last_attempt"]),
                v["last_attempt"]["message"]["en"].as_str().unwrap_or("")
            );
            println!("  {}", v["last_attempt"]["detail"].as_str().unwrap_or(""));
        }
    }
}
