//! Services installed at a box's first start without anyone acting: a workshop's box handed
//! over with its pads ready, or a release image's preloaded set.
//!
//! `<data_dir>/preload/` holds `pack/` (an image pack), `keys/*.pub` (keys that may sign it:
//! the workshop's; enrolled for packs when the preload is applied, so the workshop's later
//! packs update the box) and `services.json` (the ids to install, `["pad"]`). At start, once
//! the engine answers, the agent enrols the keys, opens the pack (verified like any pack),
//! imports it, installs each listed service that is not installed with its default settings,
//! then renames `services.json` to `services.done.json` and removes `pack/` (its images are in
//! the engine now): it happens once.
//!
//! Limits: a listed service with a required setting that has no default is skipped (logged and
//! audited): it is installed after setup, from the Catalog page, with its settings.

use super::Apps;
use crate::pack::Packs;
use std::path::Path;
use std::time::Duration;

const ACTOR: &str = "preload (first start)";

/// Waits for job `id` to end; its state.
async fn finished(apps: &Apps, id: i64) -> String {
    loop {
        match apps.jobs().get(id) {
            Ok(Some(j)) if j.state != "running" => return j.state,
            Ok(Some(_)) => tokio::time::sleep(Duration::from_millis(300)).await,
            _ => return "unknown".into(),
        }
    }
}

impl Apps {
    /// Applies `<data_dir>/preload/` in the background, when it asks for services.
    pub fn start_preload(&self) {
        let dir = self.inner.data_dir.join("preload");
        if !dir.join("services.json").is_file() {
            return;
        }
        let apps = self.clone();
        tokio::spawn(async move {
            for _ in 0..600 {
                if matches!(apps.engine_status(), super::EngineStatus::Up { .. }) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            if let Err(e) = apps.preload(&dir).await {
                log::error!("preload from {}: {e}", dir.display());
            }
        });
    }

    async fn preload(&self, dir: &Path) -> Result<(), String> {
        let packs: Packs = self.packs().cloned().ok_or("no packs handle")?;
        let wanted: Vec<String> = std::fs::read(dir.join("services.json"))
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))?;
        let keys: Vec<_> = std::fs::read_dir(dir.join("keys"))
            .map(|r| r.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        for key in keys
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "pub"))
        {
            let name = key
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let text = std::fs::read_to_string(key).map_err(|e| e.to_string())?;
            match packs.enrol(ACTOR, &name, &text) {
                Ok(_) | Err(crate::pack::PackError::KeyExists(_)) => {}
                Err(e) => log::warn!("preload: the key {} is not enrolled: {e}", key.display()),
            }
        }
        let pack_dir = dir.join("pack");
        let p = packs.clone();
        let pack = tokio::task::spawn_blocking(move || p.open(&pack_dir))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let job = self.import_pack(ACTOR, pack).map_err(|e| e.to_string())?;
        let state = finished(self, job).await;
        if state != "succeeded" {
            return Err(format!(
                "the import of the preloaded pack {state} (job #{job})"
            ));
        }
        for id in wanted {
            let installed = crate::catalog::AppId::parse(&id)
                .ok()
                .is_some_and(|a| self.installed_ids().contains(&a));
            if installed {
                continue;
            }
            match self.install_audited(&id, &Default::default(), ACTOR) {
                Ok(job) => {
                    let state = finished(self, job).await;
                    log::info!(app = id.as_str(); "preloaded service {id}: install {state}");
                }
                Err(e) => {
                    log::warn!(app = id.as_str(); "preloaded service {id} not installed: {e}")
                }
            }
        }
        std::fs::rename(dir.join("services.json"), dir.join("services.done.json"))
            .map_err(|e| e.to_string())?;
        let _ = std::fs::remove_dir_all(dir.join("pack"));
        Ok(())
    }
}
