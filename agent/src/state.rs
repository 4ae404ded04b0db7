//! The handles the HTTP handlers can reach. Each handler extracts only the handle it needs
//! (`State<Admins>`, `State<Status>`…) through `FromRef`; there is no context object that
//! hands out everything. Later domains add their handle here and build it in `daemon`.

use crate::access::Access;
use crate::admins::Admins;
use crate::apps::Apps;
use crate::audit::Audit;
use crate::backup::Backups;
use crate::firewall::Firewall;
use crate::health::Health;
use crate::install::Install;
use crate::notify::Notifier;
use crate::pack::Packs;
use crate::status::Status;
use crate::update::Updates;
use axum::extract::FromRef;

#[derive(Clone, FromRef)]
pub struct AppState {
    pub admins: Admins,
    pub audit: Audit,
    pub backups: Backups,
    pub status: Status,
    pub apps: Apps,
    pub firewall: Firewall,
    pub access: Access,
    pub install: Install,
    pub packs: Packs,
    pub updates: Updates,
    pub health: Health,
    pub notifier: Notifier,
    pub reach: crate::reach::Reach,
}
