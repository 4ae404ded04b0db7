//! `panier catalog pin` against a real registry (Debian's `docker-registry`, images pushed
//! with skopeo): tags resolved to the digests the registry serves and written into the
//! manifest without disturbing the rest of the file; a second run changes nothing; a tag
//! pushed again moves its pin; an unknown tag leaves the file as it was and says why. The
//! pinned catalog then installs through the engine's pull path, by digest, in a package
//! check.

use panier_system_tests::engine::{busybox_image, engine_url};
use panier_system_tests::registry::Registry;
use panier_system_tests::services::{TEST_IMAGE, suffix, test_image};
use panier_system_tests::smoke::{left_behind, smoke};
use panier_system_tests::{panier_bin, workspace_root};
use std::path::Path;
use std::process::{Command, Output};

fn pin(dir: &Path) -> (Output, serde_json::Value) {
    let out = Command::new(panier_bin())
        .args(["catalog", "pin"])
        .arg(dir)
        .arg("--json")
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out, json)
}

#[test]
fn tags_are_pinned_to_the_registry_digests_in_place() {
    let engine = engine_url();
    test_image(&engine);
    let other = "panier-test/pin-other:1";
    busybox_image(
        &engine,
        other,
        &[("/etc/pin-other", "another image\n")],
        r#"["sh"]"#,
    )
    .unwrap();
    let registry = Registry::start().unwrap();
    let sfx = suffix();
    let repo = format!("panier-test/pin{sfx}");
    let pushed = registry
        .push_from_engine(&engine, TEST_IMAGE, &repo, "1")
        .unwrap();

    // The test catalog's site, its image taken from the registry, with a comment on the line.
    let dir = tempfile::tempdir().unwrap();
    let id = format!("pinsite{sfx}");
    let src = workspace_root().join("tests/catalog/site");
    std::fs::create_dir_all(dir.path().join(&id)).unwrap();
    for f in std::fs::read_dir(&src).unwrap().flatten() {
        let mut text = std::fs::read_to_string(f.path()).unwrap();
        if f.file_name() == "manifest.toml" {
            text = text
                .replace("id = \"site\"", &format!("id = \"{id}\""))
                .replace(
                    "image = \"panier-test/busybox:1\"\n",
                    &format!(
                        "image = \"{}\"   # from the local registry\n",
                        pushed.tagged
                    ),
                )
                .replace(
                    "image = \"panier-test/busybox:1\"",
                    &format!("image = \"{}\"", pushed.tagged),
                );
        }
        std::fs::write(dir.path().join(&id).join(f.file_name()), text).unwrap();
    }
    let manifest = dir.path().join(&id).join("manifest.toml");
    let before = std::fs::read_to_string(&manifest).unwrap();
    assert!(before.contains("# from the local registry"), "{before}");

    let (out, lines) = pin(dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lines[0]["outcome"], "pinned", "{lines}");
    assert_eq!(lines[0]["field"], "containers[0].image");
    let after = std::fs::read_to_string(&manifest).unwrap();
    assert_eq!(
        after,
        before.replacen(
            &format!("image = \"{}\"", pushed.tagged),
            &format!("image = \"{}\"", pushed.pinned()),
            1
        ),
        "only the container's image changed (the provenance keeps the tag)"
    );
    assert_eq!(
        registry.digest_of(&repo, "1").unwrap().as_deref(),
        Some(pushed.digest.as_str())
    );

    // Again: nothing to change.
    let (out, lines) = pin(dir.path());
    assert!(out.status.success());
    assert_eq!(lines[0]["outcome"], "unchanged", "{lines}");
    assert_eq!(std::fs::read_to_string(&manifest).unwrap(), after);

    // The pinned catalog installs by digest and passes the package check.
    let tmp = tempfile::tempdir().unwrap();
    let run = smoke(dir.path(), tmp.path(), &[&id, "--timeout-s", "120"]);
    assert!(
        run.output.status.success(),
        "{}\n{}",
        run.report,
        run.stderr()
    );
    assert_eq!(run.step(&id, "probe_restored").0, "ok");
    assert!(left_behind(&id, tmp.path()).is_empty());

    // The tag is pushed again with another image: the pin moves to its digest.
    let moved = registry
        .push_from_engine(&engine, other, &repo, "1")
        .unwrap();
    assert_ne!(moved.digest, pushed.digest);
    let (out, lines) = pin(dir.path());
    assert!(out.status.success());
    assert_eq!(lines[0]["outcome"], "moved", "{lines}");
    assert!(
        std::fs::read_to_string(&manifest)
            .unwrap()
            .contains(&format!(
                "image = \"{}\"   # from the local registry",
                moved.pinned()
            ))
    );

    // A tag the registry does not have: the file stays, the command says which and fails.
    let unknown = format!("{}/{repo}:9", registry.host());
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace(&moved.pinned(), &unknown)
        .replace(&pushed.tagged, &unknown);
    std::fs::write(&manifest, &text).unwrap();
    let (out, lines) = pin(dir.path());
    assert!(!out.status.success());
    assert_eq!(lines[0]["outcome"], "failed", "{lines}");
    assert!(
        lines[0]["error"]
            .as_str()
            .unwrap()
            .contains("has no tag '9'"),
        "{lines}"
    );
    assert_eq!(std::fs::read_to_string(&manifest).unwrap(), text);
}
