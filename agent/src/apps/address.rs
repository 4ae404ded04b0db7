//! Services' addresses: what `{{app.domain}}` and `{{app.url}}` are filled with, and the job
//! that moves a service to a new one.
//!
//! The wanted address of a service is, in order: the public name given to it by the
//! [`PublicNames`] hook (the reach domain, set by the daemon), else the name mDNS announces
//! for `<id>-<box>.local` (its `-2` rename after a conflict), else `<id>-<box>.local`. The
//! address its containers are made with is the one recorded in the store
//! (`app_addresses`), set at install. The reconciler compares the two at every pass; when they
//! differ it starts a `follow_address` job: the new address is recorded, the containers are
//! recreated with it (their spec changed), the manifest's `[address] apply` commands run, and
//! on any failure the old address is recorded again and the service recreated with it.
//!
//! A service whose manifest says `follow = "fixed"` keeps the address it was installed with;
//! [`Apps::address_refusal`] gives the reason a change that would move it must be refused
//! (a public domain for it, a rename of the box), in the admin's language.
//!
//! Limits: an mDNS conflict cannot be refused; a fixed service then keeps answering at its
//! recorded name, which the proxy still routes, while clients find the renamed one.

use super::{AppError, Apps, failure};
use crate::catalog::AppId;
use crate::catalog::manifest::{Manifest, Text};
use crate::catalog::steps::Follow;
use crate::store::{AppRow, Phase};
use std::sync::Arc;

/// Where public names come from (the reach domain): a service's public host name, if it has
/// one. The owner wakes the apps ([`Apps::wake`]) when one changes.
pub trait PublicNames: Send + Sync {
    fn public_name(&self, app: &AppId) -> Option<String>;
}

impl Apps {
    /// Sets the source of public names (once, by the daemon).
    pub fn set_public_names(&self, names: Arc<dyn PublicNames>) {
        let _ = self.inner.public_names.set(names);
    }

    /// The address `app` should have now.
    pub fn wanted_address(&self, app: &AppId) -> String {
        if let Some(name) = self
            .inner
            .public_names
            .get()
            .and_then(|p| p.public_name(app))
        {
            return name;
        }
        let box_name = self
            .inner
            .store
            .box_settings()
            .ok()
            .and_then(|s| s.name)
            .map(|n| n.to_string())
            .unwrap_or_else(|| "panier".into());
        let wanted = format!("{app}-{box_name}.local");
        self.inner
            .store
            .mdns_renames()
            .unwrap_or_default()
            .into_iter()
            .find(|r| r.wanted == wanted)
            .map(|r| r.announced)
            .unwrap_or(wanted)
    }

    /// The address `app`'s containers are made with: the recorded one, else the wanted one.
    pub(super) fn domain(&self, app: &AppId) -> String {
        self.inner
            .store
            .app_address(app)
            .ok()
            .flatten()
            .unwrap_or_else(|| self.wanted_address(app))
    }

    /// Why the address of `app` cannot change, if it cannot (installed with a fixed address).
    pub fn address_refusal(&self, app: &AppId) -> Option<Text> {
        let (_, m) = self.row_and_manifest(app).ok()?;
        m.address
            .filter(|a| a.follow == Follow::Fixed)
            .and_then(|a| a.reason)
    }

    /// Every installed service whose address cannot change, with the reason: what a rename
    /// of the box must refuse with.
    pub fn address_refusals(&self) -> Vec<(AppId, Text)> {
        self.installed_ids()
            .into_iter()
            .filter_map(|id| self.address_refusal(&id).map(|r| (id, r)))
            .collect()
    }

    /// The address recorded at install: the wanted one, except for a fixed service that finds
    /// its data and its old address again.
    pub(super) fn record_install_address(
        &self,
        app: &AppId,
        m: &Manifest,
        fresh_data: bool,
    ) -> Result<(), AppError> {
        let fixed = m
            .address
            .as_ref()
            .is_some_and(|a| a.follow == Follow::Fixed);
        let kept = self.inner.store.app_address(app)?;
        if fixed && !fresh_data && kept.is_some() {
            return Ok(());
        }
        self.inner
            .store
            .set_app_address(app, &self.wanted_address(app))?;
        Ok(())
    }

    /// Starts a `follow_address` job for an installed, running service whose address should
    /// change; `None` when there is nothing to do (or its job lock is taken).
    pub(super) fn follow_address_if_needed(&self, row: &AppRow, m: &Manifest) -> Option<i64> {
        if row.phase != Phase::Installed || !row.running {
            return None;
        }
        let wanted = self.wanted_address(&row.id);
        let Some(recorded) = self.inner.store.app_address(&row.id).ok()? else {
            // Installed before addresses were recorded: its containers run with the wanted
            // address, which becomes its recorded one.
            if let Err(e) = self.inner.store.set_app_address(&row.id, &wanted) {
                log::warn!(app = row.id.as_str(); "{e}");
            }
            return None;
        };
        if recorded == wanted {
            return None;
        }
        let Some(follow) = m.address.as_ref().map(|a| a.follow) else {
            // Nothing of the service holds its address: only the record moves.
            if let Err(e) = self.inner.store.set_app_address(&row.id, &wanted) {
                log::warn!(app = row.id.as_str(); "{e}");
            }
            return None;
        };
        if follow == Follow::Fixed {
            log::debug!(app = row.id.as_str(); "keeps its address {recorded} (fixed), not {wanted}");
            return None;
        }
        let job = self
            .inner
            .jobs
            .begin(&row.id, "follow_address", "agent")
            .ok()?;
        let id = job.id;
        let apps = self.clone();
        let (row, m) = (row.clone(), m.clone());
        tokio::spawn(async move {
            let result = apps.run_follow(&job, &row, &m, &recorded, &wanted).await;
            job.finish(result.map_err(|e| failure::of(&e)));
            apps.wake();
        });
        Some(id)
    }

    async fn run_follow(
        &self,
        job: &crate::jobs::Job,
        row: &AppRow,
        m: &Manifest,
        old: &str,
        new: &str,
    ) -> Result<(), AppError> {
        let app = &row.id;
        log::info!(app = app.as_str(); "moving from the address {old} to {new}");
        self.inner.store.set_app_address(app, new)?;
        job.step("create", 30);
        let moved = async {
            self.converge(row, m).await?;
            self.wait_ready(app, m).await?;
            let apply = m
                .address
                .as_ref()
                .map(|a| a.apply.as_slice())
                .unwrap_or(&[]);
            self.run_steps(job, row, m, apply, super::setup::StepKind::Address, 70)
                .await
        }
        .await;
        if let Err(e) = moved {
            job.step("rollback", 90);
            self.inner.store.set_app_address(app, old)?;
            let _ = self.converge(row, m).await;
            return Err(e);
        }
        self.bump();
        Ok(())
    }
}
