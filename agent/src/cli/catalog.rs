//! `panier catalog check DIR`: validates a catalog directory without the daemon.

use super::CliError;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Check every service folder of DIR; print each problem (file: field: problem).
    Check { dir: PathBuf },
}

pub fn run(args: Args) -> Result<(), CliError> {
    match args.command {
        Sub::Check { dir } => match crate::catalog::Catalog::load(&dir) {
            Ok(c) => {
                println!("{}: {} services, all valid", dir.display(), c.len());
                Ok(())
            }
            Err(errors) => {
                for e in &errors {
                    eprintln!("{e}");
                }
                Err(CliError::Invalid(format!(
                    "{} problems in {}",
                    errors.len(),
                    dir.display()
                )))
            }
        },
    }
}
