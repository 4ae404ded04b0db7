//! The boundary with the kernel: a narrow trait, and its implementation over the `nft`
//! program with the `nftables` crate's JSON schema.
//!
//! The crate's own `apply_ruleset` loses nft's error text (it reads the process's stderr only
//! on some paths), so [`Nft`] spawns `nft -j -f -` itself and keeps stderr: when nft refuses a
//! batch, the admin sees nft's own words, and because a batch is one transaction the previous
//! table stays in place.

use nftables::schema::Nftables;
use std::io::Write;
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("nft refused the ruleset: {stderr}")]
    Refused { stderr: String },
    #[error("nft could not list the table inet panier: {stderr}")]
    Listing { stderr: String },
}

/// What the firewall needs from the kernel, and nothing more.
pub trait FirewallBackend: Send + Sync {
    /// Applies a whole batch atomically; on error nothing changed.
    fn apply(&self, batch: &Nftables) -> Result<(), BackendError>;
    /// The live `inet panier` table in nft's text syntax, or `None` if it does not exist.
    fn show(&self) -> Result<Option<String>, BackendError>;
    /// The number of rules of the live table, or `None` if it does not exist.
    fn rule_count(&self) -> Result<Option<usize>, BackendError>;
}

/// The `nft` program (`nft` on `PATH` unless told otherwise).
pub struct Nft {
    program: String,
}

impl Default for Nft {
    fn default() -> Self {
        Nft {
            program: "nft".into(),
        }
    }
}

impl Nft {
    fn run(
        &self,
        args: &[&str],
        stdin: Option<&[u8]>,
    ) -> Result<std::process::Output, BackendError> {
        let spawn = |source| BackendError::Spawn {
            program: self.program.clone(),
            source,
        };
        let mut child = Command::new(&self.program)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn)?;
        if let Some(input) = stdin {
            // A write error here means nft exited early; its stderr says why.
            let _ = child.stdin.take().expect("piped").write_all(input);
        }
        child.wait_with_output().map_err(spawn)
    }

    fn list(&self, json: bool) -> Result<Option<String>, BackendError> {
        let args: &[&str] = if json {
            &["-j", "list", "table", "inet", super::ruleset::TABLE]
        } else {
            &["list", "table", "inet", super::ruleset::TABLE]
        };
        let out = self.run(args, None)?;
        if out.status.success() {
            return Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()));
        }
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        if stderr.contains("No such file or directory") {
            return Ok(None);
        }
        Err(BackendError::Listing { stderr })
    }
}

impl FirewallBackend for Nft {
    fn apply(&self, batch: &Nftables) -> Result<(), BackendError> {
        let json = serde_json::to_vec(batch).expect("a ruleset serializes");
        let out = self.run(&["-j", "-f", "-"], Some(&json))?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        Err(BackendError::Refused {
            stderr: if stderr.is_empty() {
                format!("nft exited with {}", out.status)
            } else {
                stderr
            },
        })
    }

    fn show(&self) -> Result<Option<String>, BackendError> {
        self.list(false)
    }

    fn rule_count(&self) -> Result<Option<usize>, BackendError> {
        let Some(text) = self.list(true)? else {
            return Ok(None);
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| BackendError::Listing {
                stderr: format!("unexpected JSON from nft: {e}"),
            })?;
        let objects = value["nftables"].as_array().cloned().unwrap_or_default();
        Ok(Some(
            objects.iter().filter(|o| o.get("rule").is_some()).count(),
        ))
    }
}
