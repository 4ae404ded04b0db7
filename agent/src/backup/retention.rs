//! What a target keeps: `restic forget --prune`, by the kind of snapshot (its `reason=` tag).
//!
//! - Nightly snapshots (`reason=scheduled`) follow the calendar: one a day for a week, one a
//!   week for a month, one a month for a year (restic's `--keep-daily` keeps the newest of
//!   each day).
//! - Snapshots an admin made (`reason=manual`: "Back up now") and the safety snapshots taken
//!   before an update, a restore or a data deletion (`reason=safety`) are the admin's own
//!   points in time: a calendar rule would drop one made the same day as a nightly run, so
//!   they are kept by their own rule, the last [`KEEP_OWN_LAST`] of each service and all of
//!   the last [`KEEP_OWN_WITHIN`], whatever the nightly runs do.
//!
//! Each rule sees only its kind (`--tag`), grouped by host and paths (one group per
//! service, and the box state). Snapshots of another kind, or without a `reason` tag, are
//! never forgotten here.

use super::restic::{self, Repo, ResticError};

/// The nightly snapshots' calendar.
const KEEP_NIGHTLY: &[&str] = &[
    "--keep-daily",
    "7",
    "--keep-weekly",
    "4",
    "--keep-monthly",
    "12",
];

/// The admin's own snapshots: this many of each service…
pub const KEEP_OWN_LAST: &str = "10";
/// …and every one younger than this (restic's duration syntax), counted from the newest.
pub const KEEP_OWN_WITHIN: &str = "30d";

/// Forgets what neither rule keeps, then prunes the repository once (blocking: call from
/// `spawn_blocking`).
pub fn forget_and_prune(repo: &Repo) -> Result<(), ResticError> {
    let base = ["forget", "--group-by", "host,paths"];
    let mut nightly: Vec<&str> = base.to_vec();
    nightly.extend(["--tag", "panier,reason=scheduled"]);
    nightly.extend_from_slice(KEEP_NIGHTLY);
    restic::run(repo, &nightly, |_, _| {})?;
    let mut own: Vec<&str> = base.to_vec();
    // Two --tag options: either kind.
    own.extend([
        "--tag",
        "panier,reason=manual",
        "--tag",
        "panier,reason=safety",
    ]);
    own.extend([
        "--keep-last",
        KEEP_OWN_LAST,
        "--keep-within",
        KEEP_OWN_WITHIN,
    ]);
    own.push("--prune");
    restic::run(repo, &own, |_, _| {}).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// A snapshot of `dir` made by the real restic at `time`, with Panier's tags.
    fn snapshot(repo: &Repo, dir: &std::path::Path, time: &str, reason: &str) {
        let tags = format!("panier,reason={reason},part=app,app=notes");
        restic::run(
            repo,
            &[
                "backup",
                "--host",
                "biblio",
                "--tag",
                &tags,
                "--time",
                time,
                &dir.display().to_string(),
            ],
            |_, _| {},
        )
        .unwrap();
    }

    fn reasons_and_times(repo: &Repo) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = restic::snapshots(repo)
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s.tag("reason").unwrap_or("").to_owned(),
                    s.time.chars().take(16).collect(),
                )
            })
            .collect();
        out.sort_by(|a, b| a.1.cmp(&b.1));
        out
    }

    #[test]
    fn a_same_day_manual_snapshot_survives_the_nightly_retention_with_real_restic() {
        if Command::new("restic").arg("version").output().is_err() {
            panic!("restic is needed (Debian's restic package, tools/install-deps.sh)");
        }
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("notes");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("a.txt"), "des notes").unwrap();
        let repo = Repo {
            url: dir.path().join("repo").display().to_string(),
            shown: "repo".into(),
            password: "un mot de passe".into(),
            options: vec![],
        };
        restic::init_or_open(&repo).unwrap();
        // Ten nightly runs at 03:00; the admin's "Back up now" at 01:00 on the last day,
        // before that day's nightly run; a safety snapshot before an update at 02:00.
        for day in 1..=10 {
            snapshot(
                &repo,
                &data,
                &format!("2026-11-{day:02} 03:00:00"),
                "scheduled",
            );
        }
        snapshot(&repo, &data, "2026-11-10 01:00:00", "manual");
        snapshot(&repo, &data, "2026-11-10 02:00:00", "safety");
        forget_and_prune(&repo).unwrap();
        let left = reasons_and_times(&repo);
        let of = |r: &str| left.iter().filter(|(k, _)| k == r).count();
        assert!(
            left.contains(&("manual".into(), "2026-11-10T01:00".into())),
            "the admin's snapshot of the day stays: {left:?}"
        );
        assert!(
            left.contains(&("safety".into(), "2026-11-10T02:00".into())),
            "{left:?}"
        );
        // The nightly rule itself still applies: a week of days (plus the weekly and
        // monthly ones among older days), not the ten.
        assert!(
            (7..10).contains(&of("scheduled")),
            "the nightly calendar: {left:?}"
        );
        assert!(left.contains(&("scheduled".into(), "2026-11-10T03:00".into())));

        // The admin's own rule: the last 10, and all of the last 30 days.
        for day in 1..=12 {
            snapshot(
                &repo,
                &data,
                &format!("2026-08-{day:02} 12:00:00"),
                "manual",
            );
        }
        forget_and_prune(&repo).unwrap();
        let left = reasons_and_times(&repo);
        let manual: Vec<&str> = left
            .iter()
            .filter(|(k, _)| k == "manual" || k == "safety")
            .map(|(_, t)| t.as_str())
            .collect();
        assert_eq!(manual.len(), 10, "{left:?}");
        assert_eq!(
            manual[0], "2026-08-05T12:00",
            "the oldest ones went: {left:?}"
        );
        assert!(manual.contains(&"2026-11-10T01:00"));
        // What restic keeps reads back: the repository is sound.
        restic::run(&repo, &["check"], |_, _| {}).unwrap();
    }
}
