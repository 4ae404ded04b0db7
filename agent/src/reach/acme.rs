//! The public certificate's loop: obtain it from the ACME directory, renew it early, record
//! every attempt.
//!
//! Each round compares the wanted names (every web entry's public name, from the proxy's
//! table) with the stored certificate: a certificate is ordered when there is none, when a
//! name is missing from it, or when its renewal time has come — two thirds of its lifetime,
//! or the start of the window the authority suggests through ACME Renewal Information
//! (RFC 9773) when it offers it, whichever is first. A failure is recorded with its key and
//! the authority's or DNS server's words (`reach_attempts`), and tried again after 30 s,
//! then twice as long each time, up to an hour; a change of the settings or of the names
//! tries again at once.
//!
//! Challenges: HTTP-01 tokens are answered by the proxy's HTTP entry (`Reach::http01`) for
//! the time of the order; DNS-01 records are added through RFC 2136 and removed afterwards,
//! whatever the outcome.

use super::certificate::{CertificateError, Stored};
use super::rfc2136::{self, UpdateError};
use super::{Challenge, Reach, ReachError};
use crate::proxy::Proxy;
use crate::store::ReachRow;
use crate::tls::Tls;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, CertificateIdentifier, ChallengeType,
    Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::watch;

const PERIOD: Duration = Duration::from_secs(60);
const RETRY_FIRST: Duration = Duration::from_secs(30);
const RETRY_MAX: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    #[error("the ACME directory {directory} cannot be used: {detail}")]
    Directory { directory: String, detail: String },
    #[error("the ACME authority refused: {0}")]
    Refused(String),
    #[error("the ACME authority could not validate {name}: {detail}")]
    Validation { name: String, detail: String },
    #[error("the ACME authority offers no {kind} challenge for {name}")]
    NoChallenge { kind: &'static str, name: String },
    #[error(transparent)]
    Dns(#[from] UpdateError),
    #[error(transparent)]
    Settings(#[from] ReachError),
    #[error(transparent)]
    Certificate(#[from] CertificateError),
    #[error("cannot make the certificate request: {0}")]
    Request(String),
    #[error("cannot keep the ACME account in {path}: {detail}")]
    Account { path: PathBuf, detail: String },
}

impl AcmeError {
    /// The failure's key: `reach.failure.<key>` says what happened and what to do.
    pub fn key(&self) -> &'static str {
        match self {
            AcmeError::Directory { .. } => "acme_unreachable",
            AcmeError::Refused(_) => "acme_refused",
            AcmeError::Validation { .. } => "validation_failed",
            AcmeError::NoChallenge { .. } => "no_challenge",
            AcmeError::Dns(UpdateError::Unreachable { .. }) => "dns_unreachable",
            AcmeError::Dns(UpdateError::Refused { .. }) => "dns_refused",
            AcmeError::Dns(UpdateError::Build { .. }) | AcmeError::Settings(_) => "settings",
            AcmeError::Certificate(_) | AcmeError::Request(_) | AcmeError::Account { .. } => {
                "internal"
            }
        }
    }
}

fn refused(e: instant_acme::Error) -> AcmeError {
    AcmeError::Refused(e.to_string())
}

/// What the loop remembers between rounds.
#[derive(Default)]
struct State {
    account: Option<(String, Account)>,
    /// After a failure: when to try again, and the next delay.
    retry: Option<(std::time::Instant, Duration)>,
    /// The certificate served now (its expiry and names), to install a new one only once.
    served: Option<(i64, BTreeSet<String>)>,
    /// ARI: the suggested window's start for the stored certificate, and when to ask again.
    ari: Option<(i64, i64, i64)>,
}

/// Obtains and renews the public certificate.
pub struct Issuer {
    pub reach: Reach,
    pub proxy: Proxy,
    pub tls: Tls,
    /// Extra roots to trust for the ACME directory (a private authority; tests).
    pub root: Option<PathBuf>,
}

impl Issuer {
    /// Runs until `stop`.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let (mut settings, mut routes) = (self.reach.changes(), self.proxy.changes());
        let mut state = State::default();
        loop {
            let wait = self.round(&mut state).await;
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = settings.changed() => state.retry = None,
                _ = routes.changed() => {}
                _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
            }
        }
    }

    fn wanted(&self) -> BTreeSet<String> {
        self.proxy
            .table()
            .routes
            .iter()
            .filter_map(|p| self.reach.host_for(&p.route.name))
            .collect()
    }

    fn serve(&self, state: &mut State, stored: Option<&Stored>) {
        let now_serving = stored.map(|s| (s.not_after, s.names.clone()));
        if state.served == now_serving {
            return;
        }
        match stored.map(|s| s.certified().map(|c| (s, c))) {
            Some(Ok((s, certified))) => {
                self.tls.set_public(Some((s.names.clone(), certified)));
                log::info!(
                    "serving the public certificate for {} (until {})",
                    s.names.iter().cloned().collect::<Vec<_>>().join(", "),
                    s.not_after
                );
            }
            Some(Err(e)) => log::error!("{e}"),
            None => self.tls.set_public(None),
        }
        state.served = now_serving;
    }

    /// One round; returns how long to wait before the next.
    async fn round(&self, state: &mut State) -> Duration {
        let settings = match self.reach.settings() {
            Ok(s) => s,
            Err(e) => {
                log::error!("{e}");
                return PERIOD;
            }
        };
        let stored = match Stored::load(self.reach.certificate_dir()) {
            Ok(s) => s,
            Err(e) => {
                log::error!("{e}; a new certificate will be ordered");
                None
            }
        };
        if settings.domain.is_none() {
            self.serve(state, None);
            return PERIOD;
        }
        self.serve(state, stored.as_ref());
        let wanted = self.wanted();
        if wanted.is_empty() {
            return PERIOD;
        }
        let now = crate::store::now();
        let renew_at = match &stored {
            Some(s) => {
                let ari = self.ari_start(state, &settings, s, now).await;
                ari.map_or(s.renew_at(), |start| start.min(s.renew_at()))
            }
            None => now,
        };
        let due = match &stored {
            None => true,
            Some(s) => !wanted.is_subset(&s.names) || now >= renew_at,
        };
        if !due {
            return Duration::from_secs((renew_at - now).max(1) as u64).min(PERIOD);
        }
        if let Some((at, _)) = state.retry
            && at > std::time::Instant::now()
        {
            return at - std::time::Instant::now();
        }
        let replaces = stored
            .as_ref()
            .filter(|_| state.ari.is_some_and(|(_, start, _)| start > 0))
            .and_then(|s| s.ari_id());
        log::info!(
            "ordering a certificate for {} ({})",
            wanted.iter().cloned().collect::<Vec<_>>().join(", "),
            settings.challenge
        );
        match self.issue(state, &settings, &wanted, replaces).await {
            Ok(s) => {
                self.reach.record_attempt(Ok(()));
                state.retry = None;
                state.ari = None;
                let wait = Duration::from_secs((s.renew_at() - now).max(1) as u64).min(PERIOD);
                self.serve(state, Some(&s));
                wait
            }
            Err(e) => {
                log::error!("the public certificate could not be obtained: {e}");
                self.reach.record_attempt(Err(&e));
                let delay = state
                    .retry
                    .map_or(RETRY_FIRST, |(_, d)| (d * 2).min(RETRY_MAX));
                state.retry = Some((std::time::Instant::now() + delay, delay));
                if matches!(e, AcmeError::Directory { .. } | AcmeError::Account { .. }) {
                    state.account = None;
                }
                delay
            }
        }
    }

    /// The start of the renewal window the authority suggests, if it offers ARI. Asked again
    /// when the authority's `Retry-After` has passed; `State::ari` is (not_after of the
    /// certificate asked about, window start or 0 for "no ARI", next time to ask).
    async fn ari_start(
        &self,
        state: &mut State,
        settings: &ReachRow,
        stored: &Stored,
        now: i64,
    ) -> Option<i64> {
        if let Some((cert, start, next)) = state.ari
            && cert == stored.not_after
            && now < next
        {
            return (start > 0).then_some(start);
        }
        let id = stored.ari_id()?;
        let account = self.account(state, settings).await.ok()?;
        let (start, next) = match account.renewal_info(&id).await {
            Ok((info, retry)) => (
                info.suggested_window.start.unix_timestamp(),
                now + retry.as_secs().clamp(60, 6 * 3600) as i64,
            ),
            Err(instant_acme::Error::Unsupported(_)) => (0, i64::MAX),
            Err(e) => {
                log::debug!("renewal information unavailable: {e}");
                (0, now + 3600)
            }
        };
        state.ari = Some((stored.not_after, start, next));
        (start > 0).then_some(start)
    }

    /// The ACME account for the directory of `settings`: created once, kept in
    /// `account.json` beside the certificate.
    async fn account(&self, state: &mut State, settings: &ReachRow) -> Result<Account, AcmeError> {
        let directory = settings.acme_directory.clone();
        if let Some((dir, account)) = &state.account
            && *dir == directory
        {
            return Ok(account.clone());
        }
        let unusable = |e: instant_acme::Error| AcmeError::Directory {
            directory: directory.clone(),
            detail: e.to_string(),
        };
        let builder = || match &self.root {
            Some(root) => Account::builder_with_root(root),
            None => Account::builder(),
        };
        let path = self.reach.certificate_dir().join("account.json");
        let account_err = |detail: String| AcmeError::Account {
            path: path.clone(),
            detail,
        };
        let saved: Option<(String, AccountCredentials)> = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let account = match saved {
            Some((dir, credentials)) if dir == directory => builder()
                .map_err(unusable)?
                .from_credentials(credentials)
                .await
                .map_err(unusable)?,
            _ => {
                let contact = settings
                    .acme_contact
                    .as_ref()
                    .map(|c| format!("mailto:{c}"));
                let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
                let (account, credentials) = builder()
                    .map_err(unusable)?
                    .create(
                        &NewAccount {
                            contact: &contacts,
                            terms_of_service_agreed: true,
                            only_return_existing: false,
                        },
                        directory.clone(),
                        None,
                    )
                    .await
                    .map_err(unusable)?;
                std::fs::create_dir_all(self.reach.certificate_dir())
                    .map_err(|e| account_err(e.to_string()))?;
                let json = serde_json::to_vec(&(&directory, &credentials))
                    .map_err(|e| account_err(e.to_string()))?;
                crate::fsutil::write_atomic(&path, &json)
                    .map_err(|e| account_err(e.to_string()))?;
                std::fs::set_permissions(
                    &path,
                    std::os::unix::fs::PermissionsExt::from_mode(0o600),
                )
                .map_err(|e| account_err(e.to_string()))?;
                account
            }
        };
        state.account = Some((directory, account.clone()));
        Ok(account)
    }

    async fn issue(
        &self,
        state: &mut State,
        settings: &ReachRow,
        names: &BTreeSet<String>,
        replaces: Option<CertificateIdentifier<'static>>,
    ) -> Result<Stored, AcmeError> {
        let challenge = Challenge::parse(&settings.challenge)?;
        let dns = match challenge {
            Challenge::Dns01 => Some(rfc2136::Server::from_settings(settings)?),
            Challenge::Http01 => None,
        };
        let account = self.account(state, settings).await?;
        let ids: Vec<Identifier> = names.iter().map(|n| Identifier::Dns(n.clone())).collect();
        let mut request = NewOrder::new(&ids);
        if let Some(r) = replaces {
            request = request.replaces(r);
        }
        let mut order = account.new_order(&request).await.map_err(refused)?;
        // What was published for the challenges: (token, "") or (TXT name, value).
        let mut published: Vec<(String, String)> = Vec::new();
        let result = async {
            {
                let mut authorizations = order.authorizations();
                while let Some(a) = authorizations.next().await {
                    let mut a = a.map_err(refused)?;
                    let name = a.identifier().to_string();
                    match a.status {
                        AuthorizationStatus::Valid => continue,
                        AuthorizationStatus::Pending => {}
                        other => {
                            return Err(AcmeError::Validation {
                                name,
                                detail: format!("authorization {other:?}"),
                            });
                        }
                    }
                    let kind = match challenge {
                        Challenge::Http01 => ChallengeType::Http01,
                        Challenge::Dns01 => ChallengeType::Dns01,
                    };
                    let mut ch = a.challenge(kind).ok_or(AcmeError::NoChallenge {
                        kind: challenge.as_str(),
                        name: name.clone(),
                    })?;
                    let key = ch.key_authorization();
                    match &dns {
                        None => {
                            self.reach.put_token(&ch.token, key.as_str());
                            published.push((ch.token.clone(), String::new()));
                        }
                        Some(server) => {
                            let record = format!("_acme-challenge.{name}");
                            server.add_txt(&record, &key.dns_value()).await?;
                            published.push((record, key.dns_value()));
                        }
                    }
                    ch.set_ready().await.map_err(|e| AcmeError::Validation {
                        name: name.clone(),
                        detail: e.to_string(),
                    })?;
                }
            }
            let retry = RetryPolicy::new().timeout(Duration::from_secs(120));
            let status = order.poll_ready(&retry).await.map_err(refused)?;
            if status != OrderStatus::Ready {
                return Err(why_invalid(&mut order).await);
            }
            let key = rcgen::KeyPair::generate().map_err(|e| AcmeError::Request(e.to_string()))?;
            let mut params =
                rcgen::CertificateParams::new(names.iter().cloned().collect::<Vec<_>>())
                    .map_err(|e| AcmeError::Request(e.to_string()))?;
            params.distinguished_name = rcgen::DistinguishedName::new();
            let csr = params
                .serialize_request(&key)
                .map_err(|e| AcmeError::Request(e.to_string()))?;
            order.finalize_csr(csr.der()).await.map_err(refused)?;
            let chain = order.poll_certificate(&retry).await.map_err(refused)?;
            Ok((chain, key.serialize_pem()))
        }
        .await;
        for (name, value) in &published {
            match &dns {
                None => self.reach.drop_token(name),
                Some(server) => {
                    if let Err(e) = server.remove_txt(name, value).await {
                        log::warn!("the challenge record {name} stays in the zone: {e}");
                    }
                }
            }
        }
        let (chain, key) = result?;
        Ok(Stored::save(self.reach.certificate_dir(), &chain, &key)?)
    }
}

/// The authority's reason for an invalid order: the first challenge error it reports.
async fn why_invalid(order: &mut instant_acme::Order) -> AcmeError {
    let mut authorizations = order.authorizations();
    while let Some(Ok(a)) = authorizations.next().await {
        let name = a.identifier().to_string();
        if let Some(problem) = a.challenges.iter().find_map(|c| c.error.as_ref()) {
            return AcmeError::Validation {
                name,
                detail: problem.to_string(),
            };
        }
    }
    AcmeError::Refused("the order became invalid".into())
}
