//! A real SMTP server for the mail tests: Debian's aiosmtpd (`smtp/server.py`) on loopback,
//! with STARTTLS required (a certificate for `localhost` from an authority made here with
//! openssl) and one login; each mail it accepts is decoded and kept as JSON.

use anyhow::{Context, Result, bail};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
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

fn openssl(args: &[&str]) -> Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .context("running openssl")?;
    if !out.status.success() {
        bail!("openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

impl SmtpServer {
    pub fn start() -> Result<SmtpServer> {
        let dir = tempfile::tempdir()?;
        let p = |name: &str| dir.path().join(name).display().to_string();
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=Test relay authority",
            "-keyout",
            &p("ca.key"),
            "-out",
            &p("ca.pem"),
        ])?;
        openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            &p("relay.key"),
            "-out",
            &p("relay.csr"),
        ])?;
        std::fs::write(
            dir.path().join("ext.cnf"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        )?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            &p("relay.csr"),
            "-CA",
            &p("ca.pem"),
            "-CAkey",
            &p("ca.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &p("ext.cnf"),
            "-out",
            &p("relay.pem"),
        ])?;
        let mail = dir.path().join("mail");
        std::fs::create_dir_all(&mail)?;
        let port = crate::free_port();
        let script = crate::workspace_root().join("tests/src/smtp/server.py");
        // Debian's interpreter, where python3-aiosmtpd installs (not a python3 earlier in PATH).
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .args([
                &port.to_string(),
                &p("relay.pem"),
                &p("relay.key"),
                USER,
                PASSWORD,
                &mail.display().to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting aiosmtpd (Debian package python3-aiosmtpd)")?;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line)?;
        if line.trim() != "ready" {
            let _ = child.kill();
            bail!("the SMTP server did not start: {line}");
        }
        let ca_pem = std::fs::read_to_string(dir.path().join("ca.pem"))?;
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
