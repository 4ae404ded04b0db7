//! `panier diagnostic clear`: leaves diagnostic mode. Works on the data directory directly
//! (the daemon may be the thing that cannot start), so it needs root on the box.

use super::CliError;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Forget the recorded problem; the next start opens (or creates) panier.db.
    Clear {
        #[arg(long, default_value = "/var/lib/panier")]
        data_dir: PathBuf,
    },
}

pub fn run(args: Args) -> Result<(), CliError> {
    match args.command {
        Sub::Clear { data_dir } => {
            let cleared =
                crate::diagnostic::clear(&data_dir).map_err(|e| CliError::Usage(e.to_string()))?;
            if cleared {
                println!(
                    "diagnostic mode cleared; restart the agent (systemctl restart panier). Files kept aside stay in {}/kept-aside.",
                    data_dir.display()
                );
            } else {
                println!(
                    "the agent is not in diagnostic mode ({} has no record)",
                    data_dir.display()
                );
            }
            Ok(())
        }
    }
}
