//! `panier pack`: image packs. `create` and `key new` work without the daemon (a workshop's
//! machine with a container engine and internet); the others are clients of the box's agent.

use super::app::started;
use super::{CliError, JsonArg, SocketArg, print_json};
use crate::catalog::{AppId, Catalog};
use hyper::Method;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

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
    /// Make a signed pack of these services' images (needs a container engine that can
    /// reach the registries; no daemon).
    Create {
        #[arg(required = true)]
        ids: Vec<String>,
        /// A new or empty folder (on the USB stick, say /media/stick/panier-pack).
        #[arg(long)]
        out: PathBuf,
        /// The secret key that signs it (from `panier pack key new`, or `minisign -G`).
        #[arg(long)]
        key: PathBuf,
        /// Read the secret key's password from standard input (for an encrypted key).
        #[arg(long)]
        password_stdin: bool,
        /// The container engine's socket.
        #[arg(long, default_value = "unix:///run/docker.sock")]
        engine: String,
        /// The service catalog (one folder per service).
        #[arg(long, default_value = crate::config::DEFAULT_CATALOG)]
        catalog: PathBuf,
        /// Use the images the engine holds already instead of pulling them.
        #[arg(long)]
        local: bool,
    },
    /// Keys: make a workshop's key pair, or manage the keys the box trusts for packs.
    Key {
        #[command(subcommand)]
        command: KeySub,
    },
    /// The packs on plugged USB sticks, what imported packs brought, the trusted keys.
    List,
    /// Import a pack: load its images (each verified) so that its services install and
    /// update without internet.
    Import {
        dir: PathBuf,
        #[arg(long)]
        follow: bool,
    },
    /// Update an installed service to the version a pack carries.
    Update {
        id: String,
        dir: PathBuf,
        #[arg(long)]
        follow: bool,
    },
    /// Set the registry mirror the container engine asks first (no URL: none).
    Mirror { url: Option<String> },
}

#[derive(Debug, clap::Subcommand)]
enum KeySub {
    /// Make a key pair: FILE (secret, keep it safe) and FILE.pub (give it to the boxes).
    New {
        file: PathBuf,
    },
    /// Trust a public key for packs on this box.
    Add {
        name: String,
        file: PathBuf,
    },
    List,
    /// Stop trusting an enrolled key (by its id).
    Remove {
        id: String,
    },
}

/// A folder as the agent needs it: absolute.
pub fn absolute(dir: &Path) -> Result<String, CliError> {
    std::path::absolute(dir)
        .map(|p| p.display().to_string())
        .map_err(|e| CliError::Usage(format!("{}: {e}", dir.display())))
}

pub async fn run(args: Args) -> Result<(), CliError> {
    let client = args.socket.client();
    let json = args.json.json;
    match args.command {
        Sub::Create {
            ids,
            out,
            key,
            password_stdin,
            engine,
            catalog,
            local,
        } => create(ids, &out, &key, password_stdin, &engine, &catalog, local).await,
        Sub::Key { command } => match command {
            KeySub::New { file } => new_key(&file),
            KeySub::Add { name, file } => {
                let public = std::fs::read_to_string(&file)
                    .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
                let body = json!({"name": name, "public_key": public});
                let key = call_json(&client, Method::POST, "/api/v1/packs/keys", body).await?;
                if json {
                    print_json(&key);
                } else {
                    println!(
                        "trusted for packs: {} ({})",
                        key["key"]["id"].as_str().unwrap_or(""),
                        name
                    );
                }
                Ok(())
            }
            KeySub::List => {
                let keys: Value = client.get("/api/v1/packs/keys").await?;
                if json {
                    print_json(&keys);
                } else {
                    for k in keys.as_array().into_iter().flatten() {
                        println!(
                            "{}  {}  ({})",
                            k["key"]["id"].as_str().unwrap_or(""),
                            k["name"].as_str().unwrap_or(""),
                            k["origin"]["kind"].as_str().unwrap_or("")
                        );
                    }
                }
                Ok(())
            }
            KeySub::Remove { id } => {
                client
                    .call(Method::DELETE, &format!("/api/v1/packs/keys/{id}"), None)
                    .await?;
                println!("no longer trusted: {id}");
                Ok(())
            }
        },
        Sub::List => {
            let view: Value = client.get("/api/v1/packs").await?;
            if json {
                print_json(&view);
                return Ok(());
            }
            let sticks = view["sticks"].as_array().cloned().unwrap_or_default();
            if sticks.is_empty() {
                println!("no pack on a plugged USB stick");
            }
            for s in sticks {
                let services: Vec<String> = s["services"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|x| {
                        format!(
                            "{} {}",
                            x["id"].as_str().unwrap_or(""),
                            x["version"].as_str().unwrap_or("")
                        )
                    })
                    .collect();
                match s["usable"].as_bool() {
                    Some(true) => println!(
                        "{} ({}): {} — {} MB, signed by {}",
                        s["dir"].as_str().unwrap_or(""),
                        s["device"].as_str().unwrap_or(""),
                        services.join(", "),
                        s["images_bytes"].as_u64().unwrap_or(0) / 1_000_000,
                        s["signer"].as_str().unwrap_or("")
                    ),
                    _ => println!(
                        "{} ({}): refused: {}",
                        s["dir"].as_str().unwrap_or(""),
                        s["device"].as_str().unwrap_or(""),
                        s["problem"].as_str().unwrap_or("")
                    ),
                }
            }
            for i in view["imported"].as_array().into_iter().flatten() {
                println!(
                    "imported: {} {}",
                    i["id"].as_str().unwrap_or(""),
                    i["version"].as_str().unwrap_or("")
                );
            }
            Ok(())
        }
        Sub::Import { dir, follow } => {
            let body = json!({"dir": absolute(&dir)?});
            started(
                &client,
                Method::POST,
                "/api/v1/packs/import",
                Some(body),
                follow,
                json,
            )
            .await
        }
        Sub::Update { id, dir, follow } => {
            let body = json!({"app": id, "dir": absolute(&dir)?});
            started(
                &client,
                Method::POST,
                "/api/v1/packs/update",
                Some(body),
                follow,
                json,
            )
            .await
        }
        Sub::Mirror { url } => {
            let body = json!({"url": url.unwrap_or_default()});
            let set = call_json(&client, Method::PUT, "/api/v1/packs/mirror", body).await?;
            match set["url"].as_str() {
                Some("") | None => println!("no registry mirror"),
                Some(u) => println!("registry mirror: {u}"),
            }
            Ok(())
        }
    }
}

async fn call_json(
    client: &super::Client,
    method: Method,
    path: &str,
    body: Value,
) -> Result<Value, CliError> {
    let (_, bytes) = client.call(method, path, Some(body)).await?;
    serde_json::from_slice(&bytes).map_err(|e| CliError::Decode(e.to_string()))
}

fn new_key(file: &Path) -> Result<(), CliError> {
    let public_file = PathBuf::from(format!("{}.pub", file.display()));
    if file.exists() || public_file.exists() {
        return Err(CliError::Usage(format!(
            "{} or {} exists already: not overwritten",
            file.display(),
            public_file.display()
        )));
    }
    let comment = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "panier".into());
    let (secret, public) = crate::signing::keyring::generate(&format!("panier pack key {comment}"))
        .map_err(|e| CliError::Invalid(e.to_string()))?;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .and_then(|mut f| f.write_all(secret.as_bytes()))
        .map_err(|e| CliError::Invalid(format!("{}: {e}", file.display())))?;
    std::fs::write(
        &public_file,
        public.to_file(&format!("minisign public key {}", public.id)),
    )
    .map_err(|e| CliError::Invalid(format!("{}: {e}", public_file.display())))?;
    println!(
        "key {}: secret in {} (keep it safe), public in {} (add it to the boxes: panier pack key add NAME {})",
        public.id,
        file.display(),
        public_file.display(),
        public_file.display()
    );
    Ok(())
}

async fn create(
    ids: Vec<String>,
    out: &Path,
    key: &Path,
    password_stdin: bool,
    engine: &str,
    catalog_dir: &Path,
    local: bool,
) -> Result<(), CliError> {
    let services = ids
        .iter()
        .map(|i| AppId::parse(i).map_err(|e| CliError::Usage(e.message)))
        .collect::<Result<Vec<_>, _>>()?;
    let catalog = Catalog::load(catalog_dir).map_err(|errors| {
        CliError::Invalid(
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })?;
    let secret = std::fs::read_to_string(key)
        .map_err(|e| CliError::Usage(format!("{}: {e}", key.display())))?;
    let password = if password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| CliError::Usage(e.to_string()))?;
        Some(line.trim_end_matches(['\r', '\n']).to_owned())
    } else {
        None
    };
    let engine = crate::engine::docker::DockerEngine::new(engine)
        .map_err(|e| CliError::Invalid(e.to_string()))?;
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let request = crate::pack::create::Request {
        catalog: &catalog,
        services: &services,
        out,
        secret_key: &secret,
        password,
        created_by: format!("panier {} on {host}", env!("CARGO_PKG_VERSION")),
        local,
    };
    let t = crate::i18n::messages(crate::names::Language::En);
    crate::pack::create::create(&engine, request, &|line| println!("{line}"))
        .await
        .map(|_| ())
        .map_err(|e| CliError::Invalid(e.describe(t)))
}
