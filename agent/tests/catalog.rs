//! The catalog shipped in `services/` passes the same validation as `panier catalog check`,
//! and offers at least one service in every category of PRODUCT.md's catalog table.

use panier::catalog::{Catalog, Category};
use std::collections::BTreeSet;
use std::path::Path;

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
