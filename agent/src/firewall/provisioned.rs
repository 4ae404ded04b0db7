//! Headless provisioning's one firewall change: SSH keys came with the box, so SSH is opened
//! to the LAN at the first start that sees them, once (the setting `provisioned_ssh`
//! remembers it, so an admin who closes SSH later is not overruled). Recorded in the store
//! before the firewall applies its table, with its own audit entry.

use crate::store::Store;

/// SSH keys came with headless provisioning: open SSH to the LAN, once (the setting
/// `provisioned_ssh` remembers it, so an admin who closes it later is not overruled).
pub fn open_ssh_once(store: &Store) {
    let opened = (|| -> Result<bool, crate::store::StoreError> {
        if store.setting("provisioned_ssh")?.is_some() {
            return Ok(false);
        }
        let mut policy = store.firewall_policy()?;
        policy.ssh_enabled = true;
        let audit = crate::store::NewAudit {
            actor: "provisioning".into(),
            action: "firewall_ssh",
            target: "on".into(),
            result: "ok",
            detail: "SSH keys were provisioned".into(),
        };
        store.save_firewall_policy(&policy, None, &audit)?;
        store.set_setting("provisioned_ssh", "opened")?;
        Ok(true)
    })();
    match opened {
        Ok(true) => log::info!("SSH keys were provisioned: SSH is open to the local network"),
        Ok(false) => {}
        Err(e) => log::error!("cannot open SSH for the provisioned keys: {e}"),
    }
}
