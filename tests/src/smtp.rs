//! A real SMTP server for the mail tests: Debian's aiosmtpd (`smtp/server.py`) on loopback,
//! with STARTTLS required (a certificate for `localhost` from an authority made with openssl,
//! `https::TestCerts`) and one login; each mail it accepts is decoded and kept as JSON.

use crate::https::{TestCerts, start_python};
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

pub const USER: &str = "alertes";
pub const PASSWORD: &str = "mot de passe du relais";

/// A running server, stopped when dropped.
pub struct SmtpServer {
    child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
    /// The authority that signed the server's certificate (PEM).
    pub ca_pem: String,
}

/// A mail as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub subject: String,
    pub body: String,
    pub to: Vec<String>,
    pub authenticated_as: Option<String>,
}

impl SmtpServer {
    pub fn start() -> Result<SmtpServer> {
        let dir = tempfile::tempdir()?;
        let certs = TestCerts::make(dir.path())?;
        let mail = dir.path().join("mail");
        std::fs::create_dir_all(&mail)?;
        let port = crate::free_port();
        let script =
            std::fs::read_to_string(crate::workspace_root().join("tests/src/smtp/server.py"))?;
        let child = start_python(
            &script,
            &[
                port.to_string(),
                certs.cert.display().to_string(),
                certs.key.display().to_string(),
                USER.to_owned(),
                PASSWORD.to_owned(),
                mail.display().to_string(),
            ],
        )
        .context("starting aiosmtpd (Debian package python3-aiosmtpd)")?;
        let ca_pem = std::fs::read_to_string(&certs.ca)?;
        Ok(SmtpServer {
            child,
            dir,
            port,
            ca_pem,
        })
    }

    fn mail_dir(&self) -> PathBuf {
        self.dir.path().join("mail")
    }

    /// Every mail received so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.mail_dir())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
            .collect();
        names.sort();
        names
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .filter_map(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .map(|v| Received {
                subject: v["subject"].as_str().unwrap_or_default().to_owned(),
                body: v["body"].as_str().unwrap_or_default().to_owned(),
                to: v["to"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect(),
                authenticated_as: v["authenticated_as"].as_str().map(str::to_owned),
            })
            .collect()
    }

    /// Waits for a mail whose subject contains `subject`.
    pub fn wait_for(&self, subject: &str, timeout: Duration) -> Result<Received> {
        let start = Instant::now();
        loop {
            if let Some(m) = self
                .received()
                .into_iter()
                .find(|m| m.subject.contains(subject))
            {
                return Ok(m);
            }
            if start.elapsed() > timeout {
                bail!(
                    "no mail with \"{subject}\" within {timeout:?}; received: {:?}",
                    self.received()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
