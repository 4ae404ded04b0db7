//! The CLI's client of the daemon's local API: HTTP/1.1 over the unix socket.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use tokio::net::UnixStream;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(
        "the Panier agent is not running (no socket at {0}). Start it with `systemctl start panier`."
    )]
    NotRunning(PathBuf),
    #[error(
        "access to {0} was denied: run this command as root, or as a member of the panier group."
    )]
    Denied(PathBuf),
    #[error("cannot talk to the agent on {path}: {message}")]
    Transport { path: PathBuf, message: String },
    #[error("{message}{} ({key})", detail.as_ref().map(|d| format!(" — {d}")).unwrap_or_default())]
    Api {
        status: StatusCode,
        key: String,
        message: String,
        /// The English message naming the value concerned, when `message` is translated.
        detail: Option<String>,
    },
    #[error("unexpected answer from the agent: {0}")]
    Decode(String),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    JobFailed(String),
}

impl CliError {
    /// Exit codes: 1 for refusals and errors the agent reports, 2 for usage, 3 when the agent
    /// cannot be reached, 4 when access is denied.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::NotRunning(_) | CliError::Transport { .. } => 3,
            CliError::Denied(_) => 4,
            CliError::Api { status, .. } if *status == StatusCode::FORBIDDEN => 4,
            CliError::Api { .. }
            | CliError::Decode(_)
            | CliError::Invalid(_)
            | CliError::JobFailed(_) => 1,
        }
    }
}

/// The language the agent answers the CLI in: the first of `LC_ALL`, `LC_MESSAGES` and
/// `LANG` that is set (`fr_FR.UTF-8` → `fr`; `C`, `POSIX` and others → English); when none
/// is set, the box's own language (no `Accept-Language`, `*`).
fn cli_language() -> &'static str {
    let set = ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|v| !v.is_empty());
    match set {
        None => "*",
        Some(v) if v.starts_with("fr") => "fr",
        Some(_) => "en",
    }
}

pub struct Client {
    socket: PathBuf,
}

impl Client {
    pub fn new(socket: &Path) -> Client {
        Client {
            socket: socket.to_owned(),
        }
    }

    /// Sends one request; returns the status and the raw body of a successful answer, or the
    /// agent's error as [`CliError::Api`].
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(StatusCode, Bytes), CliError> {
        let transport = |message: String| CliError::Transport {
            path: self.socket.clone(),
            message,
        };
        let stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                    CliError::NotRunning(self.socket.clone())
                }
                std::io::ErrorKind::PermissionDenied => CliError::Denied(self.socket.clone()),
                _ => transport(e.to_string()),
            })?;
        let io = hyper_util::rt::TokioIo::new(stream);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| transport(e.to_string()))?;
        tokio::spawn(conn);
        let bytes = body
            .map(|b| serde_json::to_vec(&b).expect("JSON serializes"))
            .unwrap_or_default();
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "panier.local")
            .header("content-type", "application/json")
            .header("accept-language", cli_language())
            .body(Full::new(Bytes::from(bytes)))
            .expect("valid request");
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| transport(e.to_string()))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| transport(e.to_string()))?
            .to_bytes();
        if status.is_success() {
            return Ok((status, body));
        }
        let error: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        Err(CliError::Api {
            status,
            key: error["error"].as_str().unwrap_or("unknown").to_owned(),
            message: error["message"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("the agent answered {status}")),
            detail: error["detail"].as_str().map(str::to_owned),
        })
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        let (_, body) = self.call(Method::GET, path, None).await?;
        serde_json::from_slice(&body).map_err(|e| CliError::Decode(e.to_string()))
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: serde_json::Value,
    ) -> Result<(), CliError> {
        self.call(method, path, Some(body)).await.map(|_| ())
    }
}
