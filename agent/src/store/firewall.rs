//! The firewall's choices: LAN override, SSH, per-service exposure, and the policy kept to go
//! back to while a change waits for confirmation.

use super::{Context, NewAudit, Store, StoreError};
use crate::firewall::{Exposure, FirewallPolicy, Subnet};
use rusqlite::{OptionalExtension, params};
use std::collections::BTreeMap;

fn subnets_text(list: &[Subnet]) -> String {
    list.iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads a stored subnet list. A value this version cannot read is an error, never a reset.
fn parse_subnets(text: &str) -> Result<Vec<Subnet>, StoreError> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            Subnet::parse(s).map_err(|e| StoreError {
                op: "reading the firewall's LAN override",
                source: rusqlite::Error::InvalidParameterName(e.message),
            })
        })
        .collect()
}

fn write_policy(tx: &rusqlite::Transaction<'_>, policy: &FirewallPolicy) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE firewall_policy SET lan_override = ?1, ssh_enabled = ?2 WHERE id = 1",
        params![
            policy.lan_override.as_deref().map(subnets_text),
            policy.ssh_enabled
        ],
    )?;
    tx.execute("DELETE FROM firewall_exposure", [])?;
    for (app, exposure) in &policy.exposures {
        tx.execute(
            "INSERT INTO firewall_exposure(app, exposure) VALUES (?1, ?2)",
            params![app, exposure.as_str()],
        )?;
    }
    Ok(())
}

impl Store {
    pub fn firewall_policy(&self) -> Result<FirewallPolicy, StoreError> {
        let conn = self.conn();
        let (lan, ssh): (Option<String>, bool) = conn
            .query_row(
                "SELECT lan_override, ssh_enabled FROM firewall_policy WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ctx("reading the firewall policy")?;
        let mut st = conn
            .prepare("SELECT app, exposure FROM firewall_exposure ORDER BY app")
            .ctx("reading service exposures")?;
        let rows: Vec<(String, String)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(Iterator::collect)
            .ctx("reading service exposures")?;
        let mut exposures = BTreeMap::new();
        for (app, e) in rows {
            // The CHECK constraint keeps other values out.
            exposures.insert(app, Exposure::parse(&e).unwrap_or_default());
        }
        Ok(FirewallPolicy {
            lan_override: lan.as_deref().map(parse_subnets).transpose()?,
            ssh_enabled: ssh,
            exposures,
        })
    }

    /// Saves `policy`; `pending` is the policy to go back to (and when) if nobody confirms, or
    /// `None` to clear it. One transaction with its audit entry.
    pub fn save_firewall_policy(
        &self,
        policy: &FirewallPolicy,
        pending: Option<(&FirewallPolicy, i64)>,
        audit: &NewAudit,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().ctx("starting a firewall change")?;
        write_policy(&tx, policy).ctx("saving the firewall policy")?;
        let (previous, until) = match pending {
            Some((p, until)) => (
                Some(serde_json::to_string(p).expect("a policy serializes")),
                Some(until),
            ),
            None => (None, None),
        };
        tx.execute(
            "UPDATE firewall_policy SET pending_previous = ?1, pending_until = ?2 WHERE id = 1",
            params![previous, until],
        )
        .ctx("saving the pending change")?;
        super::audit::insert(&tx, audit).ctx("auditing a firewall change")?;
        tx.commit().ctx("committing a firewall change")
    }

    /// The policy to go back to if the pending change is not confirmed, and its deadline.
    pub fn firewall_pending(&self) -> Result<Option<(FirewallPolicy, i64)>, StoreError> {
        let row: Option<(Option<String>, Option<i64>)> = self
            .conn()
            .query_row(
                "SELECT pending_previous, pending_until FROM firewall_policy WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .ctx("reading the pending firewall change")?;
        match row {
            Some((Some(json), Some(until))) => {
                let p = serde_json::from_str(&json).map_err(|e| StoreError {
                    op: "reading the pending firewall change",
                    source: rusqlite::Error::InvalidParameterName(e.to_string()),
                })?;
                Ok(Some((p, until)))
            }
            _ => Ok(None),
        }
    }

    /// Confirms the pending change (keeps the current policy).
    pub fn clear_firewall_pending(&self, audit: &NewAudit) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().ctx("confirming a firewall change")?;
        tx.execute(
            "UPDATE firewall_policy SET pending_previous = NULL, pending_until = NULL WHERE id = 1",
            [],
        )
        .ctx("confirming a firewall change")?;
        super::audit::insert(&tx, audit).ctx("auditing a firewall confirmation")?;
        tx.commit().ctx("committing a firewall confirmation")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_round_trips_with_pending() {
        let store = Store::memory();
        let first = store.firewall_policy().unwrap();
        assert_eq!(first, FirewallPolicy::default());
        let mut next = first.clone();
        next.lan_override = Some(vec![
            Subnet::parse("10.203.1.0/24").unwrap(),
            Subnet::parse("fd00::/64").unwrap(),
        ]);
        next.ssh_enabled = true;
        next.exposures.insert("etherpad".into(), Exposure::Outside);
        let audit = NewAudit {
            actor: "t".into(),
            action: "firewall_change",
            target: String::new(),
            result: "ok",
            detail: String::new(),
        };
        store
            .save_firewall_policy(&next, Some((&first, 42)), &audit)
            .unwrap();
        assert_eq!(store.firewall_policy().unwrap(), next);
        assert_eq!(store.firewall_pending().unwrap(), Some((first, 42)));
        store.clear_firewall_pending(&audit).unwrap();
        assert_eq!(store.firewall_pending().unwrap(), None);
    }
}
