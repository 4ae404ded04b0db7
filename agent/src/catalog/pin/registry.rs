//! The registry HTTP API v2, as much of it as resolving a tag needs: `HEAD` (then `GET` when
//! a registry gives no digest header) on `/v2/<repository>/manifests/<tag>`, asking for
//! multi-platform indexes first so that the digest pinned is the one every platform pulls.
//!
//! Authentication is the token flow Docker Hub, ghcr.io and most registries use: an
//! anonymous request answered `401` with `WWW-Authenticate: Bearer realm=…,service=…,
//! scope=…` is retried with the token that realm hands out anonymously. A registry on
//! loopback (the tests' `docker-registry`) is asked over plain HTTP and needs no token.
//!
//! Written on the agent's own hyper + rustls (ring) client rather than with `oci-client`:
//! that crate brings reqwest and, by default, aws-lc-rs (a C build) as a second HTTP and TLS
//! stack, for two requests.
//!
//! Limits: anonymous only (private repositories are not pinned); HTTP/1.1; no proxy.

use super::reference::ImageRef;
use crate::update::fetch::error_chain;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{Method, Request, StatusCode, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);
/// A manifest or index is small; a token answer too.
const MAX_BODY: usize = 4 << 20;
/// Indexes first: the digest of a multi-platform image is its index's.
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot reach {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("{url} answered {status}")]
    Status { url: String, status: u16 },
    #[error("the registry has no tag '{tag}' for {repository}")]
    NoSuchTag { repository: String, tag: String },
    #[error("{url} asks for credentials this command does not have ({challenge})")]
    Denied { url: String, challenge: String },
    #[error("unexpected answer from {url}: {message}")]
    Unexpected { url: String, message: String },
    #[error(transparent)]
    Tls(#[from] crate::update::fetch::FetchError),
}

type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// A client of registries.
pub struct Registries {
    client: HttpClient,
}

impl Registries {
    /// Trusting the system's authorities and `extra_ca` (a registry with its own).
    pub fn new(system_roots: &Path, extra_ca: Option<&Path>) -> Result<Registries, RegistryError> {
        let tls = crate::update::fetch::tls_config(system_roots, extra_ca)?;
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(TIMEOUT));
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Registries {
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// The digest `image`'s tag points to now.
    pub async fn digest(&self, image: &ImageRef) -> Result<String, RegistryError> {
        let scheme = if image.plain_http() { "http" } else { "https" };
        let url = format!(
            "{scheme}://{}/v2/{}/manifests/{}",
            image.api_host(),
            image.repository,
            image.tag
        );
        let mut token: Option<String> = None;
        for method in [Method::HEAD, Method::GET] {
            let (status, headers, body) = loop {
                let answer = self.send(method.clone(), &url, token.as_deref()).await?;
                if answer.0 == StatusCode::UNAUTHORIZED && token.is_none() {
                    let challenge = answer
                        .1
                        .get(header::WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    token = Some(self.token(&url, &challenge, image).await?);
                    continue;
                }
                break answer;
            };
            match status {
                StatusCode::OK => {}
                StatusCode::NOT_FOUND => {
                    return Err(RegistryError::NoSuchTag {
                        repository: format!("{}/{}", image.registry, image.repository),
                        tag: image.tag.clone(),
                    });
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    return Err(RegistryError::Denied {
                        url,
                        challenge: status.to_string(),
                    });
                }
                s => {
                    return Err(RegistryError::Status {
                        url,
                        status: s.as_u16(),
                    });
                }
            }
            if let Some(d) = headers
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .filter(|d| is_digest(d))
            {
                return Ok(d.to_owned());
            }
            if method == Method::GET {
                // The digest of a manifest is the SHA-256 of its bytes as served.
                return Ok(format!("sha256:{}", hex::encode(Sha256::digest(&body))));
            }
        }
        unreachable!("the GET either returns or fails")
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        token: Option<&str>,
    ) -> Result<(StatusCode, hyper::HeaderMap, Bytes), RegistryError> {
        let mut request = Request::builder()
            .method(method)
            .uri(url)
            .header(header::ACCEPT, ACCEPT)
            .header(
                header::USER_AGENT,
                concat!("panier/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(t) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let request = request
            .body(Empty::new())
            .map_err(|e| RegistryError::Unexpected {
                url: url.to_owned(),
                message: e.to_string(),
            })?;
        let unreachable = |message: String| RegistryError::Unreachable {
            url: url.to_owned(),
            message,
        };
        let response = tokio::time::timeout(TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| unreachable(format!("no answer within {} s", TIMEOUT.as_secs())))?
            .map_err(|e| unreachable(error_chain(&e)))?;
        let (parts, body) = response.into_parts();
        let body = tokio::time::timeout(
            TIMEOUT,
            http_body_util::Limited::new(body, MAX_BODY).collect(),
        )
        .await
        .map_err(|_| unreachable("the answer stalled".into()))?
        .map_err(|e| unreachable(e.to_string()))?
        .to_bytes();
        Ok((parts.status, parts.headers, body))
    }

    /// An anonymous token from the realm of a `Bearer` challenge.
    async fn token(
        &self,
        url: &str,
        challenge: &str,
        image: &ImageRef,
    ) -> Result<String, RegistryError> {
        let params = bearer_params(challenge).ok_or_else(|| RegistryError::Denied {
            url: url.to_owned(),
            challenge: challenge.to_owned(),
        })?;
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let realm = get("realm").unwrap_or_default();
        let mut realm_url = url::Url::parse(&realm).map_err(|_| RegistryError::Denied {
            url: url.to_owned(),
            challenge: challenge.to_owned(),
        })?;
        {
            let mut q = realm_url.query_pairs_mut();
            if let Some(s) = get("service") {
                q.append_pair("service", &s);
            }
            let scope =
                get("scope").unwrap_or_else(|| format!("repository:{}:pull", image.repository));
            q.append_pair("scope", &scope);
        }
        let (status, _, body) = self.send(Method::GET, realm_url.as_str(), None).await?;
        if status != StatusCode::OK {
            return Err(RegistryError::Status {
                url: realm_url.to_string(),
                status: status.as_u16(),
            });
        }
        let answer: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| RegistryError::Unexpected {
                url: realm_url.to_string(),
                message: e.to_string(),
            })?;
        answer["token"]
            .as_str()
            .or(answer["access_token"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| RegistryError::Unexpected {
                url: realm_url.to_string(),
                message: "no token in the answer".into(),
            })
    }
}

fn is_digest(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The parameters of a `Bearer k="v",k2="v2"` challenge; `None` for another scheme.
fn bearer_params(challenge: &str) -> Option<Vec<(String, String)>> {
    let rest = challenge.trim().strip_prefix("Bearer ")?;
    let mut out = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let value: String = if chars.peek() == Some(&'"') {
            chars.next();
            chars.by_ref().take_while(|c| *c != '"').collect()
        } else {
            chars.by_ref().take_while(|c| *c != ',').collect()
        };
        out.push((key.trim().to_owned(), value));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_are_read() {
        let p = bearer_params(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#,
        )
        .unwrap();
        assert_eq!(
            p,
            [
                ("realm".into(), "https://auth.docker.io/token".into()),
                ("service".into(), "registry.docker.io".into()),
                ("scope".into(), "repository:library/nginx:pull".into()),
            ]
        );
        assert!(bearer_params("Basic realm=\"x\"").is_none());
        assert!(is_digest(&format!("sha256:{}", "0f".repeat(32))));
        assert!(!is_digest("sha256:ABC"));
    }
}
