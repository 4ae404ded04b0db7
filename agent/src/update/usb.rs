//! OS updates from a USB stick, for boxes without internet: a stick carries a channel's
//! files in `panier-update/` (`index.json`, `index.json.minisig`, the bundle named by the
//! index), found among the plugged USB file systems (`crate::usb`, mounted read-only under
//! `/run/panier/updates/<uuid>`, `PANIER_UPDATE_MOUNT_ROOT` in tests). The index is checked
//! with the same release key and rules as the channel's (`index::accept`: signature, expiry,
//! compatibility), and offered the same way (`index::plan`: only newer than the running
//! system). The serial guard of the channel is not applied: a stick is a snapshot, and the
//! version check keeps a box from going back.
//!
//! The bundle is then copied to the data partition and checked against the signed size and
//! SHA-256 before RAUC reads it (`job`), so pulling the stick out after the copy is harmless.

use super::index::{self, Offer};
use super::{RestartWhen, UpdateError, Updates};
use crate::store::{NewAttempt, Said, UpdateSource};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The folder a stick carries its update in.
pub const DIR: &str = "panier-update";

pub fn mount_root() -> PathBuf {
    std::env::var_os("PANIER_UPDATE_MOUNT_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/run/panier/updates".into())
}

/// An update found on a stick, or why it cannot be used.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UsbUpdate {
    pub device: String,
    pub uuid: String,
    pub label: Option<String>,
    /// What the stick's signed index offers this box.
    pub offer: Option<Offer>,
    /// Why the stick's update is refused (a bad signature, an expired index…).
    pub problem: Option<Said>,
    #[serde(skip)]
    dir: PathBuf,
}

/// Reads and checks `dir`'s index.
fn open(updates: &Updates, dir: &Path, now: i64) -> Result<index::Index, UpdateError> {
    let io = |path: PathBuf| {
        move |source| UpdateError::Io {
            path: path.clone(),
            source,
        }
    };
    let file = dir.join("index.json");
    let bytes = std::fs::read(&file).map_err(io(file.clone()))?;
    let sig_file = dir.join("index.json.minisig");
    let signature = std::fs::read_to_string(&sig_file).map_err(io(sig_file.clone()))?;
    let key = crate::signing::ReleaseKey::load(&updates.inner.options.key)?;
    let index = index::accept(&key, &bytes, &signature, now, None)?;
    for r in &index.releases {
        let plain =
            !r.bundle.is_empty() && !r.bundle.contains('/') && r.bundle != ".." && r.bundle != ".";
        if !plain {
            return Err(UpdateError::Index(index::IndexError::Invalid(format!(
                "on a USB stick, the bundle must be a file beside the index, not '{}'",
                r.bundle
            ))));
        }
    }
    Ok(index)
}

impl Updates {
    /// The updates on the USB sticks plugged in now (blocking: lsblk, mount, small reads).
    pub fn scan_usb(&self) -> Vec<UsbUpdate> {
        let root = mount_root();
        let plugged = crate::usb::file_systems();
        crate::usb::unmount_unplugged(&root, &plugged);
        let running = self.running().ok();
        let now = crate::store::now();
        let mut found = Vec::new();
        for fs in plugged {
            let (at, mounted_now) = match crate::usb::mount_read_only(&fs, &root) {
                Ok(m) => m,
                Err(e) => {
                    log::debug!("not looking for updates on {}: {e}", fs.device);
                    continue;
                }
            };
            let dir = at.join(DIR);
            if !dir.is_dir() {
                if mounted_now {
                    crate::usb::unmount(&at);
                }
                continue;
            }
            let (offer, problem) = match open(self, &dir, now) {
                Ok(index) => (running.as_ref().map(|r| index::plan(r, &index)), None),
                Err(e) => {
                    log::warn!("the update on {} is refused: {e}", fs.device);
                    (None, Some(e.kept()))
                }
            };
            found.push(UsbUpdate {
                device: fs.device.clone(),
                uuid: fs.uuid.clone(),
                label: fs.label.clone(),
                offer,
                problem,
                dir,
            });
        }
        found
    }

    /// Installs what the stick `uuid` offers (`expected`: the version the admin saw).
    pub fn install_usb(
        &self,
        actor: &str,
        uuid: &str,
        expected: Option<&str>,
        when: RestartWhen,
    ) -> Result<i64, UpdateError> {
        let result = (|| {
            let running = self.running()?;
            let stick = self
                .scan_usb()
                .into_iter()
                .find(|s| s.uuid == uuid)
                .ok_or(UpdateError::NothingToInstall)?;
            if let Some(p) = &stick.problem {
                log::warn!("refusing the update on {}: {}", stick.device, p.en);
            }
            // Checked again now: the stick could have changed since it was listed.
            let index = open(self, &stick.dir, crate::store::now())?;
            let release = match index::plan(&running, &index) {
                Offer::Available { release, .. } => release,
                _ => return Err(UpdateError::NothingToInstall),
            };
            if let Some(asked) = expected
                && super::OsVersion::parse(asked).is_none_or(|a| a != release.version)
            {
                return Err(UpdateError::OfferChanged {
                    offered: release.version.to_string(),
                    asked: asked.to_owned(),
                });
            }
            let bundle = stick.dir.join(&release.bundle);
            self.begin(
                actor,
                &NewAttempt {
                    version: release.version.as_str(),
                    from_version: running.as_str(),
                    source: UpdateSource::Usb,
                    bundle: &bundle.to_string_lossy(),
                    size: release.size,
                    sha256: &release.sha256,
                    notes_fr: &release.notes.fr,
                    notes_en: &release.notes.en,
                    actor,
                },
                when,
            )
        })();
        self.audit(actor, "update_install_usb", uuid, &result);
        result
    }
}
