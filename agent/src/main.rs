//! `panier`: the Panier box's agent (`panier agent`) and its command-line tool (every other
//! subcommand). See ARCHITECTURE.md for the map of modules.

use clap::Parser;
use panier::cli::{self, Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Agent(args) => {
            // glibc raises its mmap threshold after a large block is freed, so argon2's 19 MiB
            // working memory would stay in the heap after each login. A fixed threshold keeps
            // large blocks in mmap, returned to the system when freed (idle memory matters on
            // a 4 GB box).
            // SAFETY: mallopt only changes allocator tuning; called before any thread starts.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
            }
            panier::logging::init();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            match runtime.block_on(panier::daemon::run(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    log::error!("{e:#}");
                    eprintln!("panier: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Hw(args) => hw_exit(panier_hw::cli::run(args)),
        Command::Flash(args) => hw_exit(panier_hw::cli::run_flash(args)),
        command => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            match runtime.block_on(cli::run(command)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("panier: {e}");
                    ExitCode::from(e.exit_code())
                }
            }
        }
    }
}

/// The hardware tools work without the daemon (as root, also from the install USB stick).
fn hw_exit(result: Result<ExitCode, panier_hw::cli::CliError>) -> ExitCode {
    result.unwrap_or_else(|e| {
        eprintln!("panier: {e}");
        ExitCode::FAILURE
    })
}
