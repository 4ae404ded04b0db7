//! A real container registry for the tests: Debian's `docker-registry` (Docker's distribution
//! 2.8) serving the registry HTTP API v2 on loopback, with filesystem storage in a data
//! directory of its own, on a free port, stopped and deleted on drop. Images reach it with
//! Debian's `skopeo`, so the engine under test never holds them before an agent pulls them
//! (the pull path, its progress and the digest it records are then the real ones).
//!
//! Loopback registries are insecure registries by default for dockerd, so no TLS is needed
//! between the engine and this registry; `skopeo` is told the same with `--dest-tls-verify`.
//!
//! [`Registry::start_in`] runs it inside a network namespace instead (its loopback is that
//! namespace's, where a dockerd of the box namespace pulls from), skopeo pushing from there too.
//!
//! Limits: no authentication, no TLS; the port is free when chosen, and a start that loses it
//! to another listener is retried on another one.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `docker-registry serve`.
pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    netns: Option<String>,
}

/// An image pushed to a [`Registry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// `127.0.0.1:PORT/REPO:TAG`.
    pub tagged: String,
    /// The manifest's digest, `sha256:<64 hex>`.
    pub digest: String,
}

impl Pushed {
    /// `127.0.0.1:PORT/REPO:TAG@sha256:…`: the reference a catalog pins.
    pub fn pinned(&self) -> String {
        format!("{}@{}", self.tagged, self.digest)
    }
}

impl Registry {
    /// Starts a registry on a free loopback port and waits until `/v2/` answers.
    pub fn start() -> Result<Registry> {
        Registry::start_in(None)
    }

    /// The same inside the network namespace `netns` (`/var/run/netns/NAME`), when given.
    pub fn start_in(netns: Option<&str>) -> Result<Registry> {
        let mut last = None;
        for _ in 0..5 {
            match Registry::try_start(netns) {
                Ok(r) => return Ok(r),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    fn try_start(netns: Option<&str>) -> Result<Registry> {
        let dir = tempfile::Builder::new()
            .prefix("panier-registry-")
            .tempdir()?;
        let port = crate::free_port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )?;
        let log = std::fs::File::create(dir.path().join("registry.log"))?;
        let child = Registry::command(netns, "docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting docker-registry (Debian package docker-registry)")?;
        let mut registry = Registry {
            child,
            dir,
            port,
            netns: netns.map(str::to_owned),
        };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Some(status) = registry.child.try_wait()? {
                bail!(
                    "docker-registry exited with {status}: {}",
                    registry.log_text()
                );
            }
            if registry.answers() {
                return Ok(registry);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "docker-registry did not answer within 20 s: {}",
            registry.log_text()
        )
    }

    /// `program`, run inside `netns` when given.
    fn command(netns: Option<&str>, program: &str) -> Command {
        match netns {
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/var/run/netns/{ns}")).arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    fn answers(&self) -> bool {
        let url = format!("{}/v2/", self.url());
        let get = || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(2)))
                .build()
                .into();
            agent.get(&url).call().is_ok_and(|r| {
                r.headers()
                    .get("docker-distribution-api-version")
                    .is_some_and(|v| v == "registry/2.0")
            })
        };
        match &self.netns {
            Some(ns) => crate::netns::within(ns, get),
            None => get(),
        }
    }

    /// `127.0.0.1:PORT`, the registry part of image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`, for the HTTP API itself.
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Pushes the image `local` of the engine at `engine` (a `unix://` URL) as `repo:tag`.
    pub fn push_from_engine(
        &self,
        engine: &str,
        local: &str,
        repo: &str,
        tag: &str,
    ) -> Result<Pushed> {
        self.copy(
            &["--src-daemon-host", engine],
            &format!("docker-daemon:{local}"),
            repo,
            tag,
        )
    }

    /// Pushes the image named `name` of the OCI layout `layout` as `repo:tag`.
    pub fn push_from_oci(
        &self,
        layout: &Path,
        name: &str,
        repo: &str,
        tag: &str,
    ) -> Result<Pushed> {
        self.copy(&[], &format!("oci:{}:{name}", layout.display()), repo, tag)
    }

    fn copy(&self, source_opts: &[&str], source: &str, repo: &str, tag: &str) -> Result<Pushed> {
        let tagged = format!("{}/{repo}:{tag}", self.host());
        let digest_file = self.dir.path().join(format!(
            "digest-{}",
            tagged.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        ));
        let out = Registry::command(self.netns.as_deref(), "skopeo")
            .arg("copy")
            .args(source_opts)
            .args(["--dest-tls-verify=false", "--digestfile"])
            .arg(&digest_file)
            .arg(source)
            .arg(format!("docker://{tagged}"))
            .output()
            .context("running skopeo (Debian package skopeo)")?;
        if !out.status.success() {
            bail!(
                "skopeo copy {source} → {tagged} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let digest = std::fs::read_to_string(&digest_file)
            .with_context(|| format!("reading {}", digest_file.display()))?
            .trim()
            .to_owned();
        if !digest.starts_with("sha256:") || digest.len() != 71 {
            bail!("skopeo wrote '{digest}' as the digest of {tagged}");
        }
        Ok(Pushed { tagged, digest })
    }

    /// The digest the registry answers for `repo:tag` (a `HEAD` on its manifest, as a client
    /// resolving a tag does), or None when it has no such tag.
    pub fn digest_of(&self, repo: &str, tag: &str) -> Result<Option<String>> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let r = agent
            .head(&format!("{}/v2/{repo}/manifests/{tag}", self.url()))
            .header(
                "accept",
                "application/vnd.docker.distribution.manifest.v2+json, \
                 application/vnd.oci.image.manifest.v1+json",
            )
            .call()?;
        match r.status().as_u16() {
            200 => Ok(r
                .headers()
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)),
            404 => Ok(None),
            s => bail!("the registry answered {s} for {repo}:{tag}"),
        }
    }

    /// The registry's data directory (its blobs and repositories).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
