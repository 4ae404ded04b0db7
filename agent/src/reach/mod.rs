//! Reaching the box from outside the building: its public domain, each service's public name,
//! trusted certificates from an ACME authority, and the relay.
//!
//! Owns the `reach_*` tables and `<data>/tls/public/`. The admin gives the box a domain
//! (`biblio.example.org`); every service with a web entry then has the public name
//! `<service>.<domain>` unless the admin chose another one. The [`Reach`] handle is the source
//! of those names for the services (`apps::PublicNames`: their address follows it) and for
//! the proxy (`proxy::PublicHosts`: the names route to the services, HTTP-01 tokens are
//! answered on the HTTP entry). The certificate for the public names comes from the
//! ACME directory set here (Let's Encrypt by default) through `acme`, validated either by
//! HTTP-01 (the box must be reachable on port 80 under those names) or by DNS-01 through
//! RFC 2136 dynamic updates signed with TSIG (`rfc2136`), and is served by SNI (`tls`).
//!
//! Invariants: a domain and a public name are validated DNS names (no `.local`); a public
//! name belongs to one service; the admin UI is never served under a public name (the proxy
//! answers a help page instead); the TSIG secret is never shown back (only whether it is
//! set). Settings only record the wanted state and wake the owners (apps, proxy, the
//! certificate loop), which bring the world in line.
//!
//! Limits: one certificate covers every public name (an order per change of the set); no
//! wildcard; A/AAAA records are the association's to keep (or the relay's address).

pub mod acme;
pub mod certificate;
pub mod diagnosis;
pub mod relay;
pub mod rfc2136;

use crate::admins::Actor;
use crate::apps::PublicNames;
use crate::catalog::AppId;
use crate::store::{AttemptRecord, NewAudit, ReachRow, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Let's Encrypt's production directory: the default authority.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

#[derive(Debug, thiserror::Error)]
pub enum ReachError {
    #[error(
        "{0:?} is not a domain name the box can use (letters, digits and hyphens, at least two labels, not .local)"
    )]
    InvalidDomain(String),
    #[error("{0:?} is not a public name the box can use")]
    InvalidName(String),
    #[error("the public name {0} is already another service's")]
    NameTaken(String),
    #[error("the challenge must be http-01 or dns-01, not {0:?}")]
    InvalidChallenge(String),
    #[error("the ACME directory must be an https:// address")]
    InvalidDirectory,
    #[error("DNS-01 needs the DNS server (host:port), the TSIG key's name and its secret (base64)")]
    DnsIncomplete,
    #[error("the TSIG setting is invalid: {0}")]
    InvalidTsig(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ReachError {
    pub fn key(&self) -> &'static str {
        match self {
            ReachError::InvalidDomain(_) => "reach_domain_invalid",
            ReachError::InvalidName(_) => "reach_name_invalid",
            ReachError::NameTaken(_) => "reach_name_taken",
            ReachError::InvalidChallenge(_) => "reach_challenge_invalid",
            ReachError::InvalidDirectory => "reach_directory_invalid",
            ReachError::DnsIncomplete => "reach_dns_incomplete",
            ReachError::InvalidTsig(_) => "reach_tsig_invalid",
            ReachError::Store(_) => "internal",
        }
    }
}

/// A DNS name the box may be known by outside: lowercase labels, two at least, not `.local`.
pub fn parse_domain(raw: &str) -> Option<String> {
    let name = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = name.split('.').collect();
    let ok = name.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| crate::proxy::valid_label(l))
        && !name.ends_with(".local")
        && name != "localhost";
    ok.then_some(name)
}

/// How the authority checks that the box holds its names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Challenge {
    #[serde(rename = "http-01")]
    Http01,
    #[serde(rename = "dns-01")]
    Dns01,
}

impl Challenge {
    pub fn parse(s: &str) -> Result<Challenge, ReachError> {
        match s {
            "http-01" => Ok(Challenge::Http01),
            "dns-01" => Ok(Challenge::Dns01),
            other => Err(ReachError::InvalidChallenge(other.to_owned())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Challenge::Http01 => "http-01",
            Challenge::Dns01 => "dns-01",
        }
    }
}

/// A change of the ACME settings (absent fields are kept).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcmeChange {
    pub directory: Option<String>,
    pub contact: Option<String>,
    pub challenge: Option<String>,
    pub dns_server: Option<String>,
    pub dns_zone: Option<String>,
    pub tsig_name: Option<String>,
    pub tsig_algorithm: Option<String>,
    pub tsig_secret: Option<String>,
}

/// A service's public name as the admin sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicService {
    pub app: String,
    pub host: String,
    /// Chosen by the admin (else `<service>.<domain>`).
    pub chosen: bool,
}

/// What the Reach section and `GET /api/v1/reach` show.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReachView {
    pub domain: Option<String>,
    pub directory: String,
    pub contact: Option<String>,
    pub challenge: Challenge,
    pub dns_server: Option<String>,
    pub dns_zone: Option<String>,
    pub tsig_name: Option<String>,
    pub tsig_algorithm: String,
    pub tsig_secret_set: bool,
    pub services: Vec<PublicService>,
    pub certificate: Option<certificate::CertificateView>,
    pub last_attempt: Option<AttemptView>,
}

/// The last attempt at the certificate; a failure says what happened and what to do, in
/// both languages.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AttemptView {
    pub at: i64,
    pub ok: bool,
    pub error_key: Option<String>,
    /// The authority's or the DNS server's own words.
    pub detail: Option<String>,
    pub message: Option<crate::proxy::Text>,
}

/// The reach domain's handle (cheap to clone).
#[derive(Clone)]
pub struct Reach {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    dir: PathBuf,
    /// HTTP-01 tokens being validated → their key authorization.
    tokens: Mutex<HashMap<String, String>>,
    /// Bumped at every change of the settings or the relay (the owners follow).
    changes: tokio::sync::watch::Sender<u64>,
    /// What the relay's loop saw last.
    relay_seen: std::sync::RwLock<relay::Seen>,
}

impl Reach {
    pub fn new(store: Store, data_dir: &Path) -> Reach {
        let box_ip = store
            .relay()
            .ok()
            .flatten()
            .and_then(|r| r.box_address.split('/').next()?.parse().ok());
        Reach {
            inner: Arc::new(Inner {
                relay_seen: std::sync::RwLock::new(relay::Seen {
                    box_ip,
                    ..Default::default()
                }),
                store,
                dir: data_dir.join("tls").join("public"),
                tokens: Mutex::new(HashMap::new()),
                changes: tokio::sync::watch::Sender::new(0),
            }),
        }
    }

    /// Changes whenever the settings do.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    fn bump(&self) {
        self.inner.changes.send_modify(|n| *n += 1);
    }

    fn bump_relay(&self) {
        if let Ok(row) = self.inner.store.relay() {
            let mut seen = self
                .inner
                .relay_seen
                .write()
                .unwrap_or_else(|p| p.into_inner());
            seen.box_ip = row.and_then(|r| r.box_address.split('/').next()?.parse().ok());
        }
        self.bump();
    }

    fn relay_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes()
    }

    fn relay_seen(&self) -> relay::Seen {
        self.inner
            .relay_seen
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_relay_seen(&self, seen: relay::Seen) {
        *self
            .inner
            .relay_seen
            .write()
            .unwrap_or_else(|p| p.into_inner()) = seen;
    }

    /// Where the public certificate lives.
    pub fn certificate_dir(&self) -> &Path {
        &self.inner.dir
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn settings(&self) -> Result<ReachRow, StoreError> {
        self.inner.store.reach_settings()
    }

    fn domain(&self) -> Option<String> {
        self.settings().ok().and_then(|s| s.domain)
    }

    /// The public name of the web entry `name` (a service's id), if the box has a domain.
    pub fn host_for(&self, name: &str) -> Option<String> {
        let domain = self.domain()?;
        let chosen = self
            .inner
            .store
            .reach_names()
            .ok()?
            .into_iter()
            .find(|(app, _)| app == name)
            .map(|(_, host)| host);
        Some(chosen.unwrap_or_else(|| format!("{name}.{domain}")))
    }

    fn audit(actor: &Actor, action: &'static str, target: &str) -> NewAudit {
        actor.audit_ok(action, target)
    }

    /// Sets (`Some`) or removes (`None`) the box's domain.
    pub fn set_domain(&self, actor: &Actor, domain: Option<&str>) -> Result<(), ReachError> {
        let domain = match domain.map(str::trim).filter(|d| !d.is_empty()) {
            Some(d) => Some(parse_domain(d).ok_or_else(|| ReachError::InvalidDomain(d.into()))?),
            None => None,
        };
        let mut row = self.settings()?;
        row.domain = domain.clone();
        let audit = Self::audit(actor, "reach_domain", domain.as_deref().unwrap_or("-"));
        self.inner.store.save_reach_settings(&row, &audit)?;
        log::info!("public domain: {}", domain.as_deref().unwrap_or("none"));
        self.bump();
        Ok(())
    }

    /// Chooses the public name of `app` (`None`: back to `<app>.<domain>`).
    pub fn set_name(&self, actor: &Actor, app: &str, host: Option<&str>) -> Result<(), ReachError> {
        if !crate::proxy::valid_label(app) {
            return Err(ReachError::InvalidName(app.to_owned()));
        }
        let host = match host.map(str::trim).filter(|h| !h.is_empty()) {
            Some(h) => Some(parse_domain(h).ok_or_else(|| ReachError::InvalidName(h.into()))?),
            None => None,
        };
        let audit = Self::audit(
            actor,
            "reach_name",
            &format!("{app}={}", host.as_deref().unwrap_or("-")),
        );
        if !self
            .inner
            .store
            .set_reach_name(app, host.as_deref(), &audit)?
        {
            return Err(ReachError::NameTaken(host.unwrap_or_default()));
        }
        self.bump();
        Ok(())
    }

    /// Changes how certificates are obtained.
    pub fn set_acme(&self, actor: &Actor, change: AcmeChange) -> Result<(), ReachError> {
        let mut row = self.settings()?;
        let clean = |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        if let Some(d) = clean(change.directory) {
            if !d.starts_with("https://") || url::Url::parse(&d).is_err() {
                return Err(ReachError::InvalidDirectory);
            }
            row.acme_directory = d;
        }
        if let Some(c) = change.contact {
            row.acme_contact = clean(Some(c));
        }
        if let Some(c) = change.challenge {
            row.challenge = Challenge::parse(c.trim())?.as_str().to_owned();
        }
        if let Some(s) = change.dns_server {
            row.dns_server = clean(Some(s));
        }
        if let Some(z) = change.dns_zone {
            row.dns_zone = match clean(Some(z)) {
                Some(z) => Some(parse_domain(&z).ok_or(ReachError::InvalidDomain(z))?),
                None => None,
            };
        }
        if let Some(n) = change.tsig_name {
            row.tsig_name = clean(Some(n));
        }
        if let Some(a) = clean(change.tsig_algorithm) {
            row.tsig_algorithm = a;
        }
        if let Some(s) = change.tsig_secret {
            row.tsig_secret = clean(Some(s));
        }
        if row.challenge == "dns-01" {
            rfc2136::Server::from_settings(&row)?;
        }
        let audit = Self::audit(actor, "reach_acme", &row.challenge);
        self.inner.store.save_reach_settings(&row, &audit)?;
        self.bump();
        Ok(())
    }

    /// The settings, the names of `routes` (the proxy's web entries), the certificate and the
    /// last attempt.
    pub fn view(&self, routes: &[String]) -> Result<ReachView, StoreError> {
        let row = self.settings()?;
        let chosen: HashMap<String, String> = self.inner.store.reach_names()?.into_iter().collect();
        let services = match &row.domain {
            Some(domain) => routes
                .iter()
                .map(|app| PublicService {
                    app: app.clone(),
                    host: chosen
                        .get(app)
                        .cloned()
                        .unwrap_or_else(|| format!("{app}.{domain}")),
                    chosen: chosen.contains_key(app),
                })
                .collect(),
            None => Vec::new(),
        };
        Ok(ReachView {
            challenge: Challenge::parse(&row.challenge).unwrap_or(Challenge::Http01),
            domain: row.domain,
            directory: row.acme_directory,
            contact: row.acme_contact,
            dns_server: row.dns_server,
            dns_zone: row.dns_zone,
            tsig_name: row.tsig_name,
            tsig_algorithm: row.tsig_algorithm,
            tsig_secret_set: row.tsig_secret.is_some(),
            services,
            certificate: certificate::Stored::load(&self.inner.dir)
                .ok()
                .flatten()
                .map(|c| c.view()),
            last_attempt: self.inner.store.reach_attempt()?.map(attempt_view),
        })
    }

    pub(crate) fn record_attempt(&self, result: Result<(), &acme::AcmeError>) {
        let record = AttemptRecord {
            at: crate::store::now(),
            ok: result.is_ok(),
            error_key: result.err().map(|e| e.key().to_owned()),
            error: result.err().map(|e| e.to_string()),
        };
        if let Err(e) = self.inner.store.record_reach_attempt(&record) {
            log::error!("{e}");
        }
    }

    pub(crate) fn put_token(&self, token: &str, key_authorization: &str) {
        self.tokens()
            .insert(token.to_owned(), key_authorization.to_owned());
    }

    pub(crate) fn drop_token(&self, token: &str) {
        self.tokens().remove(token);
    }

    fn tokens(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.inner.tokens.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn attempt_view(a: AttemptRecord) -> AttemptView {
    let message = a.error_key.as_deref().map(|key| {
        let k = format!("reach.failure.{key}");
        crate::proxy::Text {
            fr: crate::i18n::messages(crate::names::Language::Fr)
                .get(&k)
                .to_owned(),
            en: crate::i18n::messages(crate::names::Language::En)
                .get(&k)
                .to_owned(),
        }
    });
    AttemptView {
        at: a.at,
        ok: a.ok,
        error_key: a.error_key,
        detail: a.error,
        message,
    }
}

impl PublicNames for Reach {
    fn public_name(&self, app: &AppId) -> Option<String> {
        self.host_for(app.as_str())
    }
}

impl crate::proxy::PublicHosts for Reach {
    fn public_host(&self, name: &str) -> Option<String> {
        self.host_for(name)
    }

    fn public_domain(&self) -> Option<String> {
        self.domain()
    }

    fn http01(&self, token: &str) -> Option<String> {
        self.tokens().get(token).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_checked() {
        assert_eq!(
            parse_domain("Biblio.Example.org."),
            Some("biblio.example.org".into())
        );
        assert_eq!(parse_domain("example"), None);
        assert_eq!(parse_domain("biblio.local"), None);
        assert_eq!(parse_domain("a..b"), None);
        assert_eq!(parse_domain("-a.org"), None);
        assert_eq!(parse_domain("a b.org"), None);
    }

    #[test]
    fn names_default_to_the_service_under_the_domain_and_can_be_chosen() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("p.db")).unwrap();
        let reach = Reach::new(store, dir.path());
        let actor = Actor::Local { uid: 0 };
        assert_eq!(reach.host_for("pad"), None);
        reach
            .set_domain(&actor, Some("biblio.example.org"))
            .unwrap();
        assert_eq!(
            reach.host_for("pad").as_deref(),
            Some("pad.biblio.example.org")
        );
        reach
            .set_name(&actor, "pad", Some("notes.example.org"))
            .unwrap();
        assert_eq!(reach.host_for("pad").as_deref(), Some("notes.example.org"));
        assert!(matches!(
            reach.set_name(&actor, "wiki", Some("notes.example.org")),
            Err(ReachError::NameTaken(_))
        ));
        assert!(matches!(
            reach.set_domain(&actor, Some("box.local")),
            Err(ReachError::InvalidDomain(_))
        ));
        reach.set_name(&actor, "pad", None).unwrap();
        assert_eq!(
            reach.host_for("pad").as_deref(),
            Some("pad.biblio.example.org")
        );
    }
}
