//! The scratch agent of a package check: this very binary started as `panier agent` with a
//! data directory, a socket and listeners of its own (loopback only, no mDNS, no firewall),
//! on the real engine, and driven through its local API with the CLI's own client, so the
//! check goes through the same handlers as the admin UI and the CLI.
//!
//! Owns: the scratch directory (`data/`, `panier.sock`, `agent.log`, the backup folder),
//! the child process (stopped with SIGTERM, then killed), restarts on another catalog (the
//! previous version's, for the update step), the setup of the box (`smoke`, admin
//! `smoke`), and jobs followed to their end. Dropping it kills the child; removing the
//! directory is [`Scratch::remove`]'s, once the engine objects are gone.

use crate::catalog::manifest::Text;
use crate::cli::Client;
use hyper::Method;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The box name of scratch agents: services answer at `<id>-smoke.local`.
pub const BOX_NAME: &str = "smoke";
const ADMIN: &str = "smoke";

/// A step's failure, in both languages.
pub type Failure = Text;

pub fn fail(fr: impl Into<String>, en: impl Into<String>) -> Failure {
    Text {
        fr: fr.into(),
        en: en.into(),
    }
}

/// An error of the agent's API, said in both languages (its message is the agent's).
fn api(what_fr: &str, what_en: &str, e: crate::cli::CliError) -> Failure {
    fail(format!("{what_fr} : {e}"), format!("{what_en}: {e}"))
}

pub struct Scratch {
    /// The scratch folder (`panier-smoke-…` in the temporary directory).
    pub dir: PathBuf,
    child: Option<Child>,
    engine: String,
    pub https_port: u16,
    http_port: u16,
    port_base: u16,
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A block of 20 free ports for the services' fixed ports, below the ephemeral range.
fn free_block() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let seed = std::process::id() ^ nanos;
    for n in 0..590u32 {
        let base = 20000 + ((seed.wrapping_add(n * 7)) % 590) as u16 * 20;
        if (base..base + 20).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return base;
        }
    }
    20000
}

impl Scratch {
    /// Starts a scratch agent on `catalog` and `engine`, and sets its box up.
    pub async fn start(catalog: &Path, engine: &str) -> Result<Scratch, Failure> {
        let io = |e: std::io::Error| {
            fail(
                format!("le dossier de travail ne peut être créé : {e}"),
                format!("the scratch folder cannot be made: {e}"),
            )
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("panier-smoke-{}-{nanos:x}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(io)?;
        let (https_port, http_port) = (free_port().map_err(io)?, free_port().map_err(io)?);
        let mut scratch = Scratch {
            dir,
            child: None,
            engine: engine.to_owned(),
            https_port,
            http_port,
            port_base: free_block(),
        };
        scratch.spawn(catalog)?;
        let code: Value = scratch
            .client()
            .get("/api/v1/setup-code")
            .await
            .map_err(|e| api("le code d'installation", "the setup code", e))?;
        let code = code["code"].as_str().unwrap_or_default().to_owned();
        scratch
            .client()
            .send(
                Method::POST,
                "/api/v1/setup",
                json!({"code": code, "box_name": BOX_NAME, "language": "fr", "username": ADMIN, "password": random_password()}),
            )
            .await
            .map_err(|e| api("la mise en service", "the box's setup", e))?;
        Ok(scratch)
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("panier.sock")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn log(&self) -> PathBuf {
        self.dir.join("agent.log")
    }

    pub fn client(&self) -> Client {
        Client::new(&self.socket())
    }

    fn spawn(&mut self, catalog: &Path) -> Result<(), Failure> {
        let io = |what: &str, e: std::io::Error| {
            fail(
                format!("l'agent de travail ne démarre pas ({what}) : {e}"),
                format!("the scratch agent does not start ({what}): {e}"),
            )
        };
        let config = self.dir.join("panier.toml");
        std::fs::write(&config, "").map_err(|e| io("panier.toml", e))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())
            .map_err(|e| io("agent.log", e))?;
        let exe = std::env::current_exe().map_err(|e| io("current_exe", e))?;
        let child = Command::new(exe)
            .arg("agent")
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--socket")
            .arg(self.socket())
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.https_port))
            .arg("--http-listen")
            .arg(format!("127.0.0.1:{}", self.http_port))
            .arg("--service-port-base")
            .arg(self.port_base.to_string())
            .args(["--no-mdns", "--firewall", "off", "--engine", &self.engine])
            .arg("--catalog")
            .arg(catalog)
            .env("PANIER_LOG_STDERR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| io("agent.log", e))?)
            .stderr(log)
            .spawn()
            .map_err(|e| io("spawn", e))?;
        self.child = Some(child);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(fail(
                    format!(
                        "l'agent de travail s'est arrêté ({status}) ; voir {}",
                        self.log().display()
                    ),
                    format!(
                        "the scratch agent exited ({status}); see {}",
                        self.log().display()
                    ),
                ));
            }
            if self.socket().exists()
                && std::os::unix::net::UnixStream::connect(self.socket()).is_ok()
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(fail(
            "l'agent de travail ne répond pas après 60 s",
            "the scratch agent did not answer within 60 s",
        ))
    }

    /// Stops the child: SIGTERM, then a kill after 20 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// The same agent (data, socket, ports) started again on another catalog.
    pub fn restart_on(&mut self, catalog: &Path) -> Result<(), Failure> {
        self.stop();
        let _ = std::fs::remove_file(self.socket());
        self.spawn(catalog)
    }

    /// Sends a request that starts a job and follows it to its end (within `limit`).
    pub async fn job(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        limit: Duration,
    ) -> Result<(), Failure> {
        let client = self.client();
        let (_, bytes) = client
            .call(method, path, body)
            .await
            .map_err(|e| api("la demande est refusée", "the request is refused", e))?;
        let started: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let id = started["job"]
            .as_i64()
            .ok_or_else(|| fail("l'agent n'a pas lancé de tâche", "the agent started no job"))?;
        let start = Instant::now();
        loop {
            let job: Value = client
                .get(&format!("/api/v1/jobs/{id}"))
                .await
                .map_err(|e| api("la tâche", "the job", e))?;
            match job["state"].as_str().unwrap_or("") {
                "running" if start.elapsed() < limit => {
                    tokio::time::sleep(Duration::from_millis(300)).await
                }
                "running" => {
                    return Err(fail(
                        format!(
                            "la tâche n'a pas fini en {} s (étape {})",
                            limit.as_secs(),
                            job["step"].as_str().unwrap_or("")
                        ),
                        format!(
                            "the job did not end within {} s (step {})",
                            limit.as_secs(),
                            job["step"].as_str().unwrap_or("")
                        ),
                    ));
                }
                "succeeded" => return Ok(()),
                state => {
                    return Err(fail(
                        format!(
                            "tâche {state} : {}",
                            job["message_fr"].as_str().unwrap_or("")
                        ),
                        format!("job {state}: {}", job["message"].as_str().unwrap_or("")),
                    ));
                }
            }
        }
    }

    /// Waits until the service runs with every container healthy.
    pub async fn wait_running(&self, app: &str, limit: Duration) -> Result<(), Failure> {
        let start = Instant::now();
        let mut last = String::new();
        while start.elapsed() < limit {
            match self
                .client()
                .get::<Value>(&format!("/api/v1/apps/{app}"))
                .await
            {
                Ok(v) if v["state"] == "running" => return Ok(()),
                Ok(v) => last = v["state"].as_str().unwrap_or("").to_owned(),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(fail(
            format!(
                "le service n'est pas en marche et en bonne santé après {} s (état : {last})",
                limit.as_secs()
            ),
            format!(
                "the service is not running and healthy after {} s (state: {last})",
                limit.as_secs()
            ),
        ))
    }

    /// Kills the child if it still runs, then removes the scratch folder.
    pub fn remove(mut self) -> std::io::Result<()> {
        self.stop();
        std::fs::remove_dir_all(&self.dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A password for the scratch box's admin and for password settings.
pub fn random_password() -> String {
    use rand::Rng;
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(20)
        .map(char::from)
        .collect()
}
