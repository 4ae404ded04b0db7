//! Backup alerts, decided from the store alone (pure, unit-tested): they feed the red banner
//! on every admin page, the `backup` health check and the journal.
//!
//! - `backup_stale`: a target's last good backup is older than 36 hours (or it has none and
//!   was added more than 36 hours ago);
//! - `backup_failed`: a target's last backup failed;
//! - `backup_target_missing`: the target was absent when its backup was due;
//! - `backup_kit_unconfirmed`: the emergency kit was never confirmed as printed or saved.

use crate::store::{RunRow, TargetRow};
use serde::Serialize;

pub const STALE_AFTER_SECS: i64 = 36 * 3600;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Alert {
    /// `backup_stale`, `backup_failed`, `backup_target_missing` or `backup_kit_unconfirmed`.
    pub key: &'static str,
    pub target: String,
    /// Hours since the last good backup, for `backup_stale`.
    pub hours: Option<i64>,
}

pub fn alerts_from(targets: &[TargetRow], runs: &[RunRow], now: i64) -> Vec<Alert> {
    let mut out = Vec::new();
    for t in targets {
        // Runs are newest first; safety backups count, data checks do not.
        let mine: Vec<&RunRow> = runs
            .iter()
            .filter(|r| r.target_id == t.id && r.reason != "check")
            .collect();
        let last_ok = mine
            .iter()
            .find(|r| r.status == "ok")
            .and_then(|r| r.finished_at);
        let since = now - last_ok.unwrap_or(t.created_at);
        if since > STALE_AFTER_SECS {
            out.push(Alert {
                key: "backup_stale",
                target: t.name.clone(),
                hours: Some(since / 3600),
            });
        }
        if let Some(last) = mine.iter().find(|r| r.status != "running")
            && last.status == "failed"
        {
            let key = if last.error_key.as_deref() == Some("backup_target_missing") {
                "backup_target_missing"
            } else {
                "backup_failed"
            };
            out.push(Alert {
                key,
                target: t.name.clone(),
                hours: None,
            });
        }
        if t.kit_confirmed_at.is_none() {
            out.push(Alert {
                key: "backup_kit_unconfirmed",
                target: t.name.clone(),
                hours: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(created_at: i64) -> TargetRow {
        TargetRow {
            id: 1,
            name: "usb".into(),
            kind: "folder".into(),
            location: "{}".into(),
            password: "x".into(),
            created_at,
            kit_confirmed_at: Some(created_at),
        }
    }

    fn run(id: i64, status: &str, at: i64, key: Option<&str>) -> RunRow {
        RunRow {
            id,
            target_id: 1,
            target: "usb".into(),
            reason: "scheduled".into(),
            app: None,
            started_at: at,
            finished_at: Some(at),
            status: status.into(),
            error_key: key.map(Into::into),
            error: None,
            files: None,
            bytes_added: None,
            bytes_total: None,
            peak_rss_kib: None,
        }
    }

    #[test]
    fn stale_failed_missing() {
        let h = 3600;
        let t = [target(0)];
        assert!(alerts_from(&t, &[run(1, "ok", 100 * h, None)], 110 * h).is_empty());
        let a = alerts_from(&t, &[run(1, "ok", 100 * h, None)], 137 * h);
        assert_eq!(
            a,
            [Alert {
                key: "backup_stale",
                target: "usb".into(),
                hours: Some(37)
            }]
        );
        let a = alerts_from(
            &t,
            &[
                run(2, "failed", 120 * h, Some("backup_target_full")),
                run(1, "ok", 100 * h, None),
            ],
            121 * h,
        );
        assert_eq!(a[0].key, "backup_failed");
        let a = alerts_from(
            &t,
            &[
                run(2, "failed", 120 * h, Some("backup_target_missing")),
                run(1, "ok", 100 * h, None),
            ],
            121 * h,
        );
        assert_eq!(a[0].key, "backup_target_missing");
        assert_eq!(
            alerts_from(&t, &[], 37 * h)[0].key,
            "backup_stale",
            "never backed up since the target was added"
        );
        let mut unconfirmed = target(0);
        unconfirmed.kit_confirmed_at = None;
        assert_eq!(
            alerts_from(&[unconfirmed], &[], h)[0].key,
            "backup_kit_unconfirmed"
        );
    }
}
