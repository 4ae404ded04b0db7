//! OS updates: the channel, the installation of a new system into the other slot with RAUC,
//! the restart, and what became of it (kept, or rolled back and why).
//!
//! Data flow: the daily check or "Check now" → [`Updates::check`] fetches the channel's
//! `index.json` and its signature over HTTPS (`fetch`), [`index::accept`] decides whether to
//! trust it (release key, expiry, rollback guard) and the store keeps it → the Update page
//! shows [`index::plan`]'s offer → "Install" ([`Updates::install`]) records an attempt and
//! runs one box job (`job`: download, resumable; size and SHA-256 against the signed index;
//! `rauc install` into the other slot, which RAUC then makes the next to boot; the restart
//! planned now or at the chosen night hour) → the scheduler restarts the box → the new
//! system's `panier-mark-good` marks the slot good once panier is healthy, or restarts it,
//! and after three failed boots GRUB goes back to the old slot → at start, `boot` judges the
//! attempt from the booted slot: succeeded once RAUC says the slot is good, or rolled back,
//! with what the failed boots logged.
//!
//! Offline: a bundle on a USB stick goes the same way (`usb`): the stick carries a channel's
//! files (`panier-update/index.json`, its signature, the bundle), checked with the same key
//! and rules, offered on the Update page and by `panier update usb`, and the bundle is copied
//! to the data partition and checked before RAUC reads it.
//!
//! The catalog ships inside the system, so a new system brings a new catalog; the Services
//! page then offers each service's update (`apps::view`'s `update_to`).
//!
//! Invariants: the bundle RAUC installs is always the file whose size and SHA-256 the signed
//! index gave (RAUC checks its own X.509 signature on top); one update job at a time, and none
//! beside install mode (both are box jobs); a release is offered only when newer than the
//! running system; the box restarts only from a system slot.

pub mod boot;
mod error;
pub mod fetch;
pub mod index;
mod job;
pub mod os;
pub mod usb;
pub mod version;

pub use error::UpdateError;
pub use index::Offer;
pub use os::{RaucSlots, Slot, Slots};
pub use usb::UsbUpdate;
pub use version::OsVersion;

use crate::jobs::Jobs;
use crate::store::{AttemptRow, AttemptState, NewAttempt, Said, Store, UpdateSource};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What the configuration says about updates (`[update]` in panier.toml).
#[derive(Debug, Clone)]
pub struct UpdateOptions {
    /// The channel's index address (`https://…/index.json`); the Update page may override it.
    pub channel: Option<String>,
    /// One more authority to trust for the channel (a mirror with its own).
    pub ca: Option<PathBuf>,
    /// The release key's public half.
    pub key: PathBuf,
    /// Where the running system says its version.
    pub version_file: PathBuf,
    /// The system's trusted authorities.
    pub system_roots: PathBuf,
    /// Where bundles are downloaded (on the data partition).
    pub work_dir: PathBuf,
}

impl UpdateOptions {
    /// The image's paths, with bundles under `data_dir/update`.
    pub fn new(data_dir: &Path) -> UpdateOptions {
        UpdateOptions {
            channel: None,
            ca: None,
            key: crate::signing::RELEASE_KEY.into(),
            version_file: version::VERSION_FILE.into(),
            system_roots: fetch::SYSTEM_ROOTS.into(),
            work_dir: data_dir.join("update"),
        }
    }
}

/// When to restart into the new system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "restart", content = "hour")]
pub enum RestartWhen {
    /// As soon as it is installed.
    Now,
    /// At this hour (0-23, the box's time), the next time it comes.
    At(u8),
}

/// An attempt with its job's progress.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AttemptView {
    #[serde(flatten)]
    pub attempt: AttemptRow,
    /// The job's current step (`download`, `verify`, `install`) and percentage.
    pub step: Option<String>,
    pub percent: Option<i64>,
}

/// The Update page's and `panier update status`'s view.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UpdateStatus {
    /// The running system's version; `None`: not a Panier system.
    pub running: Option<String>,
    pub booted_slot: Option<Slot>,
    /// The channel's index address in use, and whether it was set on the Update page.
    pub channel: Option<String>,
    pub channel_from_page: bool,
    pub checked_at: Option<i64>,
    /// The last check that gave a valid index.
    pub accepted_at: Option<i64>,
    /// Why the last check failed.
    pub check_error: Option<Said>,
    /// When the kept index stops being valid.
    pub index_expires_at: Option<i64>,
    /// No valid index for [`index::STALE_AFTER_DAYS`] days, or the kept one expired: the
    /// box may be held back from updates (or is offline).
    pub stale: bool,
    /// What the kept index offers (none without a valid index).
    pub offer: Option<Offer>,
    /// The latest installation attempt.
    pub attempt: Option<AttemptView>,
    pub restart_hour: Option<u8>,
}

#[cfg(test)]
impl UpdateStatus {
    /// A status for other modules' tests: `running`, up to date, no attempt.
    pub(crate) fn for_tests(running: Option<&str>) -> UpdateStatus {
        UpdateStatus {
            running: running.map(str::to_owned),
            booted_slot: None,
            channel: None,
            channel_from_page: false,
            checked_at: None,
            accepted_at: None,
            check_error: None,
            index_expires_at: None,
            stale: false,
            offer: Some(Offer::UpToDate),
            attempt: None,
            restart_hour: None,
        }
    }
}

#[derive(Clone)]
pub struct Updates {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    jobs: Jobs,
    slots: Arc<dyn Slots>,
    options: UpdateOptions,
    /// One check at a time (the daily one and "Check now" may meet).
    checking: tokio::sync::Mutex<()>,
    /// Wakes the scheduler (a restart to do now).
    wake: tokio::sync::Notify,
}

impl Updates {
    pub fn new(store: Store, jobs: Jobs, slots: Arc<dyn Slots>, options: UpdateOptions) -> Updates {
        Updates {
            inner: Arc::new(Inner {
                store,
                jobs,
                slots,
                options,
                checking: Default::default(),
                wake: Default::default(),
            }),
        }
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Records an admin's action on updates in the audit log.
    fn audit<T>(
        &self,
        actor: &str,
        action: &'static str,
        target: &str,
        result: &Result<T, UpdateError>,
    ) {
        let entry = crate::store::NewAudit {
            actor: actor.to_owned(),
            action,
            target: target.to_owned(),
            result: if result.is_ok() { "ok" } else { "failed" },
            detail: result
                .as_ref()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default(),
        };
        if let Err(e) = self.store().record(&entry) {
            log::error!("{e}");
        }
    }

    /// The running system's version.
    pub fn running(&self) -> Result<OsVersion, UpdateError> {
        let file = &self.inner.options.version_file;
        OsVersion::running(file).ok_or_else(|| UpdateError::NotPanier { file: file.clone() })
    }

    /// The channel address in use: the Update page's, else the configuration's.
    fn channel(&self) -> Result<Option<(url::Url, bool)>, UpdateError> {
        let page = self.store().update_channel()?.url;
        let (text, from_page) = match (page, &self.inner.options.channel) {
            (Some(u), _) => (u, true),
            (None, Some(u)) => (u.clone(), false),
            (None, None) => return Ok(None),
        };
        Ok(Some((fetch::https(&text)?, from_page)))
    }

    fn fetcher(&self) -> Result<fetch::Fetcher, UpdateError> {
        let o = &self.inner.options;
        Ok(fetch::Fetcher::new(&o.system_roots, o.ca.as_deref())?)
    }

    /// The kept index, if it is still valid now.
    fn kept_index(&self, now: i64) -> Result<Option<index::Index>, UpdateError> {
        let row = self.store().update_channel()?;
        Ok(row
            .index_json
            .and_then(|j| serde_json::from_str::<index::Index>(&j).ok())
            .filter(|i| i.expires_at() > now))
    }

    pub fn status(&self) -> Result<UpdateStatus, UpdateError> {
        let now = crate::store::now();
        let row = self.store().update_channel()?;
        let running = self.running().ok();
        let kept: Option<index::Index> = row
            .index_json
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok());
        let valid = kept.as_ref().filter(|i| i.expires_at() > now);
        let stale = row.checked_at.is_some()
            && (valid.is_none()
                || row
                    .accepted_at
                    .is_none_or(|a| now - a > index::STALE_AFTER_DAYS * 86_400));
        let offer = running.as_ref().zip(valid).map(|(r, i)| index::plan(r, i));
        let attempt = match self.store().attempts(1)?.into_iter().next() {
            Some(a) => Some(self.attempt_view(a)?),
            None => None,
        };
        let channel = self.channel().ok().flatten();
        Ok(UpdateStatus {
            running: running.map(|v| v.to_string()),
            booted_slot: self.inner.slots.booted(),
            channel_from_page: channel.as_ref().is_some_and(|c| c.1),
            channel: channel
                .map(|c| c.0.to_string())
                .or_else(|| row.url.clone().or(self.inner.options.channel.clone())),
            checked_at: row.checked_at,
            accepted_at: row.accepted_at,
            check_error: row.error,
            index_expires_at: kept.map(|i| i.expires_at()),
            stale,
            offer,
            attempt,
            restart_hour: row.reboot_hour,
        })
    }

    fn attempt_view(&self, attempt: AttemptRow) -> Result<AttemptView, UpdateError> {
        let job = match attempt.job_id {
            Some(id) if !attempt.state.is_final() => self.inner.jobs.get(id)?,
            _ => None,
        };
        Ok(AttemptView {
            step: job.as_ref().map(|j| j.step.clone()),
            percent: job.map(|j| j.percent),
            attempt,
        })
    }

    /// Checks the channel now; keeps the index it gives, or why it was refused.
    pub async fn check(&self) -> Result<(), UpdateError> {
        let _one = self.inner.checking.lock().await;
        let now = crate::store::now();
        match self.fetch_index(now).await {
            Ok((index, text)) => {
                log::info!(
                    "update channel checked: index {} of {}, expires {}",
                    index.serial,
                    index.channel,
                    index.expires
                );
                self.store().record_index(&text, index.serial, now)?;
                Ok(())
            }
            Err(e) => {
                log::warn!("update check failed: {e}");
                self.store().record_check_error(&e.kept(), now)?;
                Err(e)
            }
        }
    }

    async fn fetch_index(&self, now: i64) -> Result<(index::Index, String), UpdateError> {
        self.running()?;
        let (url, _) = self.channel()?.ok_or(UpdateError::NoChannel)?;
        let key = crate::signing::ReleaseKey::load(&self.inner.options.key)?;
        let fetcher = self.fetcher()?;
        let bytes = fetcher.small(&url, index::MAX_INDEX_BYTES).await?;
        let mut sig_url = url.clone();
        sig_url.set_path(&format!("{}.minisig", url.path()));
        let signature = fetcher.small(&sig_url, 4096).await?;
        let seen = self.store().update_channel()?.seen_serial;
        let index = index::accept(
            &key,
            &bytes,
            &String::from_utf8_lossy(&signature),
            now,
            seen,
        )?;
        Ok((index, String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Sets the channel address from the Update page (`None`: back to the configuration's).
    pub fn set_channel(&self, actor: &str, url: Option<&str>) -> Result<(), UpdateError> {
        let url = url.map(str::trim).filter(|u| !u.is_empty());
        let result = (|| {
            if let Some(u) = url {
                fetch::https(u)?;
            }
            Ok(self.store().set_update_url(url)?)
        })();
        self.audit(
            actor,
            "update_channel",
            url.unwrap_or("(configuration)"),
            &result,
        );
        result
    }

    /// Starts installing what the channel offers (`expected`: the version the admin saw).
    /// Returns the job's id.
    pub fn install(
        &self,
        actor: &str,
        expected: Option<&str>,
        when: RestartWhen,
    ) -> Result<i64, UpdateError> {
        let result = self.install_offer(actor, expected, when);
        self.audit(
            actor,
            "update_install",
            expected.unwrap_or("(offered)"),
            &result,
        );
        result
    }

    fn install_offer(
        &self,
        actor: &str,
        expected: Option<&str>,
        when: RestartWhen,
    ) -> Result<i64, UpdateError> {
        let running = self.running()?;
        let now = crate::store::now();
        let index = self.kept_index(now)?.ok_or(UpdateError::NothingToInstall)?;
        let release = match index::plan(&running, &index) {
            Offer::Available { release, .. } => release,
            _ => return Err(UpdateError::NothingToInstall),
        };
        if let Some(asked) = expected
            && OsVersion::parse(asked).is_none_or(|a| a != release.version)
        {
            return Err(UpdateError::OfferChanged {
                offered: release.version.to_string(),
                asked: asked.to_owned(),
            });
        }
        let (channel, _) = self.channel()?.ok_or(UpdateError::NoChannel)?;
        let bundle = fetch::resolve(&channel, &release.bundle)?;
        self.begin(
            actor,
            &NewAttempt {
                version: release.version.as_str(),
                from_version: running.as_str(),
                source: UpdateSource::Channel,
                bundle: bundle.as_str(),
                size: release.size,
                sha256: &release.sha256,
                notes_fr: &release.notes.fr,
                notes_en: &release.notes.en,
                actor,
            },
            when,
        )
    }

    /// Records an attempt and starts its job, after the checks every source shares.
    fn begin(
        &self,
        actor: &str,
        attempt: &NewAttempt<'_>,
        when: RestartWhen,
    ) -> Result<i64, UpdateError> {
        if let RestartWhen::At(h) = when
            && h > 23
        {
            return Err(UpdateError::BadHour(h));
        }
        self.check_space(attempt.sha256, attempt.size)?;
        let job = self.inner.jobs.begin_box("os_update", actor)?;
        let id = self.store().insert_attempt(attempt)?;
        self.store().set_attempt_job(id, job.id)?;
        self.store().set_reboot_hour(match when {
            RestartWhen::Now => None,
            RestartWhen::At(h) => Some(h),
        })?;
        let job_id = job.id;
        let row = self.store().attempt(id)?.expect("just inserted");
        log::info!(
            "update to {} started by {actor} (attempt {id}, job {job_id})",
            attempt.version
        );
        tokio::spawn(job::run(self.clone(), row, job));
        Ok(job_id)
    }

    /// The bundle's place on the data partition (named by its checksum, so a partial
    /// download is only ever continued with the same file).
    fn bundle_path(&self, sha256: &str) -> PathBuf {
        self.inner
            .options
            .work_dir
            .join(format!("bundle-{}.raucb", &sha256[..sha256.len().min(16)]))
    }

    /// Room for the bundle plus a margin (the data partition also holds the services).
    fn check_space(&self, sha256: &str, size: u64) -> Result<(), UpdateError> {
        const MARGIN: u64 = 256 << 20;
        let dir = &self.inner.options.work_dir;
        std::fs::create_dir_all(dir).map_err(|source| UpdateError::Io {
            path: dir.clone(),
            source,
        })?;
        let have = std::fs::metadata(self.bundle_path(sha256))
            .map(|m| m.len())
            .unwrap_or(0);
        if let Ok(s) = nix::sys::statvfs::statvfs(dir) {
            let free = s.blocks_available() * s.fragment_size();
            let needed = size.saturating_sub(have) + MARGIN;
            if free < needed {
                return Err(UpdateError::NoSpace {
                    free_mb: free >> 20,
                    needed_mb: needed >> 20,
                });
            }
        }
        Ok(())
    }

    /// Restarts into the installed system now instead of at the planned hour.
    pub fn restart_now(&self, actor: &str) -> Result<(), UpdateError> {
        let result = (|| {
            let attempt = self
                .store()
                .attempts(1)?
                .into_iter()
                .next()
                .filter(|a| a.state == AttemptState::Installed)
                .ok_or(UpdateError::NotInstalled)?;
            self.store()
                .set_attempt_reboot_at(attempt.id, crate::store::now())?;
            Ok(attempt.version)
        })();
        self.audit(
            actor,
            "update_restart",
            result.as_deref().unwrap_or(""),
            &result,
        );
        self.inner.wake.notify_one();
        result.map(|_| ())
    }

    /// The hour for restarts into a new system (`None`: at once).
    pub fn set_restart_hour(&self, actor: &str, hour: Option<u8>) -> Result<(), UpdateError> {
        let result = match hour.filter(|h| *h > 23) {
            Some(h) => Err(UpdateError::BadHour(h)),
            None => self.store().set_reboot_hour(hour).map_err(Into::into),
        };
        let target = hour.map_or("now".to_owned(), |h| format!("{h}:00"));
        self.audit(actor, "update_restart_hour", &target, &result);
        result
    }
}
