//! The firewall at a glance, as the Firewall page and `GET /api/v1/firewall` show it: what the
//! table is generated from, the policy, the detected LAN, a pending revert, the last error and
//! the policy explained in plain sentences in the reader's language.

use super::{Firewall, FirewallError, FirewallPolicy, FirewallState, Subnet};
use crate::i18n::messages;
use crate::names::Language;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct FirewallOverview {
    /// False when the agent runs with `--firewall off`.
    pub enabled: bool,
    /// What the table is generated from.
    pub state: FirewallState,
    pub policy: FirewallPolicy,
    /// The LAN as detected on the interfaces (used unless `policy.lan_override` is set).
    pub detected_lan: Vec<Subnet>,
    /// Unix time at which an unconfirmed change is undone.
    pub revert_at: Option<i64>,
    /// Why the last application failed, if it did.
    pub last_error: Option<String>,
    /// One plain sentence per fact, in `language`.
    pub explanation: Vec<String>,
    pub language: String,
}

/// The overview in `lang`.
pub fn overview(fw: &Firewall, lang: Language) -> Result<FirewallOverview, FirewallError> {
    let policy = fw.policy()?;
    let state = fw.state_for(&policy);
    let explanation =
        super::explain::explain(&state, policy.lan_override.is_none(), messages(lang));
    Ok(FirewallOverview {
        enabled: fw.enabled(),
        detected_lan: fw.detected_lan(),
        revert_at: fw.pending_until()?,
        last_error: fw.last_error(),
        explanation,
        language: lang.code().to_owned(),
        state,
        policy,
    })
}
