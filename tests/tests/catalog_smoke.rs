//! `panier catalog smoke` over the busybox test catalog (`tests/catalog/`) with the real
//! engine: every step of every service in the JSON report, the update from a previous
//! catalog version where one is given (skipped, with the reason, where not), and nothing
//! left behind afterwards (no container, no network, no scratch folder); the services made
//! never to work (`broken`, `hog`, `crashloop`) are left out. Then a service whose
//! probe cannot pass: the report names the step and why, the later steps are skipped, and
//! the cleanup still happens.

use panier_system_tests::engine::engine_url;
use panier_system_tests::services::{suffix, test_catalog, test_image};
use panier_system_tests::smoke::{left_behind, smoke};
use std::path::Path;

/// Test services that never work, by design: `broken` (its install fails), `hog` (killed for
/// memory), `crashloop` (stops again and again).
const NEVER_WORK: [&str; 3] = ["broken", "hog", "crashloop"];

/// The test catalog with unique ids, without the services that never work.
fn catalog(dir: &Path) -> (String, Vec<String>) {
    let sfx = suffix();
    let ids = test_catalog(dir, &sfx);
    for base in NEVER_WORK {
        std::fs::remove_dir_all(dir.join(format!("{base}{sfx}"))).unwrap();
    }
    let ids = ids
        .into_iter()
        .filter(|i| !NEVER_WORK.iter().any(|b| *i == format!("{b}{sfx}")))
        .collect();
    (sfx, ids)
}

/// `src/<id>` copied into `dst/<id>` with an older version (and a mark in its page).
fn older_version(src: &Path, dst: &Path, id: &str) {
    std::fs::create_dir_all(dst.join(id)).unwrap();
    for f in std::fs::read_dir(src.join(id)).unwrap().flatten() {
        let mut text = std::fs::read_to_string(f.path()).unwrap();
        if f.file_name() == "manifest.toml" {
            assert!(text.contains("version = \"1.0-1\""), "{id}");
            text = text.replace("version = \"1.0-1\"", "version = \"0.9-1\"");
        }
        std::fs::write(dst.join(id).join(f.file_name()), text).unwrap();
    }
}

#[test]
fn smoke_proves_every_test_service_and_leaves_nothing_behind() {
    test_image(&engine_url());
    let dir = tempfile::tempdir().unwrap();
    let (cat, prev, tmp) = (
        dir.path().join("catalog"),
        dir.path().join("previous"),
        dir.path().join("tmp"),
    );
    for d in [&cat, &prev, &tmp] {
        std::fs::create_dir_all(d).unwrap();
    }
    let (sfx, ids) = catalog(&cat);
    // The previous catalog version has two of them: a cold one and a hot one.
    let (site, notes) = (format!("site{sfx}"), format!("notes{sfx}"));
    older_version(&cat, &prev, &site);
    older_version(&cat, &prev, &notes);

    let run = smoke(
        &cat,
        &tmp,
        &[
            "--all",
            "--previous",
            prev.to_str().unwrap(),
            "--timeout-s",
            "120",
        ],
    );
    assert!(
        run.output.status.success(),
        "{}\n{}",
        run.report,
        run.stderr()
    );
    assert_eq!(run.report["ok"], true);
    assert_eq!(
        run.report["services"].as_array().unwrap().len(),
        ids.len(),
        "{}",
        run.report
    );
    for id in &ids {
        let updated = *id == site || *id == notes;
        for step in [
            "install",
            "healthy",
            "probe",
            "backup",
            "remove",
            "restore",
            "probe_restored",
            "cleanup",
        ] {
            assert_eq!(run.step(id, step).0, "ok", "{id} {step}: {}", run.report);
        }
        let (update, why) = run.step(id, "update");
        let (probe_updated, _) = run.step(id, "probe_updated");
        if updated {
            assert_eq!(
                (update.as_str(), probe_updated.as_str()),
                ("ok", "ok"),
                "{id}: {}",
                run.report
            );
        } else {
            assert_eq!(update, "skipped", "{id}: {}", run.report);
            assert!(why.contains("does not have this service"), "{id}: {why}");
            assert_eq!(probe_updated, "skipped", "{id}");
        }
        // Each step's time is reported.
        assert!(
            run.service(id)["steps"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["seconds"].as_f64().is_some()),
            "{}",
            run.report
        );
        let left = left_behind(id, &tmp);
        assert!(left.is_empty(), "{id} left {left:?}");
    }
}

#[test]
fn a_failing_probe_is_reported_with_its_step_and_reason_and_cleanup_still_happens() {
    test_image(&engine_url());
    let dir = tempfile::tempdir().unwrap();
    let (cat, tmp) = (dir.path().join("catalog"), dir.path().join("tmp"));
    std::fs::create_dir_all(&cat).unwrap();
    std::fs::create_dir_all(&tmp).unwrap();
    let (sfx, _) = catalog(&cat);
    let site = format!("site{sfx}");
    // The page says "hello"; the probe wants something else.
    let manifest = cat.join(&site).join("manifest.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("contains = \"hello\"", "contains = \"never there\""),
    )
    .unwrap();

    let run = smoke(&cat, &tmp, &[&site, "--probe-timeout-s", "10"]);
    assert!(!run.output.status.success(), "{}", run.report);
    assert_eq!(run.report["ok"], false);
    assert_eq!(run.service(&site)["ok"], false);
    for step in ["install", "healthy"] {
        assert_eq!(run.step(&site, step).0, "ok", "{step}: {}", run.report);
    }
    let (probe, why) = run.step(&site, "probe");
    assert_eq!(probe, "failed", "{}", run.report);
    assert!(
        why.contains("GET /index.html") && why.contains("does not hold \"never there\""),
        "{why}"
    );
    for step in [
        "backup",
        "remove",
        "restore",
        "probe_restored",
        "update",
        "probe_updated",
    ] {
        let (result, why) = run.step(&site, step);
        assert_eq!(result, "skipped", "{step}: {}", run.report);
        assert_eq!(why, "the step probe failed", "{step}");
    }
    assert_eq!(run.step(&site, "cleanup").0, "ok", "{}", run.report);
    let left = left_behind(&site, &tmp);
    assert!(left.is_empty(), "left {left:?}");
    // The text report says it too, in the language asked.
    let text = std::process::Command::new(panier_system_tests::panier_bin())
        .args([
            "catalog",
            "smoke",
            &site,
            "--probe-timeout-s",
            "5",
            "--catalog",
        ])
        .arg(&cat)
        .args(["--engine", &engine_url()])
        .env("TMPDIR", &tmp)
        .env("LANG", "fr_FR.UTF-8")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(!text.status.success());
    assert!(
        out.contains("vérification ÉCHOUÉE")
            && out.contains("la réponse ne contient pas « never there »"),
        "{out}"
    );
    let left = left_behind(&site, &tmp);
    assert!(left.is_empty(), "left {left:?}\n{out}");
}
