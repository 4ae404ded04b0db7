//! A service's probes (`[[probe]]`): what a working install answers, as the package check
//! (`panier catalog smoke`) asks it from outside, the way a visitor reaches it.
//!
//! Two kinds, one per entry:
//! - `http = "/path"`: a GET through the box's proxy by the service's name (HTTPS, the
//!   service's own host name), answered with `status` (default 200) and a body holding
//!   `contains`;
//! - `tcp = PORT`: a connection to one of the service's published TCP host ports
//!   (`[[publish]] host_port`), for services that speak something else than HTTP.
//!
//! Checked here: every service has at least one probe (a service no check can prove is not
//! proven); exactly one kind per entry; an HTTP probe needs `[web]`, a path starting with `/`,
//! a status between 100 and 599 and a non-empty `contains`; a TCP probe names a published TCP
//! host port and takes neither `status` nor `contains`. Each problem is said in English and
//! French.

use super::manifest::{Manifest, Proto};
use super::validate::Problems;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    /// An HTTP path asked through the proxy by the service's name.
    pub http: Option<String>,
    /// The HTTP status it must answer (default 200).
    pub status: Option<u16>,
    /// A piece of text the answer's body must hold.
    pub contains: Option<String>,
    /// A published TCP host port that must accept a connection.
    pub tcp: Option<u16>,
}

/// What a probe asks, once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check<'a> {
    Http {
        path: &'a str,
        status: u16,
        contains: &'a str,
    },
    Tcp {
        port: u16,
    },
}

impl Probe {
    /// The check this probe makes (the manifest passed validation, so exactly one kind).
    pub fn check(&self) -> Check<'_> {
        match (&self.http, self.tcp) {
            (Some(path), _) => Check::Http {
                path,
                status: self.status.unwrap_or(200),
                contains: self.contains.as_deref().unwrap_or(""),
            },
            (None, Some(port)) => Check::Tcp { port },
            (None, None) => Check::Tcp { port: 0 },
        }
    }

    /// How the probe reads in a report: `GET /path → 200 "text"` or `TCP 5222`.
    pub fn label(&self) -> String {
        match self.check() {
            Check::Http {
                path,
                status,
                contains,
            } => format!("GET {path} → {status} \"{contains}\""),
            Check::Tcp { port } => format!("TCP {port}"),
        }
    }
}

/// Both languages in one problem: the catalog's errors are read by whoever writes the
/// manifest, in either language.
fn both(en: impl AsRef<str>, fr: impl AsRef<str>) -> String {
    format!("{} / {}", en.as_ref(), fr.as_ref())
}

/// Every check of this module, adding to `p`.
pub(super) fn check(m: &Manifest, p: &mut Problems<'_>) {
    if m.probe.is_empty() {
        p.add(
            "probe",
            both(
                "every service needs at least one [[probe]] (http = \"/path\" with contains, or tcp = a published port), so that the package check can prove it",
                "chaque service a besoin d'au moins une [[probe]] (http = \"/chemin\" avec contains, ou tcp = un port publié), pour que la vérification du paquet puisse le prouver",
            ),
        );
    }
    for (i, probe) in m.probe.iter().enumerate() {
        let f = |x: &str| format!("probe[{i}].{x}");
        match (&probe.http, probe.tcp) {
            (Some(_), Some(_)) => p.add(
                format!("probe[{i}]"),
                both(
                    "one kind per probe: http or tcp, not both",
                    "une seule sorte par sonde : http ou tcp, pas les deux",
                ),
            ),
            (None, None) => p.add(
                format!("probe[{i}]"),
                both(
                    "say what to check: http = \"/path\" or tcp = a published port",
                    "dites quoi vérifier : http = \"/chemin\" ou tcp = un port publié",
                ),
            ),
            (Some(path), None) => {
                if m.web.is_none() {
                    p.add(
                        f("http"),
                        both(
                            "an HTTP probe goes through the proxy: the service needs a [web] entry",
                            "une sonde HTTP passe par le proxy : le service a besoin d'une entrée [web]",
                        ),
                    );
                }
                if !path.starts_with('/') || path.contains(char::is_whitespace) {
                    p.add(
                        f("http"),
                        both(
                            format!("'{path}' is not a path starting with '/' (no spaces)"),
                            format!(
                                "'{path}' n'est pas un chemin commençant par '/' (sans espaces)"
                            ),
                        ),
                    );
                }
                if let Some(s) = probe.status
                    && !(100..=599).contains(&s)
                {
                    p.add(
                        f("status"),
                        both(
                            format!("{s} is not an HTTP status (100 to 599)"),
                            format!("{s} n'est pas un statut HTTP (100 à 599)"),
                        ),
                    );
                }
                if probe
                    .contains
                    .as_deref()
                    .is_none_or(|c| c.trim().is_empty())
                {
                    p.add(
                        f("contains"),
                        both(
                            "say a piece of text the answer must hold (a status alone proves little)",
                            "donnez un morceau du texte que la réponse doit contenir (un statut seul prouve peu)",
                        ),
                    );
                }
            }
            (None, Some(port)) => {
                if probe.status.is_some() || probe.contains.is_some() {
                    p.add(
                        f("tcp"),
                        both(
                            "a TCP probe only checks that the port accepts a connection: no status nor contains",
                            "une sonde TCP vérifie seulement que le port accepte une connexion : ni status ni contains",
                        ),
                    );
                }
                if !m
                    .publish
                    .iter()
                    .any(|pb| pb.host_port == port && pb.proto == Proto::Tcp)
                {
                    p.add(
                        f("tcp"),
                        both(
                            format!("port {port} is not a TCP host port of this service's [[publish]]"),
                            format!("le port {port} n'est pas un port TCP publié par ce service ([[publish]])"),
                        ),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_say_what_is_checked() {
        let http = Probe {
            http: Some("/health".into()),
            status: None,
            contains: Some("ok".into()),
            tcp: None,
        };
        assert_eq!(http.label(), "GET /health → 200 \"ok\"");
        let tcp = Probe {
            http: None,
            status: None,
            contains: None,
            tcp: Some(5222),
        };
        assert_eq!(tcp.check(), Check::Tcp { port: 5222 });
        assert_eq!(tcp.label(), "TCP 5222");
    }
}
