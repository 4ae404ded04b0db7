//! A real OpenSSH server for SFTP backup tests: Debian's `sshd` on a loopback port of its own,
//! with its own host key, config and authorized keys in a temporary directory, serving
//! `internal-sftp`. It lets the account running the tests (root) log in with the keys given,
//! and nothing else (no password, no PAM). Stopped on drop.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Sshd {
    child: Child,
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl Sshd {
    /// Starts sshd accepting `authorized_keys` (one public key a line).
    pub fn start(authorized_keys: &str) -> Result<Sshd> {
        let dir = tempfile::Builder::new().prefix("panier-sshd-").tempdir()?;
        let d = dir.path();
        crate::netns::sh(&[
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-f",
            &d.join("host_key").display().to_string(),
        ])?;
        std::fs::write(d.join("authorized_keys"), authorized_keys)?;
        let port = crate::free_port();
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}/host_key\nPidFile {}/sshd.pid\n\
                 AuthorizedKeysFile {}/authorized_keys\nPermitRootLogin prohibit-password\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
                 StrictModes no\nSubsystem sftp internal-sftp\n",
                d.display(),
                d.display(),
                d.display()
            ),
        )?;
        // Privilege separation needs this directory (the package's unit makes it).
        std::fs::create_dir_all("/run/sshd")?;
        let log = std::fs::File::create(d.join("sshd.log"))?;
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .context("starting sshd")?;
        let sshd = Sshd { child, dir, port };
        crate::wait_until(Duration::from_secs(10), "sshd to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
        .with_context(|| sshd.log())?;
        Ok(sshd)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// A folder on the "remote" machine (this one) for a repository.
    pub fn folder(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
