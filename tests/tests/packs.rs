//! Image packs against the real pieces: busybox images pushed to Debian's docker-registry,
//! packs made from them with `panier pack create` through the real engine and signed with a
//! key from `panier pack key new`, then the registry stopped and the images removed, so the
//! agent has no registry at all: a plain install fails saying so in plain words; a pack with
//! a changed index, one signed by an unknown key, and one with a damaged archive are refused
//! and leave nothing in the engine; the good pack installs the service, which answers; the
//! newer pack updates it (the update job, safety backup included) and the old image is
//! pruned; the minisign tool and the packs agree both ways. A pack on a loop device
//! presented as a USB stick is found and imported.

use panier_system_tests::engine::{docker, engine_url};
use panier_system_tests::packs::Packs;
use panier_system_tests::services::{container_ip, http_get, objects_of};
use panier_system_tests::stick::Stick;
use panier_system_tests::{Agent, AgentOptions, wait_until};
use std::process::{Command, Output};
use std::time::Duration;

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "command failed: {}", text(out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn refused(out: &Output, want: &str) {
    eprintln!(
        "refused as expected: {}",
        text(out).trim().replace('\n', " / ")
    );
    assert!(!out.status.success(), "not refused: {}", text(out));
    assert!(
        text(out).contains(want),
        "refused without '{want}': {}",
        text(out)
    );
}

struct Box_ {
    agent: Agent,
    engine: String,
    id: String,
}

impl Drop for Box_ {
    fn drop(&mut self) {
        self.agent.kill9();
        let (containers, networks) = objects_of(&self.engine, &self.id);
        for c in containers {
            let _ = docker(&self.engine, &["rm", "-f", &c]);
        }
        for n in networks {
            let _ = docker(&self.engine, &["network", "rm", &n]);
        }
    }
}

fn start(packs: &Packs, env: Vec<(String, String)>) -> Box_ {
    let agent = Agent::start_with(AgentOptions {
        engine: Some(packs.engine.clone()),
        extra_args: vec!["--catalog".into(), packs.v1.catalog.display().to_string()],
        env,
        ..Default::default()
    });
    agent.setup("biblio", "camille", "un mot de passe solide");
    ok(&agent.cli(&[
        "pack",
        "key",
        "add",
        "atelier",
        packs.public.to_str().unwrap(),
    ]));
    Box_ {
        agent,
        engine: packs.engine.clone(),
        id: packs.id.clone(),
    }
}

fn page(b: &Box_) -> Option<String> {
    let ip = container_ip(&b.engine, &format!("panier-{}-web", b.id))?;
    http_get(&format!("http://{ip}:8080/"))
}

#[test]
fn installs_and_updates_from_packs_with_no_registry_and_refuses_changed_ones() {
    let engine = engine_url();
    let packs = Packs::make(&engine).expect("the packs are made");
    let id = packs.id.clone();
    assert!(!packs.engine_has(&packs.v1.image_id) && !packs.engine_has(&packs.v2.image_id));

    // The minisign tool checks what panier signed.
    let index = packs.v1.pack.join("pack.json");
    let checked = Command::new("minisign")
        .args([
            "-V",
            "-p",
            packs.public.to_str().unwrap(),
            "-m",
            index.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(checked.status.success(), "minisign -V: {}", text(&checked));

    let b = start(&packs, vec![]);

    // No registry answers: the install fails in plain words, with what to do.
    let out = b.agent.cli(&["app", "install", &id, "--follow"]);
    refused(&out, "does not answer");
    refused(&out, "image pack");

    // A changed index: its signature no longer matches; nothing starts.
    let changed = packs.copy_of(&packs.v1.pack, "changed").unwrap();
    let index_text = std::fs::read_to_string(changed.join("pack.json")).unwrap();
    std::fs::write(
        changed.join("pack.json"),
        index_text.replacen("panier ", "panier-evil ", 1),
    )
    .unwrap();
    let out = b.agent.cli(&[
        "app",
        "install",
        &id,
        "--from-pack",
        changed.to_str().unwrap(),
    ]);
    refused(&out, "keyring_signature_invalid");

    // Signed by a key the box does not trust (with the minisign tool): refused.
    let stranger = packs.copy_of(&packs.v1.pack, "stranger").unwrap();
    let other = packs.tmp.path().join("other.key");
    let made = Command::new("minisign")
        .args(["-G", "-W", "-f", "-p"])
        .arg(packs.tmp.path().join("other.pub"))
        .arg("-s")
        .arg(&other)
        .output()
        .unwrap();
    assert!(made.status.success(), "minisign -G: {}", text(&made));
    let signed = Command::new("minisign")
        .arg("-S")
        .arg("-s")
        .arg(&other)
        .arg("-m")
        .arg(stranger.join("pack.json"))
        .arg("-x")
        .arg(stranger.join("pack.json.minisig"))
        .output()
        .unwrap();
    assert!(signed.status.success(), "minisign -S: {}", text(&signed));
    let out = b.agent.cli(&[
        "app",
        "install",
        &id,
        "--from-pack",
        stranger.to_str().unwrap(),
    ]);
    refused(&out, "keyring_unknown_key");

    // A damaged archive (same size, one byte changed): the job says so, the install is
    // undone and the engine holds nothing of it.
    let damaged = packs.copy_of(&packs.v1.pack, "damaged").unwrap();
    let archive = Packs::archive(&damaged);
    let mut bytes = std::fs::read(&archive).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&archive, &bytes).unwrap();
    let out = b.agent.cli(&[
        "app",
        "install",
        &id,
        "--from-pack",
        damaged.to_str().unwrap(),
        "--follow",
    ]);
    refused(&out, "does not match the pack's signed index");
    assert!(
        !packs.engine_has(&packs.v1.image_id),
        "a damaged archive was loaded"
    );
    let list: serde_json::Value =
        serde_json::from_str(&ok(&b.agent.cli(&["app", "list", "--json"]))).unwrap();
    assert_eq!(list.as_array().map(Vec::len), Some(0), "{list}");

    // The good pack: installed with no registry, and it answers.
    ok(&b.agent.cli(&[
        "app",
        "install",
        &id,
        "--from-pack",
        packs.v1.pack.to_str().unwrap(),
        "--follow",
    ]));
    assert!(packs.engine_has(&packs.v1.image_id));
    wait_until(Duration::from_secs(30), "the service answers", || {
        page(&b).is_some_and(|p| p.trim() == format!("v1-{id}"))
    })
    .unwrap();
    let cards: serde_json::Value =
        serde_json::from_str(&ok(&b.agent.cli(&["app", "catalog", "--json"]))).unwrap();
    let card = cards
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id.as_str())
        .unwrap();
    assert_eq!(card["offline"], true, "{card}");

    // A backup target, so that the update takes its safety snapshot.
    let target = packs.tmp.path().join("backups");
    std::fs::create_dir_all(&target).unwrap();
    ok(&b.agent.cli(&[
        "backup",
        "target",
        "add",
        "dossier",
        "--folder",
        target.join("repo").to_str().unwrap(),
    ]));

    // The newer pack updates it like an online update, and the old image is pruned.
    let out = ok(&b.agent.cli(&[
        "pack",
        "update",
        &id,
        packs.v2.pack.to_str().unwrap(),
        "--follow",
    ]));
    assert!(
        out.contains("safety_backup"),
        "no safety backup in the update: {out}"
    );
    wait_until(Duration::from_secs(30), "the new version answers", || {
        page(&b).is_some_and(|p| p.trim() == format!("v2-{id}"))
    })
    .unwrap();
    let status: serde_json::Value =
        serde_json::from_str(&ok(&b.agent.cli(&["app", "status", &id, "--json"]))).unwrap();
    assert_eq!(status["version"], packs.v2.version.as_str(), "{status}");
    wait_until(
        Duration::from_secs(10),
        "the old image to be pruned",
        || !packs.engine_has(&packs.v1.image_id),
    )
    .unwrap();

    // A restart recreates the container from the image loaded from the pack.
    let container = format!("panier-{id}-web");
    docker(&engine, &["rm", "-f", &container]).unwrap();
    wait_until(
        Duration::from_secs(60),
        "the reconciler to bring it back",
        || page(&b).is_some_and(|p| p.trim() == format!("v2-{id}")),
    )
    .unwrap();

    let log = ok(&b.agent.cli(&["log", "--json"]));
    assert!(
        log.contains("app_install_from_pack") && log.contains("app_update_from_pack"),
        "{log}"
    );
}

/// A stick holding `pack` in `panier-pack/` (see `panier_system_tests::stick`).
fn stick_with(pack: &std::path::Path, tmp: &std::path::Path) -> Stick {
    let staging = tmp.join("stick-content");
    std::fs::create_dir_all(&staging).unwrap();
    ok(&Command::new("cp")
        .arg("-r")
        .arg(pack)
        .arg(staging.join("panier-pack"))
        .output()
        .unwrap());
    Stick::holding(&staging, &tmp.join("stick.img"), "PAQUETS")
}

#[test]
fn a_pack_on_a_usb_stick_is_found_checked_and_imported() {
    let engine = engine_url();
    let packs = Packs::make(&engine).expect("the packs are made");
    let stick = stick_with(&packs.v1.pack, packs.tmp.path());
    let mounts = packs.tmp.path().join("mounts");
    let b = start(
        &packs,
        vec![
            ("PANIER_USB_LOOP".into(), stick.device.clone()),
            (
                "PANIER_PACK_MOUNT_ROOT".into(),
                mounts.display().to_string(),
            ),
        ],
    );
    let view: serde_json::Value =
        serde_json::from_str(&ok(&b.agent.cli(&["pack", "list", "--json"]))).unwrap();
    let sticks = view["sticks"].as_array().unwrap();
    assert_eq!(sticks.len(), 1, "{view}");
    let found = &sticks[0];
    assert_eq!(found["device"], stick.device.as_str(), "{found}");
    assert_eq!(found["label"], "PAQUETS", "{found}");
    assert_eq!(found["usable"], true, "{found}");
    assert_eq!(found["signer"], "atelier", "{found}");
    assert_eq!(found["services"][0]["id"], packs.id.as_str(), "{found}");
    let dir = found["dir"].as_str().unwrap().to_owned();
    assert!(dir.starts_with(mounts.to_str().unwrap()), "{dir}");
    // Mounted read-only: nothing on the stick can be changed from the box.
    let mounted = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let line = mounted
        .lines()
        .find(|l| l.starts_with(&stick.device))
        .unwrap_or("");
    assert!(line.contains(" ro,") && line.contains("noexec"), "{line}");

    // The Catalog page (French, the default) marks it and offers the import.
    let session = b.agent.login("camille", "un mot de passe solide");
    let html = |s: &panier_system_tests::Session| {
        s.http
            .get(&format!("{}/admin/catalog", s.base))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    };
    let page_before = html(&session);
    for want in [
        "Sur la clé USB PAQUETS",
        "Paquet sur PAQUETS",
        "Importer ce paquet",
        "signé par atelier",
    ] {
        assert!(
            page_before.contains(want),
            "the Catalog page lacks '{want}'"
        );
    }
    assert!(!page_before.contains("installe sans internet"));

    ok(&b.agent.cli(&["pack", "import", &dir, "--follow"]));
    assert!(html(&session).contains("installe sans internet"));
    assert!(packs.engine_has(&packs.v1.image_id));
    let cards: serde_json::Value =
        serde_json::from_str(&ok(&b.agent.cli(&["app", "catalog", "--json"]))).unwrap();
    let card = cards
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == packs.id.as_str())
        .unwrap();
    assert_eq!(card["offline"], true, "{card}");

    // Imported: it installs with the stick gone (and no registry). Pulled out: its device
    // is gone (a loop device cannot go while mounted, so its mount goes first here).
    ok(&Command::new("umount")
        .arg("-l")
        .arg(dir.trim_end_matches("/panier-pack"))
        .output()
        .unwrap());
    drop(stick);
    ok(&b.agent.cli(&["app", "install", &packs.id, "--follow"]));
    wait_until(Duration::from_secs(30), "the service answers", || {
        page(&b).is_some_and(|p| p.trim() == format!("v1-{}", packs.id))
    })
    .unwrap();
    let view: serde_json::Value =
        serde_json::from_str(&ok(&b.agent.cli(&["pack", "list", "--json"]))).unwrap();
    assert_eq!(view["sticks"].as_array().map(Vec::len), Some(0), "{view}");
    let left: Vec<_> = std::fs::read_dir(&mounts).unwrap().flatten().collect();
    assert!(
        left.is_empty(),
        "the stick's mount point was left: {left:?}"
    );
}

#[test]
fn a_preloaded_box_installs_its_services_at_first_start_before_setup() {
    let engine = engine_url();
    let packs = Packs::make(&engine).expect("the packs are made");
    // What a workshop's install leaves on the new box's data partition.
    let data = packs.tmp.path().join("box/data");
    let preload = data.join("preload");
    std::fs::create_dir_all(preload.join("keys")).unwrap();
    ok(&Command::new("cp")
        .arg("-r")
        .arg(&packs.v1.pack)
        .arg(preload.join("pack"))
        .output()
        .unwrap());
    std::fs::copy(&packs.public, preload.join("keys/atelier.pub")).unwrap();
    std::fs::write(preload.join("services.json"), format!("[\"{}\"]", packs.id)).unwrap();
    let agent = Agent::start_with(AgentOptions {
        engine: Some(engine.clone()),
        data_dir: Some(data.clone()),
        extra_args: vec!["--catalog".into(), packs.v1.catalog.display().to_string()],
        ..Default::default()
    });
    let b = Box_ {
        agent,
        engine: engine.clone(),
        id: packs.id.clone(),
    };
    wait_until(
        Duration::from_secs(90),
        "the preloaded service answers",
        || page(&b).is_some_and(|p| p.trim() == format!("v1-{}", packs.id)),
    )
    .unwrap();
    wait_until(
        Duration::from_secs(10),
        "the preload to be marked done",
        || preload.join("services.done.json").is_file(),
    )
    .unwrap();
    assert!(
        !preload.join("pack").exists(),
        "the preloaded pack was kept after its import"
    );
    let keys = ok(&b.agent.cli(&["pack", "key", "list"]));
    assert!(
        keys.contains("atelier"),
        "the workshop's key is not trusted: {keys}"
    );
    // Not set up yet: the box is handed over with the service ready.
    let health: serde_json::Value =
        serde_json::from_str(&ok(&b.agent.cli(&["status", "--json"]))).unwrap();
    assert_eq!(health["setup_done"], false, "{health}");
}
