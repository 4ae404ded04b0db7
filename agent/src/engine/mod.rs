//! The container engine boundary: a narrow trait ([`Engine`]) with generic container, network,
//! image, log and exec operations, and its implementation over the Docker Engine API
//! (`docker::DockerEngine`, bollard over the unix socket; also speaks to podman's compatible
//! service).
//!
//! Owns: talking to the engine, and turning its answers and errors into the types below.
//! Knows nothing about services: `apps` decides names, labels and specs; this module only
//! carries them out. Removing something absent is not an error (moves are idempotent).
//!
//! Limits (podman 4.3, see FINDINGS): health checks only run under systemd there, so
//! [`EngineInfo::runs_health_checks`] is false for podman and callers then wait for "running"
//! only; `df`/`top` are never used; a port conflict shows up at start, not at create.

pub mod docker;
#[cfg(test)]
pub mod memory;
pub mod settings;

use futures_util::stream::BoxStream;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

pub use crate::catalog::Proto;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("the container engine at {url} cannot be reached: {message}")]
    Unreachable { url: String, message: String },
    #[error("{what} does not exist in the container engine")]
    NotFound { what: String },
    #[error("the container engine refused to {op} {object}: {message}")]
    Refused {
        op: &'static str,
        object: String,
        message: String,
    },
}

impl EngineError {
    pub fn is_unreachable(&self) -> bool {
        matches!(self, EngineError::Unreachable { .. })
    }

    /// Why a pull failed, when this is a refused pull.
    pub fn pull_problem(&self) -> Option<PullProblem> {
        match self {
            EngineError::Refused {
                op: "pull",
                message,
                ..
            } => Some(PullProblem::of(message)),
            EngineError::NotFound { what } if what.contains("manifest unknown") => {
                Some(PullProblem::NotFound)
            }
            _ => None,
        }
    }
}

/// Why an image could not be fetched, read from the engine's message (dockerd and podman
/// quote Go's network errors and the registry's answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PullProblem {
    /// No name resolution or no route: the box has no internet.
    NoInternet,
    /// The registry's address does not answer, or answers that it is unavailable.
    RegistryUnreachable,
    /// The registry refuses: too many pulls (Docker Hub's limit for anonymous pulls).
    RateLimited,
    /// The registry has no such image or tag (or needs a login for it).
    NotFound,
    Other,
}

impl PullProblem {
    pub fn of(message: &str) -> PullProblem {
        let m = message.to_lowercase();
        let any = |words: &[&str]| words.iter().any(|w| m.contains(w));
        if any(&["toomanyrequests", "too many requests", "rate limit", " 429"]) {
            PullProblem::RateLimited
        } else if any(&[
            "manifest unknown",
            "not found",
            "pull access denied",
            "repository does not exist",
            "unauthorized",
        ]) {
            PullProblem::NotFound
        } else if any(&[
            "dial tcp: lookup",
            "no such host",
            "name resolution",
            "server misbehaving",
            "network is unreachable",
        ]) {
            PullProblem::NoInternet
        } else if any(&[
            "connection refused",
            "i/o timeout",
            "no route to host",
            "tls handshake timeout",
            "connection reset",
            "request canceled",
            "timeout exceeded",
            "service unavailable",
            "bad gateway",
            "eof",
        ]) {
            PullProblem::RegistryUnreachable
        } else {
            PullProblem::Other
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            PullProblem::NoInternet => "no_internet",
            PullProblem::RegistryUnreachable => "registry_unreachable",
            PullProblem::RateLimited => "rate_limited",
            PullProblem::NotFound => "not_found",
            PullProblem::Other => "other",
        }
    }
}

/// A host directory mounted into a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bind {
    pub host: PathBuf,
    pub container: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortSpec {
    pub proto: Proto,
    pub host_port: u16,
    pub container_port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthSpec {
    pub command: Vec<String>,
    pub interval_s: u64,
    pub timeout_s: u64,
    pub retries: u64,
    pub start_period_s: u64,
}

/// Everything needed to create one container. Never privileged, never on the host network:
/// the engine implementation has no way to ask for either.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub entrypoint: Option<Vec<String>>,
    pub command: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    pub user: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub network: String,
    pub aliases: Vec<String>,
    pub binds: Vec<Bind>,
    pub memory_bytes: u64,
    pub ports: Vec<u16>,
    pub published: Vec<PortSpec>,
    pub health: Option<HealthSpec>,
    /// Seconds between SIGTERM and SIGKILL when the engine itself stops the container (at the
    /// box's shutdown, or `docker stop` by hand); the agent's own stops pass the same value.
    pub stop_timeout_s: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    None,
    Starting,
    Healthy,
    Unhealthy,
}

/// A running container's resource use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Usage {
    pub memory_bytes: Option<u64>,
    /// Share of the whole box's processor time (all cores), 0–100.
    pub cpu_percent: Option<f64>,
}

/// What the engine says about a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerInfo {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub running: bool,
    /// The engine's word: created, running, exited…
    pub status: String,
    pub exit_code: Option<i64>,
    pub health: HealthState,
    /// The engine killed it for exceeding its memory limit (`State.OOMKilled`; reset when it
    /// starts again).
    pub oom_killed: bool,
    /// Address on each network it is attached to.
    pub addresses: BTreeMap<String, IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkInfo {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EngineInfo {
    pub name: String,
    pub version: String,
    pub runs_health_checks: bool,
}

/// Progress of a pull: bytes done and expected so far (both grow as layers are announced).
#[derive(Debug, Clone, Copy, Default)]
pub struct PullProgress {
    pub done: u64,
    pub total: u64,
}

#[derive(Debug, Clone)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub output: String,
}

/// A change to a container, from the engine's event stream.
#[derive(Debug, Clone)]
pub struct EngineEvent {
    pub container: String,
    pub action: String,
    /// The container's labels, as the event carries them.
    pub labels: BTreeMap<String, String>,
}

pub type ProgressFn<'a> = &'a (dyn Fn(PullProgress) + Send + Sync);

/// What the engine holds for an image reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageInfo {
    /// The image's content id (`sha256:…` of its configuration).
    pub id: String,
    /// `repository@sha256:…` for each registry digest the engine knows it by.
    pub repo_digests: Vec<String>,
    pub size_bytes: u64,
}

/// An image archive's bytes on their way to the engine (`docker load`).
pub type ArchiveStream = BoxStream<'static, Result<bytes::Bytes, std::io::Error>>;

#[async_trait::async_trait]
pub trait Engine: Send + Sync {
    /// The engine's name and version; fails with `Unreachable` when it is down.
    async fn info(&self) -> Result<EngineInfo, EngineError>;
    async fn image_present(&self, image: &str) -> Result<bool, EngineError>;
    async fn pull(&self, image: &str, progress: ProgressFn<'_>) -> Result<(), EngineError>;
    async fn remove_image(&self, image: &str) -> Result<(), EngineError>;
    /// The image a reference (or id) names, `None` when the engine has none.
    async fn image_info(&self, image: &str) -> Result<Option<ImageInfo>, EngineError>;
    /// Writes the image as an archive in `docker save`'s format; returns the bytes written.
    async fn save_image(
        &self,
        image: &str,
        out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    ) -> Result<u64, EngineError>;
    /// Loads an archive in `docker save`'s format; returns what the engine says it loaded
    /// (image ids and references). A stream that ends in an error loads nothing: the engine
    /// unpacks the whole archive before it registers any image.
    async fn load_image(&self, archive: ArchiveStream) -> Result<Vec<String>, EngineError>;
    /// Gives the image `image` the reference `repo:tag` as well.
    async fn tag_image(&self, image: &str, repo: &str, tag: &str) -> Result<(), EngineError>;
    /// Creates a bridge network with these labels unless one of that name exists.
    async fn ensure_network(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), EngineError>;
    async fn remove_network(&self, name: &str) -> Result<(), EngineError>;
    /// Networks carrying the label key `label`.
    async fn networks(&self, label: &str) -> Result<Vec<NetworkInfo>, EngineError>;
    async fn create(&self, spec: &ContainerSpec) -> Result<(), EngineError>;
    async fn start(&self, name: &str) -> Result<(), EngineError>;
    async fn stop(&self, name: &str, timeout_s: u32) -> Result<(), EngineError>;
    /// Removes a container (stopping it first); absent is fine.
    async fn remove(&self, name: &str) -> Result<(), EngineError>;
    async fn inspect(&self, name: &str) -> Result<Option<ContainerInfo>, EngineError>;
    /// All containers (running or not) carrying the label key `label`.
    async fn containers(&self, label: &str) -> Result<Vec<ContainerInfo>, EngineError>;
    async fn logs(&self, name: &str, tail: usize) -> Result<Vec<String>, EngineError>;
    /// `argv` run in the container as its own user, with its own environment.
    async fn exec(&self, name: &str, argv: &[String]) -> Result<ExecOutput, EngineError> {
        self.exec_as(name, argv, None, &BTreeMap::new()).await
    }
    /// [`Engine::exec`] as `user` (the container's own when `None`), with `env` added to the
    /// container's environment for this command only.
    async fn exec_as(
        &self,
        name: &str,
        argv: &[String],
        user: Option<&str>,
        env: &BTreeMap<String, String>,
    ) -> Result<ExecOutput, EngineError>;
    /// Current memory and processor use of a running container, as far as the engine
    /// reports them (takes about a second: the processor share is measured over one).
    async fn usage(&self, name: &str) -> Result<Usage, EngineError>;
    /// Container events for containers carrying the label key `label`, with Docker's action
    /// names (`die`, `destroy`…) whatever the engine. The stream ends when the connection
    /// drops; the caller reconnects.
    fn events(&self, label: &str) -> BoxStream<'static, Result<EngineEvent, EngineError>>;
}

#[cfg(test)]
mod tests {
    use super::PullProblem;

    #[test]
    fn pull_failures_are_told_apart_from_the_engines_words() {
        let cases = [
            (
                r#"Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on 10.0.2.3:53: server misbehaving"#,
                PullProblem::NoInternet,
            ),
            (
                r#"Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: Temporary failure in name resolution"#,
                PullProblem::NoInternet,
            ),
            (
                "Get \"https://ghcr.io/v2/\": dial tcp 140.82.121.33:443: connect: network is unreachable",
                PullProblem::NoInternet,
            ),
            (
                r#"Get "http://127.0.0.1:5999/v2/": dial tcp 127.0.0.1:5999: connect: connection refused"#,
                PullProblem::RegistryUnreachable,
            ),
            (
                r#"Get "https://registry-1.docker.io/v2/": net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)"#,
                PullProblem::RegistryUnreachable,
            ),
            (
                "toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit",
                PullProblem::RateLimited,
            ),
            (
                "manifest for etherpad/etherpad:9.9 not found: manifest unknown: manifest unknown",
                PullProblem::NotFound,
            ),
            ("something else", PullProblem::Other),
        ];
        for (message, want) in cases {
            assert_eq!(PullProblem::of(message), want, "{message}");
        }
    }
}
