//! The known-models database is sound and covers the models workshops receive most.

use panier_hw::models::{BUILTIN_FILES, ModelDb};
use panier_hw::probe::Machine;

#[test]
fn every_models_file_is_embedded_and_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    on_disk.sort();
    let embedded: Vec<&str> = BUILTIN_FILES.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        on_disk, embedded,
        "add new hw/models files to models::BUILTIN_FILES"
    );
    let db = ModelDb::builtin();
    assert_eq!(db.validate(), Vec::<String>::new());
}

#[test]
fn validation_catches_broken_entries() {
    let broken = r#"
[[model]]
id = "a"
name = "A"
vendors = ["ACME"]
products = ["Box 1"]
[[model.quirk]]
code = "x"
severity = "info"
fr = ""
en = "text"
[[model]]
id = "b"
name = "B"
vendors = ["ACME"]
products = ["Box 1"]
[[model]]
id = "a"
name = "C"
vendors = ["Other"]
products = ["Thing"]
[[model]]
id = "z"
name = "Z"
vendors = ["ACME"]
products = ["Box 1"]
"#;
    let problems = ModelDb::parse(&[("broken.toml", broken)])
        .unwrap()
        .validate();
    assert!(
        problems.iter().any(|p| p.contains("duplicate id")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("French and English")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("is taken by")),
        "{problems:?}"
    );
    assert!(ModelDb::parse(&[("bad.toml", "[[model]]\nid = 1")]).is_err());
}

fn dmi(vendor: &str, product: &str, version: &str) -> Machine {
    Machine {
        vendor: Some(vendor.into()),
        product: Some(product.into()),
        version: Some(version.into()),
        ..Machine::default()
    }
}

#[test]
fn the_required_models_are_covered() {
    let db = ModelDb::builtin();
    let cases = [
        (
            dmi("LENOVO", "10HYS0Q400", "ThinkCentre M700"),
            "lenovo-thinkcentre-m700-tiny",
        ),
        (
            dmi("LENOVO", "10MQS0E500", "ThinkCentre M710q"),
            "lenovo-thinkcentre-m710q-tiny",
        ),
        (
            dmi("LENOVO", "10T7S0BE00", ""),
            "lenovo-thinkcentre-m720q-tiny",
        ),
        (
            dmi("LENOVO", "10RS0014FR", "ThinkCentre M920q"),
            "lenovo-thinkcentre-m920q-tiny",
        ),
        (
            dmi("Dell Inc.", "OptiPlex 3040", ""),
            "dell-optiplex-3040-micro",
        ),
        (
            dmi("Dell Inc.", "OptiPlex 3060", ""),
            "dell-optiplex-3060-micro",
        ),
        (
            dmi("Dell Inc.", "OptiPlex 7040", ""),
            "dell-optiplex-7040-micro",
        ),
        (
            dmi("Dell Inc.", "OptiPlex 7060", ""),
            "dell-optiplex-7060-micro",
        ),
        (
            dmi("Hewlett-Packard", "HP EliteDesk 800 G2 DM 35W", ""),
            "hp-elitedesk-800-g2-mini",
        ),
        (
            dmi("HP", "HP EliteDesk 800 G3 DM 65W", ""),
            "hp-elitedesk-800-g3-mini",
        ),
        (
            dmi("HP", "HP EliteDesk 800 G4 DM 35W", ""),
            "hp-elitedesk-800-g4-mini",
        ),
        (dmi("HP", "HP ProDesk 400 G3 DM", ""), "hp-prodesk-400-mini"),
        (dmi("HP", "HP ProDesk 600 G4 DM", ""), "hp-prodesk-600-mini"),
        (
            dmi("Intel Corporation", "NUC7i5BNH", "J31144-304"),
            "intel-nuc7",
        ),
        (
            dmi("Intel Corporation", "NUC8i5BEH", "J72693-306"),
            "intel-nuc8",
        ),
        (
            dmi("Intel(R) Client Systems", "NUC10i5FNH", "K61081-302"),
            "intel-nuc10",
        ),
    ];
    for (machine, id) in cases {
        let found = db.find(&machine).map(|m| m.id.as_str());
        assert_eq!(found, Some(id), "{machine:?}");
    }
    assert!(
        db.find(&dmi("LENOVO", "20L5CTO1WW", "ThinkPad T480"))
            .is_none()
    );
    assert!(db.find(&dmi("Dell Inc.", "OptiPlex 9020", "")).is_none());
    // A vendor pattern alone is not enough.
    assert!(db.find(&dmi("Dell Inc.", "NUC7i5BNH", "")).is_none());
}
