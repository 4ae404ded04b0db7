//! Where the firewall learns which host ports each service publishes, and on which fixed
//! port the proxy serves it.
//!
//! The firewall only needs `(app, protocol, host port)` triples, behind [`PublishedPorts`].
//! [`EngineLabels`] reads them from the container engine itself: the published ports of
//! containers labelled `org.panier.app=<id>` (the label the `apps` domain puts on its
//! containers). Reading what the engine really publishes, rather than what the manifests ask
//! for, means a port is governed by the policy even while the reconciler is catching up.

use super::types::{Port, Proto};
use std::io::{Read, Write};
use std::time::Duration;

/// The label that names a container's app.
pub const APP_LABEL: &str = "org.panier.app";

pub trait PublishedPorts: Send + Sync {
    /// Every published host port, with its app. Errors are logged and read as "none".
    fn published(&self) -> Vec<(String, Proto, Port)>;
}

/// The proxy's fixed ports (`proxy::FixedPorts`: one plain-HTTP listener per service, for
/// clients without mDNS). The daemon implements it over the proxy's route table.
pub trait ProxyPorts: Send + Sync {
    /// `(app, port)` for every service the proxy answers on a fixed port.
    fn proxy_ports(&self) -> Vec<(String, Port)>;
}

/// No services (the firewall still protects the box itself).
pub struct NoServices;

impl PublishedPorts for NoServices {
    fn published(&self) -> Vec<(String, Proto, Port)> {
        Vec::new()
    }
}

impl ProxyPorts for NoServices {
    fn proxy_ports(&self) -> Vec<(String, Port)> {
        Vec::new()
    }
}

/// Reads published ports of labelled containers from the engine's API socket.
pub struct EngineLabels {
    socket: std::path::PathBuf,
}

impl EngineLabels {
    /// `url` is the engine's `unix:///…` URL.
    pub fn new(url: &str) -> EngineLabels {
        EngineLabels {
            socket: url.trim_start_matches("unix://").into(),
        }
    }

    fn fetch(&self) -> std::io::Result<String> {
        let mut stream = std::os::unix::net::UnixStream::connect(&self.socket)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let filter = format!("%7B%22label%22%3A%5B%22{APP_LABEL}%22%5D%7D");
        write!(
            stream,
            "GET /containers/json?filters={filter} HTTP/1.0\r\nHost: engine\r\n\r\n"
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
            return Err(std::io::Error::other(
                head.lines().next().unwrap_or("").to_owned(),
            ));
        }
        Ok(body.to_owned())
    }
}

/// The triples in an engine's `/containers/json` answer. Pure, for tests.
pub fn parse_containers(json: &str) -> Vec<(String, Proto, Port)> {
    let value: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    let mut out = Vec::new();
    for c in value.as_array().into_iter().flatten() {
        let Some(app) = c["Labels"][APP_LABEL].as_str() else {
            continue;
        };
        for p in c["Ports"].as_array().into_iter().flatten() {
            let proto = match p["Type"].as_str() {
                Some("tcp") => Proto::Tcp,
                Some("udp") => Proto::Udp,
                _ => continue,
            };
            let Some(port) = p["PublicPort"]
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .and_then(|n| Port::new(n).ok())
            else {
                continue;
            };
            out.push((app.to_owned(), proto, port));
        }
    }
    out.sort();
    out.dedup();
    out
}

impl PublishedPorts for EngineLabels {
    fn published(&self) -> Vec<(String, Proto, Port)> {
        match self.fetch() {
            Ok(body) => parse_containers(&body),
            Err(e) => {
                log::debug!("cannot list containers on {}: {e}", self.socket.display());
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_ports_of_labelled_containers() {
        let json = r#"[{"Labels":{"org.panier.app":"pad"},"Ports":[{"IP":"0.0.0.0","PrivatePort":9001,"PublicPort":9001,"Type":"tcp"},{"IP":"::","PrivatePort":9001,"PublicPort":9001,"Type":"tcp"},{"PrivatePort":80,"Type":"tcp"}]},
                       {"Labels":{},"Ports":[{"PublicPort":1,"Type":"tcp"}]}]"#;
        assert_eq!(
            parse_containers(json),
            vec![("pad".to_owned(), Proto::Tcp, Port::new(9001).unwrap())]
        );
        assert!(parse_containers("not json").is_empty());
    }
}
