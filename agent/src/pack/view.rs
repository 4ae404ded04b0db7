//! What the API, the CLI and the pages show about packs: the packs on plugged sticks, what
//! imported packs brought, the trusted keys and the registry mirror.

use super::{Packs, usb};
use crate::signing::keyring::TrustedKey;
use serde::Serialize;

/// A pack found on a USB stick.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StickPack {
    /// The file system's device and label (`/dev/sdb1`, `PAQUETS`).
    pub device: String,
    pub label: Option<String>,
    pub model: String,
    /// The pack's folder, as mounted read-only on the box.
    pub dir: String,
    /// Verified: signed by a trusted key and well formed.
    pub usable: bool,
    /// Why not, and its stable key.
    pub problem: Option<String>,
    pub problem_key: Option<String>,
    pub services: Vec<super::PackService>,
    pub images_bytes: u64,
    pub signer: Option<String>,
    pub signer_key: Option<String>,
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportedService {
    pub id: String,
    pub version: String,
    /// The digest of the pack it came from and the key that signed it.
    pub pack: String,
    pub signer: String,
    pub imported_at: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PacksView {
    pub sticks: Vec<StickPack>,
    pub imported: Vec<ImportedService>,
    pub keys: Vec<TrustedKey>,
    /// The registry mirror the engine is told to use, if any.
    pub registry_mirror: Option<String>,
}

impl Packs {
    /// Everything the Offline part of the Catalog page shows (blocking: scans USB disks).
    pub fn view(&self) -> Result<PacksView, super::PackError> {
        let sticks = self.scan_usb().into_iter().map(stick_view).collect();
        let imported = self
            .imported()?
            .into_iter()
            .map(|i| ImportedService {
                id: i.entry.manifest.id.to_string(),
                version: i.entry.manifest.version.clone(),
                pack: i.pack,
                signer: i.signer,
                imported_at: i.imported_at,
            })
            .collect();
        Ok(PacksView {
            sticks,
            imported,
            keys: self.keyring()?.keys,
            registry_mirror: self.registry_mirror()?,
        })
    }
}

fn stick_view(f: usb::Found) -> StickPack {
    let (usable, problem, services, bytes, signer, signer_key, created_at) = match &f.pack {
        Ok(p) => (
            true,
            None,
            p.index.services.clone(),
            p.index.images_bytes(),
            Some(p.signer.key.name.clone()),
            Some(p.signer.key.key.id.to_string()),
            Some(p.index.created_at.clone()),
        ),
        Err(e) => (false, Some(e.clone()), vec![], 0, None, None, None),
    };
    StickPack {
        device: f.fs.device.clone(),
        label: f.fs.label.clone(),
        model: f.fs.model.clone(),
        dir: f.dir.display().to_string(),
        usable,
        problem,
        problem_key: f.problem_key.map(str::to_owned),
        services,
        images_bytes: bytes,
        signer,
        signer_key,
        created_at,
    }
}
