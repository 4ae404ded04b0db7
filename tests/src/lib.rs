//! The shared harness of the system tests: the real `panier` binary started as a process with
//! a temporary data directory, an HTTP session against its admin address, the CLI against its
//! socket, and a real container engine with a locally built test image.
//!
//! The agent binary comes from `PANIER_BIN` (set by `tools/cargo-tests.sh`), else from the
//! build directory. The engine comes from `PANIER_TEST_ENGINE` (a `unix://` URL; the test
//! script starts one dockerd for the whole run), else this harness starts one with
//! `tools/start-engine.sh`. Images come from a local registry (`registry`: Debian's
//! `docker-registry` on loopback) where a test needs the engine's pull path.

pub mod acme;
pub mod axe;
pub mod backup;
pub mod browser;
pub mod engine;
pub mod fwnet;
pub mod https;
pub mod mdns;
pub mod netns;
pub mod packs;
pub mod realapps;
pub mod registry;
pub mod services;
pub mod smoke;
pub mod smtp;
pub mod sshd;
pub mod stick;
pub mod updates;

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The agent binary under test.
pub fn panier_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PANIER_BIN") {
        return p.into();
    }
    let out = Command::new("cargo")
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(workspace_root())
        .output()
        .unwrap();
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let bin = PathBuf::from(meta["target_directory"].as_str().unwrap()).join("debug/panier");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p panier` (or set PANIER_BIN)",
        bin.display()
    );
    bin
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) -> Result<()> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if check() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("timed out after {timeout:?} waiting for {what}")
}

/// The standard output of a command that must succeed (its output in the panic otherwise).
pub fn succeeded(out: &Output) -> String {
    assert!(
        out.status.success(),
        "command failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Options for starting an agent.
#[derive(Default, Clone)]
pub struct AgentOptions {
    /// Reuse this data directory (default: a fresh temporary one).
    pub data_dir: Option<PathBuf>,
    /// Container engine URL (default: none given, the agent's default).
    pub engine: Option<String>,
    /// A configuration file's content.
    pub config: Option<String>,
    pub extra_args: Vec<String>,
    /// Extra environment variables for the agent process.
    pub env: Vec<(String, String)>,
    /// Apply the firewall (nftables). Off by default: an agent in the test machine's own
    /// network namespace must not take over its input policy. Turn it on only with `netns`.
    pub firewall: bool,
    /// Run the agent inside this network namespace (`/var/run/netns/NAME`, see [`netns`]).
    pub netns: Option<String>,
    /// The admin address (default `127.0.0.1:<free port>`).
    pub listen: Option<String>,
    /// Make the agent the box's web entry: `--listen` is then HTTPS and an HTTP entry
    /// (portal, services by name) listens on [`Agent::http_port`]; fixed service ports start
    /// at [`Agent::service_port_base`]. mDNS stays off unless `mdns_interface` is given.
    /// With `netns`, the HTTP entry is `0.0.0.0:80` in that namespace.
    pub web_entry: bool,
    /// Announce names on this interface (with `web_entry`).
    pub mdns_interface: Option<String>,
    /// The agent's file-descriptor limit, soft and hard (as systemd's default soft 1024).
    pub nofile: Option<u64>,
}

/// A running `panier agent` process.
pub struct Agent {
    child: Option<Child>,
    _tmp: Option<tempfile::TempDir>,
    pub data_dir: PathBuf,
    pub socket: PathBuf,
    pub port: u16,
    /// The HTTP entry's port (with `web_entry`).
    pub http_port: u16,
    pub service_port_base: u16,
    pub log: PathBuf,
    pub options: AgentOptions,
}

impl Agent {
    pub fn start() -> Agent {
        Agent::start_with(AgentOptions::default())
    }

    pub fn start_with(options: AgentOptions) -> Agent {
        Agent::try_start_with(options).expect("the agent starts")
    }

    pub fn try_start_with(options: AgentOptions) -> Result<Agent> {
        let (tmp, data_dir) = match &options.data_dir {
            Some(d) => (None, d.clone()),
            None => {
                let t = tempfile::Builder::new().prefix("panier-test-").tempdir()?;
                let d = t.path().join("data");
                (Some(t), d)
            }
        };
        std::fs::create_dir_all(&data_dir)?;
        let run_dir = data_dir.parent().unwrap().join("run");
        std::fs::create_dir_all(&run_dir)?;
        let socket = run_dir.join("panier.sock");
        let config = run_dir.join("panier.toml");
        std::fs::write(&config, options.config.clone().unwrap_or_default())?;
        let (listen, port) = match &options.listen {
            Some(l) => (
                l.clone(),
                l.rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .context("listen needs a port")?,
            ),
            None => {
                let p = free_port();
                (format!("127.0.0.1:{p}"), p)
            }
        };
        let log = run_dir.join("agent.log");
        // In a namespace of its own the agent has the whole port space: the HTTP entry takes
        // port 80 on every address there, as on a box, so names work without a port.
        let (http_host, http_port) = if options.netns.is_some() {
            ("0.0.0.0", 80)
        } else {
            ("127.0.0.1", free_port())
        };
        // A block of 20 ports for the services' fixed ports, one of 590 between 20000 and
        // 31800: below the kernel's ephemeral range (32768 and up), where every other test
        // listener and client port lives, and unlikely to be another parallel agent's block.
        let slot = (std::process::id()
            .wrapping_mul(31)
            .wrapping_add(u32::from(port)))
            % 590;
        let service_port_base = 20000 + (slot as u16) * 20;
        let mut cmd = match &options.netns {
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/var/run/netns/{ns}"))
                    .arg(panier_bin());
                c
            }
            None => Command::new(panier_bin()),
        };
        let mut entry_args: Vec<String> = Vec::new();
        if options.web_entry {
            entry_args.extend([
                "--http-listen".into(),
                format!("{http_host}:{http_port}"),
                "--service-port-base".into(),
                service_port_base.to_string(),
            ]);
            match &options.mdns_interface {
                Some(i) => entry_args.extend(["--lan-interface".into(), i.clone()]),
                None => entry_args.push("--no-mdns".into()),
            }
        }
        cmd.arg("agent")
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--listen")
            .arg(&listen)
            .arg("--firewall")
            .arg(if options.firewall { "on" } else { "off" })
            .arg("--socket")
            .arg(&socket)
            .args(&options.extra_args)
            .args(&entry_args)
            .env("PANIER_LOG_STDERR", "1")
            .envs(options.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)?,
            ))
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)?,
            ));
        if let Some(engine) = &options.engine {
            cmd.arg("--engine").arg(engine);
        }
        if let Some(n) = options.nofile {
            use std::os::unix::process::CommandExt;
            // SAFETY: only setrlimit, async-signal-safe, between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, n, n)
                        .map_err(std::io::Error::from)
                });
            }
        }
        let child = cmd.spawn().context("starting panier agent")?;
        let mut agent = Agent {
            child: Some(child),
            _tmp: tmp,
            data_dir,
            socket,
            port,
            http_port,
            service_port_base,
            log,
            options,
        };
        agent.wait_ready()?;
        Ok(agent)
    }

    /// Waits for `/api/v1/health` to answer.
    pub fn wait_ready(&mut self) -> Result<()> {
        let url = if self.options.web_entry {
            self.http_url("/ca.pem")
        } else {
            self.url("/api/v1/health")
        };
        let netns = self.options.netns.clone();
        let start = Instant::now();
        loop {
            let get = || {
                ureq::get(&url)
                    .config()
                    .max_redirects(0)
                    .http_status_as_error(false)
                    .build()
                    .call()
                    .is_ok()
            };
            let ready = match &netns {
                Some(ns) => netns::within(ns, get),
                None => get(),
            };
            if ready {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!("the agent exited with {status}: {}", self.log_text());
            }
            if start.elapsed() > Duration::from_secs(30) {
                bail!("the agent did not answer within 30 s: {}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// A URL on the HTTP entry (with `web_entry`).
    pub fn http_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http_port)
    }

    /// The box's certificate authority (PEM), as stored in its data directory.
    pub fn ca_pem_path(&self) -> PathBuf {
        self.data_dir.join("tls/ca.crt")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// The access report (`GET /api/v1/access` over the local socket): names, fixed ports.
    pub fn access_report(&self) -> serde_json::Value {
        let out = Command::new("curl")
            .args(["-sS", "--unix-socket"])
            .arg(&self.socket)
            .arg("http://box/api/v1/access")
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    /// The fixed port of the service with web name `name`, from the access report.
    pub fn fixed_port(&self, name: &str) -> u16 {
        self.access_report()["services"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["name"] == name)
            .and_then(|s| s["port"].as_u64())
            .unwrap_or_else(|| panic!("no fixed port for {name}")) as u16
    }

    /// Runs `panier ARGS --socket <this agent's socket>`.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_with_stdin(args, "")
    }

    /// `panier ARGS --json`, parsed; panics with the output on a failure.
    pub fn cli_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.cli(&all);
        assert!(
            out.status.success(),
            "panier {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn cli_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut child = Command::new(panier_bin())
            .args(args)
            .arg("--socket")
            .arg(&self.socket)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// The setup code, read through the CLI as root.
    pub fn setup_code(&self) -> String {
        let out = self.cli(&["setup-code"]);
        assert!(
            out.status.success(),
            "setup-code failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// Completes setup through the API with box `name`, admin `admin` / `password`.
    pub fn setup(&self, name: &str, admin: &str, password: &str) {
        let body = serde_json::json!({"code": self.setup_code(), "box_name": name, "language": "fr", "username": admin, "password": password});
        let r = ureq::post(&self.url("/api/v1/setup"))
            .send_json(&body)
            .expect("setup succeeds");
        assert_eq!(r.status(), 204);
    }

    /// Logs in through the API and returns a session.
    pub fn login(&self, admin: &str, password: &str) -> Session {
        let http: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut r = http
            .post(&self.url("/api/v1/login"))
            .send_json(serde_json::json!({"username": admin, "password": password}))
            .unwrap();
        assert_eq!(
            r.status(),
            200,
            "login failed: {}",
            r.body_mut().read_to_string().unwrap_or_default()
        );
        let body: serde_json::Value = r.body_mut().read_json().unwrap();
        Session {
            http,
            base: self.url(""),
            csrf: body["csrf_token"].as_str().unwrap().to_owned(),
        }
    }

    /// Setup then login: an agent ready for admin calls.
    pub fn ready_session(&self) -> Session {
        self.setup("biblio", "camille", "un mot de passe solide");
        self.login("camille", "un mot de passe solide")
    }

    /// SIGTERM, then waits up to `limit` for the exit.
    pub fn stop_within(&mut self, limit: Duration) -> Result<std::process::ExitStatus> {
        let mut child = self.child.take().context("not running")?;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )?;
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                bail!("the agent did not stop within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// kill -9, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A GET of `path` on the local socket (where no session is needed), with curl: the body.
    pub fn socket_get(&self, path: &str) -> String {
        let out = Command::new("curl")
            .args(["-sS", "--unix-socket"])
            .arg(&self.socket)
            .arg(format!("http://box{path}"))
            .output()
            .expect("curl runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts the agent again on the same data directory and options.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.stop_within(Duration::from_secs(10)).unwrap();
        }
        let port = free_port();
        self.port = port;
        let mut opts = self.options.clone();
        opts.data_dir = Some(self.data_dir.clone());
        let mut fresh = Agent::start_with(opts);
        self.child = fresh.child.take();
        self.port = fresh.port;
        self.http_port = fresh.http_port;
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// An admin's HTTP session (cookie jar + CSRF token).
pub struct Session {
    pub http: ureq::Agent,
    pub base: String,
    pub csrf: String,
}

impl Session {
    pub fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let mut r = self
            .http
            .get(&format!("{}{path}", self.base))
            .call()
            .unwrap();
        let status = r.status().as_u16();
        (
            status,
            r.body_mut().read_json().unwrap_or(serde_json::Value::Null),
        )
    }

    /// The HTML of an admin page.
    pub fn page(&self, path: &str) -> String {
        self.http
            .get(&format!("{}{path}", self.base))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    }

    /// A state-changing JSON request with the CSRF header.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let url = format!("{}{path}", self.base);
        let req = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("x-csrf-token", &self.csrf)
            .header("content-type", "application/json");
        let mut r = self
            .http
            .run(req.body(serde_json::to_vec(&body).unwrap()).unwrap())
            .unwrap();
        let status = r.status().as_u16();
        (
            status,
            r.body_mut().read_json().unwrap_or(serde_json::Value::Null),
        )
    }
}
