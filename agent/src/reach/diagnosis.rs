//! The diagnosis of the public names, as a visitor would meet them: each name resolves (to
//! the relay when the box has one), its ports 80 and 443 answer, and what answers on 443 is
//! the box's own certificate, valid and not near its end. The box asks from inside the
//! building, through the public address — which is the hairpin check too: a router that
//! cannot send a public address back inside fails it (with the relay, the path goes out
//! and back through the relay, so the check also crosses the tunnel).
//!
//! Names are resolved by the zone's own server when DNS updates are set (what the world will
//! see once caches expire), else by the system's resolver. Each failure has a key,
//! `reach.diagnosis.<key>` says what it means and what to do, in French and English.

use super::Reach;
use super::certificate::Stored;
use crate::i18n::messages;
use crate::names::Language;
use crate::proxy::Text;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(4);

/// One check of one name.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Finding {
    pub host: String,
    /// `dns`, `port80`, `port443` or `certificate`.
    pub check: &'static str,
    pub ok: bool,
    pub key: Option<&'static str>,
    /// What it means and what to do.
    pub message: Option<Text>,
    /// The raw detail (an address, an error).
    pub detail: Option<String>,
}

fn said(key: &str, args: &[(&str, &str)]) -> Text {
    let k = format!("reach.diagnosis.{key}");
    Text {
        fr: messages(Language::Fr).fmt(&k, args),
        en: messages(Language::En).fmt(&k, args),
    }
}

fn ok(host: &str, check: &'static str, detail: String) -> Finding {
    Finding {
        host: host.to_owned(),
        check,
        ok: true,
        key: None,
        message: None,
        detail: Some(detail),
    }
}

fn failed(
    host: &str,
    check: &'static str,
    key: &'static str,
    args: &[(&str, &str)],
    detail: String,
) -> Finding {
    let mut all = vec![("host", host)];
    all.extend_from_slice(args);
    Finding {
        host: host.to_owned(),
        check,
        ok: false,
        key: Some(key),
        message: Some(said(key, &all)),
        detail: Some(detail),
    }
}

async fn resolve(reach: &Reach, host: &str) -> Result<Vec<IpAddr>, String> {
    let settings = reach.settings().map_err(|e| e.to_string())?;
    if let Ok(server) = super::rfc2136::Server::from_settings(&settings) {
        return server
            .addresses(host)
            .await
            .map(|a| a.into_iter().map(IpAddr::V4).collect())
            .map_err(|e| e.to_string());
    }
    tokio::net::lookup_host((host, 443))
        .await
        .map(|a| a.map(|s| s.ip()).collect())
        .map_err(|e| e.to_string())
}

async fn port_answers(addr: SocketAddr) -> Result<(), String> {
    match tokio::time::timeout(TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 4 s".into()),
    }
}

/// Accepts any certificate: the diagnosis compares what it is given with the box's own.
#[derive(Debug)]
struct Capture(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for Capture {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The leaf certificate presented at `addr` for `host`.
async fn presented(addr: SocketAddr, host: &str) -> Result<Vec<u8>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Capture(provider)))
        .with_no_client_auth();
    let name =
        rustls::pki_types::ServerName::try_from(host.to_owned()).map_err(|e| e.to_string())?;
    let connect = async {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        tls.get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.to_vec())
            .ok_or_else(|| "no certificate".to_owned())
    };
    tokio::time::timeout(TIMEOUT, connect)
        .await
        .map_err(|_| "no answer within 4 s".to_owned())?
}

/// The checks of every name in `hosts`.
pub async fn run(reach: &Reach, hosts: &[String]) -> Vec<Finding> {
    let expected: Vec<IpAddr> = match reach.store().relay() {
        Ok(Some(relay)) => tokio::net::lookup_host(relay.endpoint.as_str())
            .await
            .map(|a| a.map(|s| s.ip()).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let stored = Stored::load(reach.certificate_dir()).ok().flatten();
    let mut out = Vec::new();
    for host in hosts {
        let addresses = match resolve(reach, host).await {
            Ok(a) if !a.is_empty() => a,
            Ok(_) => {
                out.push(failed(
                    host,
                    "dns",
                    "dns_missing",
                    &[],
                    "no A record".into(),
                ));
                continue;
            }
            Err(e) => {
                out.push(failed(host, "dns", "dns_missing", &[], e));
                continue;
            }
        };
        let shown = addresses
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        if !expected.is_empty() && !addresses.iter().any(|a| expected.contains(a)) {
            let relay = expected
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            out.push(failed(
                host,
                "dns",
                "dns_elsewhere",
                &[("address", &shown), ("expected", &relay)],
                shown.clone(),
            ));
        } else {
            out.push(ok(host, "dns", shown));
        }
        let ip = addresses[0];
        for (check, port) in [("port80", 80u16), ("port443", 443)] {
            let addr = SocketAddr::new(ip, port);
            match port_answers(addr).await {
                Ok(()) => out.push(ok(host, check, addr.to_string())),
                Err(e) => out.push(failed(
                    host,
                    check,
                    "port_closed",
                    &[("address", &ip.to_string()), ("port", &port.to_string())],
                    e,
                )),
            }
        }
        let Some(stored) = &stored else {
            out.push(failed(
                host,
                "certificate",
                "cert_missing",
                &[],
                String::new(),
            ));
            continue;
        };
        match presented(SocketAddr::new(ip, 443), host).await {
            Ok(der)
                if stored
                    .chain
                    .first()
                    .is_some_and(|c| c.as_ref() == der.as_slice()) =>
            {
                let now = crate::store::now();
                let lifetime = stored.not_after - stored.not_before;
                let until = crate::http::time::format_time(stored.not_after);
                if stored.not_after - now < lifetime / 6 || !stored.names.contains(host) {
                    out.push(failed(
                        host,
                        "certificate",
                        "cert_expiring",
                        &[("date", &until)],
                        until.clone(),
                    ));
                } else {
                    out.push(ok(host, "certificate", until));
                }
            }
            Ok(_) => out.push(failed(
                host,
                "certificate",
                "cert_other",
                &[],
                "another certificate".into(),
            )),
            Err(e) => out.push(failed(host, "certificate", "cert_other", &[], e)),
        }
    }
    out
}
