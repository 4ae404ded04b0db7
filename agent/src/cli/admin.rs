//! `panier admin list|add|passwd|remove`.

use super::{CliError, JsonArg, SocketArg, print_json};
use hyper::Method;
use std::io::BufRead;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    socket: SocketArg,
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// List the admin accounts.
    List(JsonArg),
    /// Add an admin; the password is asked for (or read from stdin with --password-stdin).
    Add(UserArgs),
    /// Set an admin's password (root may reset anyone's).
    Passwd(UserArgs),
    /// Remove an admin (never the last one).
    Remove { username: String },
}

#[derive(Debug, clap::Args)]
struct UserArgs {
    username: String,
    /// Read the password from the first line of standard input (for scripts).
    #[arg(long)]
    password_stdin: bool,
}

pub(super) fn read_password(stdin: bool) -> Result<String, CliError> {
    if stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| CliError::Usage(format!("cannot read the password: {e}")))?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let first = rpassword::prompt_password("Password (at least 10 characters): ")
        .map_err(|e| CliError::Usage(format!("cannot read the password: {e}")))?;
    let second = rpassword::prompt_password("Password (again): ")
        .map_err(|e| CliError::Usage(format!("cannot read the password: {e}")))?;
    if first != second {
        return Err(CliError::Usage("the two passwords are not the same".into()));
    }
    Ok(first)
}

pub async fn run(args: Args) -> Result<(), CliError> {
    let client = args.socket.client();
    match args.command {
        Sub::List(json) => {
            let admins: serde_json::Value = client.get("/api/v1/admins").await?;
            if json.json {
                print_json(&admins);
            } else {
                for a in admins.as_array().into_iter().flatten() {
                    println!("{}", a["username"].as_str().unwrap_or(""));
                }
            }
        }
        Sub::Add(user) => {
            let password = read_password(user.password_stdin)?;
            client
                .send(
                    Method::POST,
                    "/api/v1/admins",
                    serde_json::json!({ "username": user.username, "password": password }),
                )
                .await?;
            println!("admin {} added", user.username);
        }
        Sub::Passwd(user) => {
            let password = read_password(user.password_stdin)?;
            let path = format!("/api/v1/admins/{}/password", user.username);
            client
                .send(Method::PUT, &path, serde_json::json!({ "new": password }))
                .await?;
            println!(
                "password of {} changed; their sessions were closed",
                user.username
            );
        }
        Sub::Remove { username } => {
            client
                .call(Method::DELETE, &format!("/api/v1/admins/{username}"), None)
                .await?;
            println!("admin {username} removed");
        }
    }
    Ok(())
}
