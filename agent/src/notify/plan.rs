//! What to mail, as a pure function of the critical findings now, the issues already known
//! and the last digest: each new critical issue once, then one digest a day listing those
//! that last; an issue that is gone is forgotten (if it comes back, it is mailed again).

use crate::health::{Finding, State};
use crate::store::NotifiedIssue;

pub const DIGEST_EVERY_SECS: i64 = 24 * 3600;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// New critical findings (or known ones never mailed): one alert mail each.
    pub alerts: Vec<Finding>,
    /// The critical findings to list in a digest now, if one is due.
    pub digest: Vec<Finding>,
    /// Known issues that are gone: (check, key).
    pub gone: Vec<(String, String)>,
}

fn same(f: &Finding, i: &NotifiedIssue) -> bool {
    f.check == i.check && f.key == i.key
}

pub fn plan(
    findings: &[Finding],
    known: &[NotifiedIssue],
    digest_at: Option<i64>,
    now: i64,
) -> Plan {
    let critical: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.state == State::Critical)
        .collect();
    let alerts: Vec<Finding> = critical
        .iter()
        .filter(|f| !known.iter().any(|i| same(f, i) && i.mailed_at.is_some()))
        .map(|f| (*f).clone())
        .collect();
    let gone = known
        .iter()
        .filter(|i| !critical.iter().any(|f| same(f, i)))
        .map(|i| (i.check.clone(), i.key.clone()))
        .collect();
    // A digest is due a day after the last one, or after the oldest alert still lasting.
    let lasting: Vec<&NotifiedIssue> = known
        .iter()
        .filter(|i| i.mailed_at.is_some() && critical.iter().any(|f| same(f, i)))
        .collect();
    let since = lasting
        .iter()
        .filter_map(|i| i.mailed_at)
        .min()
        .map(|oldest| digest_at.map_or(oldest, |d| d.max(oldest)));
    let digest = match since {
        Some(t) if now - t >= DIGEST_EVERY_SECS => critical.iter().map(|f| (*f).clone()).collect(),
        _ => Vec::new(),
    };
    Plan {
        alerts,
        digest,
        gone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loop_finding() -> Finding {
        Finding::new("services", State::Critical, "service_restart_loop").arg("services", "pad")
    }

    fn known(mailed_at: Option<i64>) -> NotifiedIssue {
        NotifiedIssue {
            check: "services".into(),
            key: "service_restart_loop".into(),
            first_seen: 1000,
            mailed_at,
        }
    }

    #[test]
    fn once_then_a_daily_digest_while_it_lasts() {
        let f = [
            loop_finding(),
            Finding::new("memory", State::Warning, "memory_low"),
        ];
        // New: one alert (warnings are not mailed).
        let p = plan(&f, &[], None, 1000);
        assert_eq!(p.alerts, vec![loop_finding()]);
        assert!(p.digest.is_empty() && p.gone.is_empty());
        // Mailed: nothing more the same day.
        let mailed = [known(Some(1000))];
        assert_eq!(plan(&f, &mailed, None, 1000 + 3600), Plan::default());
        // A day later: the digest.
        let p = plan(&f, &mailed, None, 1000 + DIGEST_EVERY_SECS);
        assert!(p.alerts.is_empty());
        assert_eq!(p.digest, vec![loop_finding()]);
        // Not again until the next day.
        let day = 1000 + DIGEST_EVERY_SECS;
        assert_eq!(plan(&f, &mailed, Some(day), day + 3600), Plan::default());
        assert_eq!(
            plan(&f, &mailed, Some(day), day + DIGEST_EVERY_SECS)
                .digest
                .len(),
            1
        );
        // Never mailed (the relay failed): alerted again.
        assert_eq!(plan(&f, &[known(None)], None, 5000).alerts.len(), 1);
        // Gone: forgotten.
        let p = plan(&f[1..], &mailed, None, 5000);
        assert_eq!(
            p.gone,
            vec![("services".to_owned(), "service_restart_loop".to_owned())]
        );
    }
}
