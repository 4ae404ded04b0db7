//! HTTPS downloads for updates: small files (the index and its signature) into memory, and a
//! bundle into a file, resumed where it stopped (after a dropped connection, an agent restart
//! or a reboot) with a `Range` request.
//!
//! Owns: the HTTPS client (hyper + rustls with ring), trusting the system's certificate
//! bundle and, for a mirror with its own authority, one more certificate file; redirects
//! (HTTPS only, five at most); the size limits. Never writes past the size the signed index
//! gives, so a server cannot fill the data partition; the content itself is judged by its
//! SHA-256 afterwards (`job`), not here.
//!
//! Limits: HTTP/1.1 only; no proxy support (a library's network that needs one is not served
//! yet).

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::StatusCode;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use url::Url;

/// Where the system keeps the trusted authorities (Buildroot's and Debian's ca-certificates).
pub const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// No byte for this long ends a download (it resumes at the next try).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_REDIRECTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("'{0}' is not an HTTPS address")]
    NotHttps(String),
    #[error("cannot read the certificate file {path}: {message}")]
    Ca { path: PathBuf, message: String },
    #[error("cannot reach {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("{url} answered {status}")]
    Status { url: String, status: u16 },
    #[error("{url} is larger than {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("{url} stopped sending for {secs} s", secs = IDLE_TIMEOUT.as_secs())]
    Stalled { url: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

#[derive(Clone)]
pub struct Fetcher {
    client: HttpsClient,
}

/// An address for a channel's file: absolute HTTPS, or relative to the index's address.
pub fn resolve(base: &Url, reference: &str) -> Result<Url, FetchError> {
    let url = base
        .join(reference)
        .map_err(|_| FetchError::NotHttps(reference.to_owned()))?;
    https(url.as_str())
}

/// Parses an HTTPS address.
pub fn https(text: &str) -> Result<Url, FetchError> {
    match Url::parse(text) {
        Ok(u) if u.scheme() == "https" && u.host().is_some() => Ok(u),
        _ => Err(FetchError::NotHttps(text.to_owned())),
    }
}

/// The TLS client settings (rustls with ring) trusting the system's authorities (when the
/// file exists) and `extra_ca`: shared by update downloads and registry look-ups
/// (`catalog::pin`).
pub fn tls_config(
    system_roots: &Path,
    extra_ca: Option<&Path>,
) -> Result<rustls::ClientConfig, FetchError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let mut add = |path: &Path, required: bool| -> Result<(), FetchError> {
        let ca_error = |message: String| FetchError::Ca {
            path: path.to_owned(),
            message,
        };
        let certs = match CertificateDer::pem_file_iter(path) {
            Ok(certs) => certs,
            Err(_) if !required && !path.exists() => return Ok(()),
            Err(e) => return Err(ca_error(e.to_string())),
        };
        let mut added = 0;
        for cert in certs {
            let cert = cert.map_err(|e| ca_error(e.to_string()))?;
            // The system bundle may hold an authority rustls cannot parse: skip it.
            if roots.add(cert).is_ok() {
                added += 1;
            }
        }
        if required && added == 0 {
            return Err(ca_error("no certificate in it".into()));
        }
        Ok(())
    };
    add(system_roots, false)?;
    if let Some(ca) = extra_ca {
        add(ca, true)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl Fetcher {
    /// A client trusting the system's authorities (when the file exists) and `extra_ca`.
    pub fn new(system_roots: &Path, extra_ca: Option<&Path>) -> Result<Fetcher, FetchError> {
        let tls = tls_config(system_roots, extra_ca)?;
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .wrap_connector(http);
        Ok(Fetcher {
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// A GET following HTTPS redirects; `range_from` asks for the bytes from that offset.
    async fn get(
        &self,
        url: &Url,
        range_from: u64,
    ) -> Result<(Url, hyper::Response<hyper::body::Incoming>), FetchError> {
        let mut url = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let mut request = hyper::Request::get(url.as_str()).header(
                hyper::header::USER_AGENT,
                concat!("panier/", env!("CARGO_PKG_VERSION")),
            );
            if range_from > 0 {
                request = request.header(hyper::header::RANGE, format!("bytes={range_from}-"));
            }
            let request = request
                .body(Empty::new())
                .map_err(|_| FetchError::NotHttps(url.to_string()))?;
            let response = tokio::time::timeout(IDLE_TIMEOUT, self.client.request(request))
                .await
                .map_err(|_| FetchError::Stalled {
                    url: url.to_string(),
                })?
                .map_err(|e| FetchError::Unreachable {
                    url: url.to_string(),
                    message: error_chain(&e),
                })?;
            if response.status().is_redirection()
                && let Some(location) = response
                    .headers()
                    .get(hyper::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
            {
                url = resolve(&url, location)?;
                continue;
            }
            return Ok((url, response));
        }
        Err(FetchError::Unreachable {
            url: url.to_string(),
            message: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }

    /// A small file, into memory; refused past `limit` bytes.
    pub async fn small(&self, url: &Url, limit: usize) -> Result<Vec<u8>, FetchError> {
        let (url, response) = self.get(url, 0).await?;
        if response.status() != StatusCode::OK {
            return Err(FetchError::Status {
                url: url.to_string(),
                status: response.status().as_u16(),
            });
        }
        let mut body = response.into_body();
        let mut out = Vec::new();
        while let Some(frame) = next_frame(&url, &mut body).await? {
            if out.len() + frame.len() > limit {
                return Err(FetchError::TooLarge {
                    url: url.to_string(),
                    limit: limit as u64,
                });
            }
            out.extend_from_slice(&frame);
        }
        Ok(out)
    }

    /// Downloads `url` into `dest` until it holds `size` bytes, continuing from what `dest`
    /// already holds. `progress` gets the bytes held after each write.
    pub async fn resume(
        &self,
        url: &Url,
        dest: &Path,
        size: u64,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<(), FetchError> {
        let write_error = |source| FetchError::Write {
            path: dest.to_owned(),
            source,
        };
        let mut have = tokio::fs::metadata(dest)
            .await
            .map(|m| m.len())
            .unwrap_or(0);
        if have > size {
            // Not the file the index describes (a previous release's leftover): start again.
            tokio::fs::remove_file(dest).await.map_err(write_error)?;
            have = 0;
        }
        if have == size {
            return Ok(());
        }
        let (url, response) = self.get(url, have).await?;
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dest)
            .await
            .map_err(write_error)?;
        match response.status() {
            StatusCode::PARTIAL_CONTENT if content_range_start(&response) == Some(have) => {}
            // The server ignored the range: the whole file comes again.
            StatusCode::OK => {
                file.set_len(0).await.map_err(write_error)?;
                have = 0;
            }
            status => {
                return Err(FetchError::Status {
                    url: url.to_string(),
                    status: status.as_u16(),
                });
            }
        }
        progress(have);
        let mut body = response.into_body();
        while let Some(frame) = next_frame(&url, &mut body).await? {
            if have + frame.len() as u64 > size {
                return Err(FetchError::TooLarge {
                    url: url.to_string(),
                    limit: size,
                });
            }
            file.write_all(&frame).await.map_err(write_error)?;
            have += frame.len() as u64;
            progress(have);
        }
        file.sync_all().await.map_err(write_error)?;
        if have < size {
            return Err(FetchError::Unreachable {
                url: url.to_string(),
                message: format!("the connection ended after {have} of {size} bytes"),
            });
        }
        Ok(())
    }
}

fn content_range_start(response: &hyper::Response<hyper::body::Incoming>) -> Option<u64> {
    let value = response
        .headers()
        .get(hyper::header::CONTENT_RANGE)?
        .to_str()
        .ok()?;
    value
        .strip_prefix("bytes ")?
        .split('-')
        .next()?
        .parse()
        .ok()
}

async fn next_frame(
    url: &Url,
    body: &mut hyper::body::Incoming,
) -> Result<Option<Bytes>, FetchError> {
    loop {
        let frame = tokio::time::timeout(IDLE_TIMEOUT, body.frame())
            .await
            .map_err(|_| FetchError::Stalled {
                url: url.to_string(),
            })?;
        match frame {
            None => return Ok(None),
            Some(Err(e)) => {
                return Err(FetchError::Unreachable {
                    url: url.to_string(),
                    message: error_chain(&e),
                });
            }
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
            }
        }
    }
}

/// An error and its causes in one line (hyper's own message is often just "client error").
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_addresses_are_https_and_resolve_against_the_index() {
        let base = https("https://updates.example/stable/index.json").unwrap();
        assert_eq!(
            resolve(&base, "panier-1.raucb").unwrap().as_str(),
            "https://updates.example/stable/panier-1.raucb"
        );
        assert_eq!(
            resolve(&base, "https://cdn.example/b.raucb")
                .unwrap()
                .as_str(),
            "https://cdn.example/b.raucb"
        );
        assert!(resolve(&base, "http://cdn.example/b.raucb").is_err());
        assert!(https("http://updates.example/index.json").is_err());
        assert!(https("file:///etc/passwd").is_err());
    }
}
