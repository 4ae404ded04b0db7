//! `panier catalog check DIR`: validates a catalog directory without the daemon.
//! `panier catalog pin DIR`: resolves every image tag to its digest through its registry and
//! writes it into the manifests (`catalog::pin`).
//! `panier catalog smoke ID|--all`: the package check of services in a scratch agent
//! (`catalog::smoke`).

use super::{CliError, print_json};
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
    /// Resolve each image tag of DIR's manifests to its digest and write `tag@sha256:…`.
    Pin {
        dir: PathBuf,
        /// Only these services (default: all).
        #[arg(long = "service")]
        services: Vec<String>,
        /// One more certificate authority to trust (a registry with its own).
        #[arg(long)]
        ca: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Prove services end to end in a scratch agent: install, probe, back up, remove, restore,
    /// probe, update from the previous catalog version, probe, clean up.
    Smoke(crate::catalog::smoke::SmokeArgs),
}

pub async fn run(args: Args) -> Result<(), CliError> {
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
        Sub::Pin {
            dir,
            services,
            ca,
            json,
        } => {
            use crate::catalog::pin;
            let registries = pin::registry::Registries::new(
                std::path::Path::new(crate::update::fetch::SYSTEM_ROOTS),
                ca.as_deref(),
            )
            .map_err(|e| CliError::Invalid(e.to_string()))?;
            let lines = pin::pin_catalog(&dir, &services, &registries)
                .await
                .map_err(|e| CliError::Invalid(e.to_string()))?;
            if json {
                print_json(&lines);
            } else {
                for l in &lines {
                    match &l.error {
                        None => println!("{} {}: {} {}", l.service, l.field, l.outcome, l.after),
                        Some(e) => println!("{} {}: failed, {}: {e}", l.service, l.field, l.before),
                    }
                }
            }
            let failed = lines.iter().filter(|l| l.error.is_some()).count();
            if failed > 0 {
                return Err(CliError::Invalid(format!(
                    "{failed} images could not be resolved (left as they were)"
                )));
            }
            Ok(())
        }
        Sub::Smoke(args) => crate::catalog::smoke::run(args).await,
    }
}
