//! The command-line tool: one subcommand group per file, each with an `Args` struct and a
//! `run`. Every command except `agent`, `hw` and `diagnostic clear` is a thin client of the
//! daemon's local socket, so the CLI goes through the same handlers as the UI.

mod admin;
mod app;
mod backup;
mod catalog;
pub mod client;
mod diagnostic;
mod firewall;
mod health;
mod install;
mod log;
mod pack;
mod reach;
mod relay;
mod status;
mod update;

pub use client::{CliError, Client};

use crate::config::{AgentArgs, DEFAULT_SOCKET};
use std::path::PathBuf;

#[derive(Debug, clap::Parser)]
#[command(
    name = "panier",
    version,
    about = "Panier: the self-hosting box's agent and command-line tool"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run the daemon that supervises the box.
    Agent(AgentArgs),
    /// Show the box's status: name, version, readings, health issues.
    Status(status::Args),
    /// The health centre: every check, its state, what it means and what to do.
    Health(health::Args),
    /// Print the one-time setup code (root only).
    SetupCode(status::SetupCodeArgs),
    /// Manage admin accounts.
    Admin(admin::Args),
    /// Show the audit log of admin actions.
    Log(log::Args),
    /// Backups: targets, runs, snapshots, restore, emergency kit.
    Backup(backup::Args),
    /// Leave diagnostic mode after a database problem.
    Diagnostic(diagnostic::Args),
    /// Hardware tools for workshops: probe, check, selftest, wipe, report (no daemon needed).
    Hw(panier_hw::cli::HwArgs),
    /// Write a disk image to a disk and verify it (no daemon needed).
    Flash(panier_hw::cli::FlashArgs),
    /// Services: catalog, install, start, stop, update, remove, logs, status.
    App(app::Args),
    /// Check a service catalog directory (works without the daemon).
    Catalog(catalog::Args),
    /// The firewall: show, explain, reload, change, confirm.
    Firewall(firewall::Args),
    /// Install mode (booted from a Panier USB stick): install onto an internal disk.
    Install(install::Args),
    /// Image packs: make one (workshop), import one, trusted keys, registry mirror.
    Pack(pack::Args),
    /// OS updates: status, check, install, restart, channel.
    Update(update::Args),
    /// Beyond the building: the public domain, public names, certificates (ACME).
    Reach(reach::Args),
    /// The relay on the association's server (WireGuard): join, status, leave, server files.
    Relay(relay::Args),
}

/// The `--socket` option every client command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct SocketArg {
    /// The agent's local API socket.
    #[arg(long, global = true, env = "PANIER_SOCKET", default_value = DEFAULT_SOCKET)]
    pub socket: PathBuf,
}

impl SocketArg {
    pub fn client(&self) -> Client {
        Client::new(&self.socket)
    }
}

/// `--json` for commands that can print machine-readable output.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct JsonArg {
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

pub async fn run(command: Command) -> Result<(), CliError> {
    match command {
        Command::Agent(_) | Command::Hw(_) | Command::Flash(_) => {
            unreachable!("started by main without a runtime")
        }
        Command::Status(args) => status::run(args).await,
        Command::SetupCode(args) => status::run_setup_code(args).await,
        Command::Health(args) => health::run(args).await,
        Command::Admin(args) => admin::run(args).await,
        Command::Log(args) => log::run(args).await,
        Command::Backup(args) => backup::run(args).await,
        Command::Diagnostic(args) => diagnostic::run(args),
        Command::App(args) => app::run(args).await,
        Command::Catalog(args) => catalog::run(args).await,
        Command::Firewall(args) => firewall::run(args).await,
        Command::Install(args) => install::run(args).await,
        Command::Pack(args) => pack::run(args).await,
        Command::Update(args) => update::run(args).await,
        Command::Reach(args) => reach::run(args).await,
        Command::Relay(args) => relay::run(args).await,
    }
}

pub fn print_json(value: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON serializes")
    );
}
