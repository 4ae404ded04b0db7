//! Restores: one service to a chosen snapshot, the whole box from the setup wizard, and one
//! file out of a snapshot.
//!
//! Snapshots carry the data directory they were made from (`datadir=` tag), so a restore maps
//! each saved path into this box's data directory: a box restored onto other hardware, with
//! another data directory, disk size, name or address, gets its files where it expects them.
//!
//! A path is replaced by renaming: the restored tree is first written next to the data
//! (`<data>/backup/restore-tmp`, same file system), the current tree moved aside, the new one
//! moved in, and only then the old one deleted; a failure moves the old one back.

use super::confine::{self, Allowed};
use super::hooks::{BackupPlan, Mode};
use super::restic::{self, Repo, Snapshot};
use super::run::Scope;
use super::{BackupError, Backups, Location, io};
use crate::admins::Actor;
use std::path::{Path, PathBuf};

/// The services domain's instance id setting (`apps::Apps::new`).
const INSTANCE: &str = "apps_instance";

impl Backups {
    fn restore_tmp(&self) -> PathBuf {
        self.inner.data_dir.join("backup/restore-tmp")
    }

    /// Restores `snap` into its own temporary tree (`<restore-tmp>/<n>`) and checks it
    /// (`confine`): its paths map onto `allowed` only, the trees hold no link leaving them.
    /// Nothing of the box is replaced yet; [`place`] does that once every snapshot of the
    /// restore passed.
    pub(super) async fn stage_snapshot(
        &self,
        target: &str,
        repo: &Repo,
        snap: &Snapshot,
        allowed: &Allowed,
        n: usize,
    ) -> Result<Staged, BackupError> {
        let old = snap.tag("datadir").map(PathBuf::from).ok_or_else(|| {
            BackupError::Failed(format!(
                "snapshot {} has no datadir tag: not made by Panier",
                snap.short_id
            ))
        })?;
        if snap.id.is_empty() || !snap.id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(BackupError::NoSuchSnapshot(snap.short_id.clone()));
        }
        let moves = confine::plan(&snap.paths, &old, &self.inner.data_dir, allowed)?;
        let tmp = self.restore_tmp().join(n.to_string());
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(io("creating", &tmp))?;
        let (r, id, t) = (repo.clone(), snap.id.clone(), tmp.clone());
        self.restic(target, move || {
            restic::run(
                &r,
                &["restore", &id, "--target", &t.display().to_string()],
                |_, _| {},
            )
            .map(|_| ())
        })
        .await?;
        for m in &moves {
            confine::check_tree(&tmp, &self.inner.data_dir, m)?;
        }
        Ok(Staged { tmp, moves })
    }

    /// Restores one snapshot confined to `allowed` and puts it in place. Returns the new paths.
    pub(super) async fn restore_snapshot(
        &self,
        target: &str,
        repo: &Repo,
        snap: &Snapshot,
        allowed: &Allowed,
    ) -> Result<Vec<PathBuf>, BackupError> {
        let staged = self.stage_snapshot(target, repo, snap, allowed, 0).await;
        let result = match staged {
            Ok(staged) => place(std::slice::from_ref(&staged)),
            Err(e) => Err(e),
        };
        let _ = std::fs::remove_dir_all(self.restore_tmp());
        result
    }

    /// Restores one service to `snapshot`: stopped, a safety snapshot of its current data
    /// taken, its volumes replaced, restarted (always, even when the restore fails).
    pub async fn restore_service(
        &self,
        actor: &Actor,
        target: &str,
        snapshot: &str,
        app: &str,
    ) -> Result<(), BackupError> {
        let result = self.restore_service_inner(target, snapshot, app).await;
        self.inner.store.record(&super::audit(
            &actor.audit_name(),
            "backup_restore_service",
            &format!("{app}@{snapshot}"),
            &result,
        ))?;
        result
    }

    async fn restore_service_inner(
        &self,
        target: &str,
        snapshot: &str,
        app: &str,
    ) -> Result<(), BackupError> {
        let row = self.row(target)?;
        let _busy = self.inner.busy.try_lock().map_err(|_| BackupError::Busy)?;
        let snaps = self.snapshots(target).await?;
        let snap = snaps
            .into_iter()
            .find(|s| {
                (s.id.starts_with(snapshot) || s.short_id == snapshot) && s.tag("app") == Some(app)
            })
            .ok_or_else(|| BackupError::NoSuchSnapshot(format!("{snapshot} (service {app})")))?;
        let hooks = self.inner.hooks.clone();
        let plans = hooks.plans().await.map_err(|detail| BackupError::Hook {
            app: app.into(),
            op: "listing backup plans",
            detail,
        })?;
        let volumes = plans
            .into_iter()
            .find(|p| p.app == app)
            .map(|p| p.volumes)
            .ok_or_else(|| BackupError::Hook {
                app: app.into(),
                op: "finding its backup plan",
                detail: "it is not installed or has no backup spec".into(),
            })?;
        hooks
            .stop(app, "restore")
            .await
            .map_err(|detail| BackupError::Hook {
                app: app.into(),
                op: "stopping",
                detail,
            })?;
        // The only places this restore may write: the service's own volumes.
        let own = volumes.clone();
        let result = async {
            // The safety snapshot: what is replaced can be had back.
            let plan = BackupPlan {
                app: app.to_owned(),
                volumes,
                mode: Mode::Hot {
                    pre: vec![],
                    post: vec![],
                },
            };
            let safety = self.run_one(&row, "safety", Scope::Stopped(plan)).await?;
            if !safety.ok {
                return Err(BackupError::Failed(format!(
                    "the safety snapshot before the restore failed, nothing was changed: {}",
                    safety.error.unwrap_or_default()
                )));
            }
            let opened = self
                .open(&Self::location(&row)?, &row.password, false)
                .await?;
            self.restore_snapshot(target, &opened.repo, &snap, &Allowed::Exactly(own))
                .await
                .map(|_| ())
        }
        .await;
        let started = hooks.start(app).await.map_err(|detail| BackupError::Hook {
            app: app.into(),
            op: "restarting",
            detail,
        });
        // A database's dump, back in its volume, is loaded once the service is up.
        let result = match (result, started) {
            (Ok(()), Ok(())) => {
                hooks
                    .after_restore(app)
                    .await
                    .map_err(|detail| BackupError::Hook {
                        app: app.into(),
                        op: "loading its restored data (the manifest's restore commands)",
                        detail,
                    })
            }
            (Err(e), _) | (Ok(()), Err(e)) => Err(e),
        };
        log::info!(app = app; "restore of {app} to snapshot {}: {}", snap.short_id, if result.is_ok() { "done" } else { "failed" });
        result
    }

    /// The whole box from a backup, from the setup wizard of a fresh box: the latest box
    /// state and the services' data of the same run, placed into this data directory; the
    /// live database replaced by the saved one; the box renamed to `new_name` if given. The
    /// target is remembered (it comes back with the saved database).
    pub async fn restore_box(
        &self,
        location: Location,
        password: &str,
        new_name: Option<&crate::names::BoxName>,
        actor: &str,
    ) -> Result<String, BackupError> {
        let result = self.restore_box_inner(location, password, new_name).await;
        self.inner
            .store
            .record(&super::audit(actor, "backup_restore_box", "", &result))?;
        result
    }

    async fn restore_box_inner(
        &self,
        location: Location,
        password: &str,
        new_name: Option<&crate::names::BoxName>,
    ) -> Result<String, BackupError> {
        location
            .validate()
            .map_err(super::target::TargetError::from)?;
        let _busy = self.inner.busy.try_lock().map_err(|_| BackupError::Busy)?;
        let opened = self.open(&location, password, false).await?;
        let repo = opened.repo.clone();
        let r = repo.clone();
        let mut snaps = self
            .restic("restore", move || restic::snapshots(&r))
            .await?;
        snaps.sort_by(|a, b| b.time.cmp(&a.time));
        let state = snaps
            .iter()
            .find(|s| s.tags.iter().any(|t| t == "part=state"))
            .cloned()
            .ok_or(BackupError::NoBoxState)?;
        let run = state.tag("run").unwrap_or("").to_owned();
        let apps: Vec<Snapshot> = snaps
            .iter()
            .filter(|s| s.tag("run") == Some(&run) && s.tag("app").is_some())
            .cloned()
            .collect();
        // Every snapshot is fetched and checked before anything is replaced: a hostile
        // snapshot among them leaves the box as it was.
        let state_dirs: Vec<PathBuf> = std::iter::once(self.staging())
            .chain(
                super::run::STATE_DIRS
                    .iter()
                    .map(|d| self.inner.data_dir.join(d)),
            )
            .collect();
        let staged = async {
            let mut staged = vec![
                self.stage_snapshot("restore", &repo, &state, &Allowed::Exactly(state_dirs), 0)
                    .await?,
            ];
            for (n, snap) in apps.iter().enumerate() {
                let app = snap
                    .tag("app")
                    .map(crate::catalog::AppId::parse)
                    .transpose()
                    .map_err(|e| BackupError::Confined(e.message))?
                    .ok_or(BackupError::NoBoxState)?;
                let volumes = self
                    .inner
                    .data_dir
                    .join("apps")
                    .join(app.as_str())
                    .join("volumes");
                staged.push(
                    self.stage_snapshot(
                        "restore",
                        &repo,
                        snap,
                        &Allowed::ChildrenOf(volumes),
                        n + 1,
                    )
                    .await?,
                );
            }
            Ok::<_, BackupError>(staged)
        }
        .await;
        let placed = staged.and_then(|staged| place(&staged));
        let _ = std::fs::remove_dir_all(self.restore_tmp());
        let placed = placed?;
        let db = placed
            .iter()
            .find(|p| p.ends_with("backup/staging"))
            .map(|p| p.join(crate::store::DB_FILE))
            .ok_or(BackupError::NoBoxState)?;
        // The engine objects here are this box's: it keeps its own instance id (the services
        // domain labels them with it) rather than the old box's.
        let instance = self.inner.store.setting(INSTANCE)?;
        self.inner.store.replace_with(&db)?;
        let _ = std::fs::remove_dir_all(self.staging());
        if let Some(instance) = instance {
            self.inner.store.set_setting(INSTANCE, &instance)?;
        }
        if let Some(name) = new_name {
            self.inner.store.set_setting("box_name", name.as_str())?;
        }
        // The restored services come back now rather than at the reconciler's next pass.
        for app in apps.iter().filter_map(|s| s.tag("app")) {
            if let Err(e) = self.inner.hooks.start(app).await {
                log::warn!(app = app; "starting the restored service {app}: {e}; the reconciler will retry");
            }
        }
        let name = self
            .inner
            .store
            .box_settings()?
            .name
            .map(|n| n.to_string())
            .unwrap_or_default();
        log::info!(
            "whole box restored from snapshot {} ({} service(s)); the box is now named {name}",
            state.short_id,
            apps.len()
        );
        Ok(name)
    }

    /// Starts `restic dump` of one file of a snapshot; the caller streams its stdout.
    pub async fn dump_file(
        &self,
        target: &str,
        snapshot: &str,
        path: &str,
    ) -> Result<tokio::process::Child, BackupError> {
        let row = self.row(target)?;
        if !path.starts_with('/') || path.contains("/../") {
            return Err(BackupError::Failed(format!(
                "'{path}' is not an absolute path inside the snapshot"
            )));
        }
        if !snapshot.chars().all(|c| c.is_ascii_hexdigit()) || snapshot.is_empty() {
            return Err(BackupError::NoSuchSnapshot(snapshot.to_owned()));
        }
        let location = Self::location(&row)?;
        if let Location::Usb { .. } = location {
            // A dump streams after this returns: the disk would be unmounted under it.
            return Err(BackupError::Failed("download from a USB target: restore the service instead, or use the kit's restic steps".into()));
        }
        let opened = self.open(&location, &row.password, false).await?;
        let repo = &opened.repo;
        let mut cmd = tokio::process::Command::new(restic::program());
        cmd.arg("--repo").arg(&repo.url).arg("--no-cache");
        for o in &repo.options {
            cmd.arg("-o").arg(o);
        }
        cmd.args(["dump", snapshot, path])
            .env("RESTIC_PASSWORD", &repo.password)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        cmd.spawn().map_err(|e| BackupError::Restic {
            target: target.to_owned(),
            source: restic::ResticError::NotInstalled(e.to_string()),
        })
    }
}

/// A snapshot restored into its temporary tree and checked, ready to be put in place.
pub(super) struct Staged {
    tmp: PathBuf,
    moves: Vec<confine::Move>,
}

/// Puts every staged tree in place; returns the new paths.
fn place(staged: &[Staged]) -> Result<Vec<PathBuf>, BackupError> {
    let mut placed = Vec::new();
    for s in staged {
        for m in &s.moves {
            swap_in(&s.tmp.join(&m.from), &m.to)?;
            placed.push(m.to.clone());
        }
    }
    Ok(placed)
}

/// Moves `from` to `to`, keeping the previous `to` until the move succeeded.
fn swap_in(from: &Path, to: &Path) -> Result<(), BackupError> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(io("creating", parent))?;
    }
    let aside = to.with_extension(format!("before-restore-{}", std::process::id()));
    let had = to.exists();
    if had {
        std::fs::rename(to, &aside).map_err(io("moving aside", to))?;
    }
    if let Err(e) = std::fs::rename(from, to) {
        if had {
            let _ = std::fs::rename(&aside, to);
        }
        return Err(io("moving the restored copy to", to)(e));
    }
    if had {
        if aside.is_dir() {
            std::fs::remove_dir_all(&aside)
        } else {
            std::fs::remove_file(&aside)
        }
        .map_err(io("removing the replaced copy", &aside))?;
    }
    Ok(())
}
