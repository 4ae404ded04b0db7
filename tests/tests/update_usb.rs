//! OS updates from a USB stick (a loop device presented as one): the stick's signed index is
//! checked with the release key like the channel's; a stick whose index was changed after
//! signing is refused with the reason; the good one is offered, its bundle copied to the data
//! partition and checked, then the installation says why this test machine (no system slot)
//! cannot take it. Through the API the Update page uses and `panier update usb|install --usb`.

use panier_system_tests::stick::Stick;
use panier_system_tests::updates::{ReleaseKey, VERSION, agent_config, bundle, write_channel};
use panier_system_tests::{Agent, AgentOptions, succeeded as ok, wait_until};
use serde_json::{Value, json};
use std::time::Duration;

#[test]
fn an_update_on_a_usb_stick_is_checked_offered_and_copied() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let key = ReleaseKey::make(t);
    let bundle = bundle(2_000_000);
    // The good stick.
    let good = t.join("good");
    std::fs::create_dir_all(good.join("panier-update")).unwrap();
    write_channel(&good.join("panier-update"), &key, &bundle, 3);
    // A stick whose index was changed after signing.
    let bad = t.join("bad");
    std::fs::create_dir_all(bad.join("panier-update")).unwrap();
    write_channel(&bad.join("panier-update"), &key, &bundle, 3);
    let index = bad.join("panier-update/index.json");
    let text = std::fs::read_to_string(&index).unwrap();
    std::fs::write(&index, text.replace("\"serial\": 3", "\"serial\": 4")).unwrap();
    let good_stick = Stick::holding(&good, &t.join("good.img"), "MAJ");
    let bad_stick = Stick::holding(&bad, &t.join("bad.img"), "PIEGE");

    let agent = Agent::start_with(AgentOptions {
        config: Some(agent_config(t, None, None, &key)),
        env: vec![
            (
                "PANIER_USB_LOOP".into(),
                format!("{},{}", good_stick.device, bad_stick.device),
            ),
            (
                "PANIER_UPDATE_MOUNT_ROOT".into(),
                t.join("mounts").display().to_string(),
            ),
        ],
        ..Default::default()
    });
    let session = agent.ready_session();
    let (status, found) = session.get("/api/v1/update/usb");
    assert_eq!(status, 200, "{found}");
    let sticks = found.as_array().unwrap();
    assert_eq!(sticks.len(), 2, "{found}");
    let by_device = |d: &str| -> Value {
        sticks
            .iter()
            .find(|s| s["device"] == d)
            .unwrap_or_else(|| panic!("{d} in {found}"))
            .clone()
    };
    let refused = by_device(&bad_stick.device);
    assert_eq!(refused["problem"]["key"], "signature_mismatch", "{refused}");
    assert!(
        refused["problem"]["fr"]
            .as_str()
            .unwrap()
            .contains("modifié après sa signature"),
        "{refused}"
    );
    let offered = by_device(&good_stick.device);
    assert!(offered["problem"].is_null(), "{offered}");
    assert_eq!(offered["offer"]["kind"], "available", "{offered}");
    assert_eq!(offered["offer"]["release"]["version"], VERSION);
    let uuid = offered["uuid"].as_str().unwrap().to_owned();
    // The CLI lists the same.
    let listed = ok(&agent.cli(&["update", "usb"]));
    assert!(
        listed.contains(VERSION) && listed.contains("refused"),
        "{listed}"
    );
    // The refused stick cannot be installed from.
    let bad_uuid = refused["uuid"].as_str().unwrap();
    let (status, body) = session.send(
        "POST",
        "/api/v1/update/usb/install",
        json!({"uuid": bad_uuid, "restart": "now"}),
    );
    assert_ne!(status, 202, "{body}");

    // Install from the good one, at 3 at night.
    let (status, body) = session.send(
        "POST",
        "/api/v1/update/usb/install",
        json!({"uuid": uuid, "version": VERSION, "restart": "at", "hour": 3}),
    );
    assert_eq!(status, 202, "{body}");
    let mut last = Value::Null;
    wait_until(Duration::from_secs(60), "the attempt to end", || {
        last = session.get("/api/v1/update").1;
        matches!(
            last["attempt"]["state"].as_str(),
            Some("failed" | "installed")
        )
    })
    .unwrap();
    let a = &last["attempt"];
    assert_eq!(a["source"], "usb", "{last}");
    assert_eq!(a["state"], "failed", "{last}");
    assert_eq!(a["error"]["key"], "update_not_a_slot", "{last}");
    // The bundle was copied whole and checked before RAUC was asked.
    let copied = std::fs::read_dir(agent.data_dir.join("update"))
        .unwrap()
        .flatten()
        .any(|e| std::fs::read(e.path()).unwrap() == bundle);
    assert!(copied);
    drop(agent);
}
