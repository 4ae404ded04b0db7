//! Running a service's probes from outside, as a visitor would reach it: an HTTP probe is a
//! GET over HTTPS to the scratch agent's entry, with the service's own name for SNI and
//! `Host` (so it goes through the proxy by name, the box's certificate checked against the
//! box's own authority); a TCP probe connects to the published port on this machine.
//!
//! Each probe is retried until it passes or its time runs out (a service that reports
//! healthy may still be warming up behind the proxy, which also needs its next refresh to
//! route a new container's address); the last answer says why it failed.

use super::scratch::{Failure, fail};
use crate::catalog::probe::{Check, Probe};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const MAX_BODY: usize = 4 << 20;

/// Where the probes go.
pub struct Target<'a> {
    /// The service's host name (`<id>-smoke.local`).
    pub host: String,
    /// The scratch agent's HTTPS entry on loopback.
    pub https_port: u16,
    /// The scratch box's certificate authority.
    pub ca: &'a Path,
}

/// Runs every probe (each retried within `limit`); the first that fails says why.
pub async fn run_all(
    probes: &[Probe],
    target: &Target<'_>,
    limit: Duration,
) -> Result<(), Failure> {
    for probe in probes {
        let start = Instant::now();
        loop {
            match once(probe, target).await {
                Ok(()) => break,
                Err(why) if start.elapsed() >= limit => {
                    return Err(fail(
                        format!("la sonde {} échoue : {}", probe.label(), why.fr),
                        format!("the probe {} fails: {}", probe.label(), why.en),
                    ));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }
    Ok(())
}

/// One try of one probe.
pub async fn once(probe: &Probe, target: &Target<'_>) -> Result<(), Failure> {
    match probe.check() {
        Check::Tcp { port } => tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect(("127.0.0.1", port)),
        )
        .await
        .map_err(|_| fail("pas de réponse en 5 s", "no answer within 5 s"))?
        .map(|_| ())
        .map_err(|e| {
            fail(
                format!("connexion refusée ({e})"),
                format!("connection refused ({e})"),
            )
        }),
        Check::Http {
            path,
            status,
            contains,
        } => {
            let (got, body) = tokio::time::timeout(Duration::from_secs(15), get(target, path))
                .await
                .map_err(|_| fail("pas de réponse en 15 s", "no answer within 15 s"))??;
            if got != status {
                return Err(fail(
                    format!("le statut est {got}, pas {status}"),
                    format!("the status is {got}, not {status}"),
                ));
            }
            if !String::from_utf8_lossy(&body).contains(contains) {
                return Err(fail(
                    format!("la réponse ne contient pas « {contains} »"),
                    format!("the answer does not hold \"{contains}\""),
                ));
            }
            Ok(())
        }
    }
}

async fn get(target: &Target<'_>, path: &str) -> Result<(u16, Bytes), Failure> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let transport = |e: String| {
        fail(
            format!("connexion impossible : {e}"),
            format!("cannot connect: {e}"),
        )
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(target.ca).map_err(|e| transport(e.to_string()))? {
        roots
            .add(cert.map_err(|e| transport(e.to_string()))?)
            .map_err(|e| transport(e.to_string()))?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from(target.host.clone()).map_err(|e| transport(e.to_string()))?;
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", target.https_port))
        .await
        .map_err(|e| transport(e.to_string()))?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(name, tcp)
        .await
        .map_err(|e| transport(format!("TLS: {e}")))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| transport(e.to_string()))?;
    tokio::spawn(conn);
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, &target.host)
        .header(hyper::header::USER_AGENT, "panier-smoke")
        .body(Empty::<Bytes>::new())
        .map_err(|e| transport(e.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| transport(e.to_string()))?;
    let status = response.status().as_u16();
    let body = http_body_util::Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| transport(e.to_string()))?
        .to_bytes();
    Ok((status, body))
}
