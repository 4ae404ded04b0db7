//! Services without a registry: what `apps` does with image packs (`crate::pack`).
//!
//! - What is offered: for each service, the catalog's entry or the entry an imported pack
//!   brought, whichever version is newer ([`Apps::offer`]); installs and updates use it, so a
//!   newer pack updates an installed service like a newer catalog would (same update job,
//!   safety snapshot included).
//! - Where an image comes from: an image reference resolves to itself when the engine knows
//!   it, else to the content id a pack loaded for it ([`Apps::resolve_image`]); the jobs'
//!   pull step loads an image from the job's pack when it is there, and pulls only when no
//!   pack has it.
//! - Installing or updating `--from-pack DIR`: the pack is opened and verified first, its
//!   entry for the service is used, and what it loaded is recorded like an import.
//! - Pruning: images loaded from packs and no longer used by an installed service nor offered
//!   by an imported pack entry are removed, as pulled ones are.

use super::{AppError, Apps};
use crate::catalog::manifest::Manifest;
use crate::catalog::{AppId, Entry};
use crate::pack::{OpenPack, Packs};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// A service as it can be installed now.
#[derive(Debug, Clone)]
pub struct Offer {
    pub entry: Entry,
    /// Brought by an imported pack (newer than the catalog's, or absent from it).
    pub from_pack: bool,
    /// Every image of it is in the engine or loaded from a pack: it installs without a
    /// registry.
    pub offline: bool,
}

impl Apps {
    /// Gives the services domain the packs handle (set once by the daemon).
    pub fn set_packs(&self, packs: Packs) {
        let _ = self.inner.packs.set(packs);
    }

    pub fn packs(&self) -> Option<&Packs> {
        self.inner.packs.get()
    }

    /// The catalog's entries and the packs' newer ones, by id.
    pub fn offers(&self) -> BTreeMap<AppId, Offer> {
        let mut out: BTreeMap<AppId, Offer> = self
            .inner
            .catalog
            .entries()
            .map(|e| {
                (
                    e.manifest.id.clone(),
                    Offer {
                        entry: e.clone(),
                        from_pack: false,
                        offline: false,
                    },
                )
            })
            .collect();
        let imported = self
            .packs()
            .map(|p| p.imported().unwrap_or_default())
            .unwrap_or_default();
        for i in imported {
            let id = i.entry.manifest.id.clone();
            let newer = out.get(&id).is_none_or(|o| {
                crate::pack::index::version_cmp(
                    &i.entry.manifest.version,
                    &o.entry.manifest.version,
                )
                .is_gt()
            });
            if newer {
                out.insert(
                    id,
                    Offer {
                        entry: i.entry,
                        from_pack: true,
                        offline: false,
                    },
                );
            }
        }
        for offer in out.values_mut() {
            offer.offline = self.loaded_from_packs(&offer.entry.manifest);
        }
        out
    }

    pub fn offer(&self, app: &AppId) -> Option<Offer> {
        self.offers().remove(app)
    }

    /// Whether every image of `m` was loaded from a pack (checked against the store only:
    /// cheap, for the catalog's cards).
    fn loaded_from_packs(&self, m: &Manifest) -> bool {
        let Some(packs) = self.packs() else {
            return false;
        };
        m.containers
            .iter()
            .all(|c| packs.resolve(&c.image).ok().flatten().is_some())
    }

    /// What the engine should create a container from: the reference itself when the engine
    /// has it, else the content id a pack loaded for it; `None` when neither is there.
    pub(super) async fn resolve_image(
        &self,
        app: &AppId,
        reference: &str,
    ) -> Result<Option<String>, AppError> {
        let engine = &self.inner.engine;
        if engine
            .image_present(reference)
            .await
            .map_err(AppError::engine(app))?
        {
            return Ok(Some(reference.to_owned()));
        }
        let Some(id) = self
            .packs()
            .and_then(|p| p.resolve(reference).ok().flatten())
        else {
            return Ok(None);
        };
        let present = engine
            .image_info(&id)
            .await
            .map_err(AppError::engine(app))?
            .is_some();
        Ok(present.then_some(id))
    }

    /// Loads `reference` from the job's pack when it has it; `Ok(false)` when it has not.
    pub(super) async fn load_from_pack(
        &self,
        app: &AppId,
        pack: Option<&OpenPack>,
        reference: &str,
    ) -> Result<bool, AppError> {
        let (Some(pack), Some(packs)) = (pack, self.packs()) else {
            return Ok(false);
        };
        let Some(image) = pack.index.image(reference) else {
            return Ok(false);
        };
        packs.load(pack, image).await.map_err(|e| AppError::Pack {
            app: app.clone(),
            error: Box::new(e),
        })?;
        Ok(true)
    }

    /// Installs `id` from the pack in `dir` (verified first), with its packed entry.
    pub fn install_from_pack(
        &self,
        id: &str,
        settings: &BTreeMap<String, String>,
        actor: &str,
        pack: OpenPack,
    ) -> Result<i64, AppError> {
        let (app, entry) = self.packed_entry(id, &pack)?;
        let r = self.install_entry(&app, entry, settings, actor, Some(Arc::new(pack)));
        self.audit(actor, "app_install_from_pack", id, &r);
        r
    }

    /// Updates `app` to the version the pack in `dir` carries (verified first).
    pub fn update_from_pack(
        &self,
        app: &AppId,
        actor: &str,
        pack: OpenPack,
    ) -> Result<i64, AppError> {
        let result = self
            .packed_entry(app.as_str(), &pack)
            .and_then(|(_, entry)| {
                self.update_to(app, entry.manifest, actor, Some(Arc::new(pack)))
            });
        self.audit(actor, "app_update_from_pack", app.as_str(), &result);
        result
    }

    fn packed_entry(&self, id: &str, pack: &OpenPack) -> Result<(AppId, Entry), AppError> {
        let app = AppId::parse(id).map_err(|_| AppError::NotInCatalog(id.to_owned()))?;
        let (_, entry) = pack.service_entry(&app).map_err(|e| AppError::Pack {
            app: app.clone(),
            error: Box::new(e),
        })?;
        Ok((app, entry))
    }

    /// Imports the pack (verified first): loads every image of every service it carries,
    /// each checked, and records the services so that they install and update offline. One
    /// box job (`pack_import`); a service whose manifest is refused stops the import before
    /// anything of it is loaded. Returns the job id.
    pub fn import_pack(&self, actor: &str, pack: OpenPack) -> Result<i64, AppError> {
        let result = self.import_pack_inner(actor, pack.clone());
        self.audit(
            actor,
            "pack_import",
            &pack.dir.display().to_string(),
            &result,
        );
        result
    }

    fn import_pack_inner(&self, actor: &str, pack: OpenPack) -> Result<i64, AppError> {
        let entries: Vec<Entry> = pack
            .index
            .services
            .iter()
            .map(|s| self.packed_entry(s.id.as_str(), &pack).map(|(_, e)| e))
            .collect::<Result<_, _>>()?;
        self.engine_up()?;
        let job = self.inner.jobs.begin_box("pack_import", actor)?;
        let id = job.id;
        let apps = self.clone();
        tokio::spawn(async move {
            let total = pack.index.images_bytes().max(1);
            let mut done = 0u64;
            let result = async {
                for entry in &entries {
                    let app = entry.manifest.id.clone();
                    for c in &entry.manifest.containers {
                        job.step("load", (done * 100 / total) as i64);
                        apps.load_from_pack(&app, Some(&pack), &c.image).await?;
                        done += pack
                            .index
                            .image(&c.image)
                            .and_then(|i| pack.index.file(&i.file))
                            .map_or(0, |f| f.size);
                    }
                    apps.record_pack_entry(Some(&pack), &app);
                }
                Ok::<_, AppError>(())
            }
            .await;
            job.finish(result.map_err(|e| super::failure::of(&e)));
        });
        Ok(id)
    }

    /// After a job from a pack succeeded: the pack's entry becomes what is offered.
    pub(super) fn record_pack_entry(&self, pack: Option<&OpenPack>, app: &AppId) {
        let (Some(pack), Some(packs)) = (pack, self.packs()) else {
            return;
        };
        let recorded = pack
            .service_entry(app)
            .and_then(|(_, entry)| packs.record_service(pack, &entry));
        if let Err(e) = recorded {
            log::warn!(app = app.as_str(); "the pack's entry was not recorded: {e}");
        }
    }

    /// Removes images loaded from packs that nothing installed or offered uses any more.
    pub(super) async fn prune_pack_images(&self, used: &HashSet<String>) {
        let Some(packs) = self.packs() else {
            return;
        };
        let offered: HashSet<String> = packs
            .imported()
            .unwrap_or_default()
            .into_iter()
            .flat_map(|i| i.entry.manifest.containers.into_iter().map(|c| c.image))
            .collect();
        let Ok(loaded) = self.inner.store.pack_images() else {
            return;
        };
        for (reference, id) in loaded {
            if used.contains(&reference) || offered.contains(&reference) {
                continue;
            }
            // By its reference first: an image with a tag is not removed by its id alone.
            if crate::pack::open::repo_and_tag(&reference).is_some() {
                let _ = self
                    .inner
                    .engine
                    .remove_image(reference.split('@').next().unwrap_or(&reference))
                    .await;
            }
            match self.inner.engine.remove_image(&id).await {
                Ok(()) => {
                    log::info!("pruned the unused image {reference} ({id}), loaded from a pack");
                    let _ = self.inner.store.forget_pack_image(&reference);
                }
                Err(e) => log::debug!("keeping {reference}: {e}"),
            }
        }
    }
}
