//! The catalog shipped in `services/` passes the same validation as `panier catalog check`,
//! and offers at least one service in every category (the table of needs in
//! `services/README.md`).

use panier::catalog::{Catalog, Category};
use std::collections::BTreeSet;
use std::path::Path;

/// One shipped service's manifest.
fn service(id: &str) -> panier::catalog::Manifest {
    shipped()
        .entries()
        .find(|e| e.manifest.id.as_str() == id)
        .unwrap_or_else(|| panic!("no service {id}"))
        .manifest
        .clone()
}

fn shipped() -> Catalog {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../services");
    Catalog::load(&dir).unwrap_or_else(|errors| {
        let list: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        panic!("the shipped catalog is invalid:\n{}", list.join("\n"))
    })
}

#[test]
fn shipped_catalog_is_valid() {
    let catalog = shipped();
    assert!(catalog.len() >= 13, "only {} services", catalog.len());
}

#[test]
fn shipped_catalog_covers_every_category() {
    let catalog = shipped();
    let covered: BTreeSet<Category> = catalog.entries().map(|e| e.manifest.category).collect();
    let missing: Vec<&str> = Category::ALL
        .iter()
        .filter(|c| !covered.contains(c))
        .map(|c| c.key())
        .collect();
    assert!(
        missing.is_empty(),
        "no service in the categories: {}",
        missing.join(", ")
    );
}

/// What the issue asks for by name is there (a removal must be deliberate).
#[test]
fn shipped_catalog_has_the_named_services() {
    let catalog = shipped();
    let ids: BTreeSet<&str> = catalog.entries().map(|e| e.manifest.id.as_str()).collect();
    for id in [
        "etherpad",
        "nextcloud",
        "radicale",
        "galene",
        "prosody",
        "gotosocial",
        "site",
        "wordpress",
        "dokuwiki",
        "stalwart",
        "mailman",
        "vaultwarden",
        "kanboard",
    ] {
        assert!(ids.contains(id), "'{id}' is missing from services/");
    }
}

/// A hot backup must dump something: every `hot` service has a `pre` command, and every
/// service with a database container dumps it rather than copying its live files.
#[test]
fn hot_backups_dump_their_databases() {
    use panier::catalog::manifest::BackupMode;
    for entry in shipped().entries() {
        let m = &entry.manifest;
        let Some(backup) = &m.backup else { continue };
        if backup.mode == BackupMode::Hot {
            assert!(
                !backup.pre.is_empty(),
                "{}: a hot backup without a pre command copies live files",
                m.id
            );
        }
        for c in m
            .containers
            .iter()
            .filter(|c| c.image.contains("/postgres:") || c.image.contains("/mariadb:"))
        {
            assert_eq!(
                backup.mode,
                BackupMode::Hot,
                "{}: database '{}' needs a hot backup with a dump",
                m.id,
                c.name
            );
            for mount in &c.mounts {
                if mount.path.starts_with("/var/lib/") {
                    assert!(
                        !backup.volumes.contains(&mount.volume),
                        "{}: the live database files of '{}' are backed up; back up the dump instead",
                        m.id,
                        c.name
                    );
                }
            }
        }
    }
}

/// No installer left open: every service says how its first run is closed, and those whose
/// upstream has a web installer, a wizard or a default account close it with setup steps.
#[test]
fn no_installer_is_left_open() {
    use panier::catalog::steps::FirstRun;
    let catalog = shipped();
    for entry in catalog.entries() {
        let m = &entry.manifest;
        assert!(m.first_run.is_some(), "{}: first_run", m.id);
    }
    for id in [
        "wordpress",
        "dokuwiki",
        "kanboard",
        "gotosocial",
        "mailman",
        "prosody",
    ] {
        let m = service(id);
        assert_eq!(m.first_run, Some(FirstRun::Setup), "{id}");
        let env: Vec<&String> = m
            .containers
            .iter()
            .flat_map(|c| c.environment.values())
            .collect();
        // The admin password reaches the setup step only, not a container's environment.
        assert!(
            !env.iter().any(|v| v.contains("setting.admin_password")),
            "{id}: the admin password stays in a container's environment"
        );
    }
}

/// Nextcloud moves one major version at a time: from this catalog's previous 30 through 31,
/// 32 and 33; from 33 straight on; from older than 30, not at all.
#[test]
fn nextcloud_updates_step_through_each_major() {
    use panier::catalog::steps::{refusal, stops_from};
    let m = &service("nextcloud");
    let versions = |from: &str| -> Vec<String> {
        stops_from(m, from)
            .iter()
            .map(|s| s.version.clone())
            .collect()
    };
    assert_eq!(versions("30.0.5-1"), ["31.0.14-1", "32.0.14-1", "33.0.8-1"]);
    assert_eq!(versions("32.0.14-1"), ["33.0.8-1"]);
    assert!(versions("33.0.8-1").is_empty());
    assert!(refusal(m, "30.0.5-1").is_none());
    assert!(refusal(m, "29.0.9-1").is_some());
}

/// Stalwart 0.16 cannot be reached from an older server by a new image.
#[test]
fn stalwart_refuses_updates_from_before_0_16() {
    let m = &service("stalwart");
    let why = panier::catalog::steps::refusal(m, "0.10.7-1").expect("refused");
    assert!(why.fr.contains("0.16") && why.en.contains("0.16"));
    assert!(panier::catalog::steps::refusal(m, "0.16.2-1").is_none());
}

/// Services trust as proxies only the box's container networks (the engine's address pools
/// in the image's `docker-daemon.json`, where the proxy's connections come from), never the
/// whole LAN: a visitor reaching a service otherwise could claim any address in
/// `X-Forwarded-For`.
#[test]
fn trusted_proxies_are_the_container_networks_only() {
    let daemon = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../buildroot-overlay/usr/share/panier/docker-daemon.json");
    let daemon: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(daemon).unwrap()).unwrap();
    let pools: BTreeSet<&str> = daemon["default-address-pools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["base"].as_str().unwrap())
        .collect();
    assert!(!pools.is_empty());
    let mut checked = 0;
    for entry in shipped().entries() {
        let m = &entry.manifest;
        for c in &m.containers {
            for (key, value) in &c.environment {
                if !key.contains("TRUSTED_PROX") || value == "local" {
                    continue;
                }
                checked += 1;
                for net in value.split([',', ' ']).filter(|n| !n.is_empty()) {
                    assert!(
                        pools.contains(net),
                        "{}: {key} trusts {net}, outside the container networks {pools:?}",
                        m.id
                    );
                }
            }
        }
    }
    assert!(checked >= 4, "only {checked} trusted-proxy settings found");
}
