//! Install mode's API and page, in-process, over a fake machine (a box booted from a USB
//! stick, one internal disk): the refusals (no setup code, wrong code, unknown disk, wrong
//! serial, not offered) and a whole job with its result, the sheet, and a second install
//! refused while one runs. The real copy is tested on loop devices (hw/tests/install_loop.rs)
//! and in QEMU (tests/qemu/install-tests.sh).

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use panier::config::Config;
use panier::install::{Machine, NotOffered, Source};
use panier::store::Store;
use panier_hw::blockdev::{DiskIdentity, Transport};
use panier_hw::certificate::{Verification, VerifyMode, WipeCertificate};
use panier_hw::i18n::Lang;
use panier_hw::install::{InstallError, InstallOptions, InstallReport, Progress, Slot, Stage};
use panier_hw::report::{BoxLabel, ReportError, Written};
use panier_hw::wipe::{Method, WipeError, WipeOptions};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

fn disk(name: &str, serial: &str, removable: bool) -> DiskIdentity {
    DiskIdentity {
        name: name.into(),
        path: format!("/dev/{name}"),
        model: Some("Fake disk".into()),
        serial: Some(serial.into()),
        size_bytes: 64_000_000_000,
        transport: if removable {
            Transport::Usb
        } else {
            Transport::Nvme
        },
        rotational: false,
        removable,
    }
}

/// A box started from a stick, with one internal disk; its install waits for `gate`.
struct FakeMachine {
    gate: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
    installed: Mutex<Vec<String>>,
    /// The machine the probe sees (`hw/testdata/machines/<fixture>`).
    fixture: &'static str,
    reboots: Mutex<u32>,
}

impl Machine for FakeMachine {
    fn source(&self) -> Result<Source, NotOffered> {
        Ok(Source {
            disk: disk("sdz", "STICK", true),
            slot: Slot::A,
        })
    }
    fn targets(&self) -> Vec<DiskIdentity> {
        vec![disk("nvme9n1", "FAKE-SERIAL-1", false)]
    }
    fn probe(&self) -> panier_hw::probe::Probe {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../hw/testdata/machines")
            .join(self.fixture);
        panier_hw::probe::probe(&panier_hw::host::Host::fixture(&dir).unwrap())
    }
    fn wipe(
        &self,
        device: &Path,
        _: &str,
        _: &WipeOptions,
        progress: &mut dyn FnMut(&str),
    ) -> Result<WipeCertificate, WipeError> {
        progress(&format!("wiping {}", device.display()));
        self.installed
            .lock()
            .unwrap()
            .push(format!("wipe {}", device.display()));
        let v = Verification {
            mode: VerifyMode::Sample,
            regions_checked: 1,
            bytes_checked: 1,
            first_nonzero_offset: None,
            passed: true,
            seconds: 0.0,
        };
        Ok(WipeCertificate::start(self.targets().remove(0)).finish(Method::DiscardAndOverwrite, v))
    }
    fn install(
        &self,
        o: &InstallOptions,
        progress: &mut Progress,
    ) -> Result<InstallReport, InstallError> {
        progress(Stage::Copy, 50, "copying");
        if let Some(gate) = self.gate.lock().unwrap().take() {
            let _ = gate.recv();
        }
        self.installed.lock().unwrap().push(format!(
            "{} {} {}",
            o.target.display(),
            o.box_name,
            o.setup_code
        ));
        Ok(InstallReport {
            source: self.source().unwrap().disk,
            target: self.targets().remove(0),
            slot: o.slot,
            table: panier_hw::install::layout::Table {
                disk_uuid: "X".into(),
                sector_bytes: 512,
                partitions: vec![],
            },
            copied: vec![],
            copied_bytes: 300_000_000,
            write_seconds: 1.0,
            verify_seconds: 1.0,
            started_at: "now".into(),
            ended_at: "2026-06-01T10:00:00Z".into(),
            box_name: o.box_name.into(),
            kernel_notified: true,
        })
    }
    fn report(&self, dir: &Path, label: &BoxLabel, _: Lang) -> Result<Written, ReportError> {
        let sheet = dir.join(format!("sheet-{}.html", label.name));
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            &sheet,
            format!("<p>{} {}</p>", label.name, label.setup_code),
        )
        .unwrap();
        Ok(Written {
            sheet,
            inventory: dir.join("inventory.csv"),
        })
    }
    fn reboot(&self) -> Result<(), String> {
        *self.reboots.lock().unwrap() += 1;
        Ok(())
    }
}

struct Box_ {
    web: Router,
    code: String,
    machine: Arc<FakeMachine>,
    _dir: tempfile::TempDir,
}

fn fake(gate: Option<std::sync::mpsc::Receiver<()>>, fixture: &'static str) -> Arc<FakeMachine> {
    Arc::new(FakeMachine {
        gate: Mutex::new(gate),
        installed: Mutex::default(),
        fixture,
        reboots: Mutex::default(),
    })
}

fn new_box(gate: Option<std::sync::mpsc::Receiver<()>>) -> Box_ {
    box_on(fake(gate, "lenovo-m720q-sata-ssd"))
}

fn box_on(machine: Arc<FakeMachine>) -> Box_ {
    let dir = tempfile::tempdir().unwrap();
    let (routers, code) = panier::daemon::build_with(
        Store::memory(),
        &Config::with_data_dir(dir.path()),
        machine.clone(),
    )
    .unwrap();
    Box_ {
        web: routers.web.layer(MockConnectInfo(
            "192.0.2.30:40000".parse::<SocketAddr>().unwrap(),
        )),
        code: code.unwrap().display(),
        machine,
        _dir: dir,
    }
}

async fn send(b: &Box_, req: Request<Body>) -> (StatusCode, serde_json::Value, String) {
    let response = b.web.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let text = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_default(),
        text,
    )
}

fn api(method: &str, uri: &str, code: Option<&str>, body: serde_json::Value) -> Request<Body> {
    let mut r = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(c) = code {
        r = r.header("x-setup-code", c);
    }
    r.body(Body::from(if method == "GET" {
        String::new()
    } else {
        body.to_string()
    }))
    .unwrap()
}

/// The install view once its job is no longer running.
async fn ended(b: &Box_) -> serde_json::Value {
    for _ in 0..100 {
        let view = send(
            b,
            api(
                "GET",
                "/api/v1/install",
                Some(&b.code),
                serde_json::Value::Null,
            ),
        )
        .await
        .1;
        if view["job"]["state"] != "running" {
            return view;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the install job did not end");
}

fn start_body(target: &str, confirm: &str) -> serde_json::Value {
    serde_json::json!({"target": target, "confirm": confirm, "box_name": "mediatheque-2"})
}

#[tokio::test]
async fn the_api_refuses_without_the_setup_code_and_checks_the_disk() {
    let b = new_box(None);
    let (status, body, _) = send(
        &b,
        api("GET", "/api/v1/install", None, serde_json::Value::Null),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let (status, body, _) = send(
        &b,
        api(
            "POST",
            "/api/v1/install",
            Some("AAAAA-AAAAA"),
            start_body("/dev/nvme9n1", "FAKE-SERIAL-1"),
        ),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("setup_code_wrong"))
    );
    let (status, body, _) = send(
        &b,
        api(
            "POST",
            "/api/v1/install",
            Some(&b.code),
            start_body("/dev/sdz", "STICK"),
        ),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("install_disk_unknown")),
        "the stick itself is not a target"
    );
    let (status, body, _) = send(
        &b,
        api(
            "POST",
            "/api/v1/install",
            Some(&b.code),
            start_body("/dev/nvme9n1", "WRONG"),
        ),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("install_confirm_wrong"))
    );
    let (status, body, _) = send(
        &b,
        api(
            "GET",
            "/api/v1/install",
            Some(&b.code),
            serde_json::Value::Null,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            body["offered"].as_bool(),
            body["targets"][0]["serial"].as_str()
        ),
        (Some(true), Some("FAKE-SERIAL-1"))
    );
    assert!(b.machine.installed.lock().unwrap().is_empty());
    let (_, health, _) = send(
        &b,
        api("GET", "/api/v1/health", None, serde_json::Value::Null),
    )
    .await;
    assert_eq!(health["install_mode"], true);
}

#[tokio::test]
async fn a_whole_install_then_its_result_and_a_second_one_refused_while_it_runs() {
    let (open, gate) = std::sync::mpsc::channel();
    let b = new_box(Some(gate));
    let (status, body, text) = send(
        &b,
        api(
            "POST",
            "/api/v1/install",
            Some(&b.code),
            start_body("nvme9n1", "FAKE-SERIAL-1"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let job = body["job"].as_i64().unwrap();
    let (status, body, _) = send(
        &b,
        api(
            "POST",
            "/api/v1/install",
            Some(&b.code),
            start_body("nvme9n1", "FAKE-SERIAL-1"),
        ),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("install_running"))
    );
    let (status, body, _) = send(
        &b,
        api(
            "POST",
            "/api/v1/install/restart",
            Some(&b.code),
            serde_json::Value::Null,
        ),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("install_running")),
        "no restart in the middle of an install"
    );
    open.send(()).unwrap();
    let view = ended(&b).await;
    assert_eq!(
        (view["job"]["id"].as_i64(), view["job"]["state"].as_str()),
        (Some(job), Some("succeeded")),
        "{view:#}"
    );
    let outcome = &view["outcome"];
    assert_eq!(outcome["box_name"], "mediatheque-2");
    let code = outcome["setup_code"].as_str().unwrap().to_owned();
    assert_ne!(code, b.code, "the new box has its own setup code");
    let installed = b.machine.installed.lock().unwrap().clone();
    assert_eq!(
        installed,
        [
            "wipe /dev/nvme9n1".to_owned(),
            format!("/dev/nvme9n1 mediatheque-2 {code}")
        ]
    );
    assert!(
        view["lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "wiping /dev/nvme9n1"),
        "{view:#}"
    );
    let (status, _, sheet) = send(
        &b,
        api(
            "GET",
            "/api/v1/install/sheet",
            Some(&b.code),
            serde_json::Value::Null,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(sheet.contains(&code));
    let (status, _, _) = send(
        &b,
        api(
            "POST",
            "/api/v1/install/restart",
            Some(&b.code),
            serde_json::Value::Null,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

fn form(body: &str, cookie: Option<&str>) -> Request<Body> {
    let mut r = Request::builder()
        .method("POST")
        .uri("/admin/setup/install")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        r = r.header(header::COOKIE, c);
    }
    r.body(Body::from(body.to_owned())).unwrap()
}

#[tokio::test]
async fn the_setup_page_links_to_the_install_page_which_refuses_clearly() {
    let b = new_box(None);
    let (_, _, setup) = send(
        &b,
        Request::get("/admin/setup").body(Body::empty()).unwrap(),
    )
    .await;
    assert!(setup.contains("href=\"/admin/setup/install\""), "{setup}");
    let (status, _, page) = send(
        &b,
        Request::get("/admin/setup/install")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("FAKE-SERIAL-1") && page.contains("Effacer le disque et installer"),
        "{page}"
    );
    let (status, _, page) = send(&b, form("action=start&code=AAAAAAAAAA&target=%2Fdev%2Fnvme9n1&box_name=biblio&confirm=FAKE-SERIAL-1", None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("id=\"form-error\""), "{page}");
    let (status, _, page) = send(
        &b,
        form(
            &format!(
                "action=start&code={}&target=%2Fdev%2Fsdz&box_name=biblio&confirm=STICK",
                b.code
            ),
            None,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        page.contains("Ce disque n&#39;est pas un des disques internes proposés."),
        "{page}"
    );
    // The right answers: the browser gets its token and follows the install to its result.
    let response = b.web.clone().oneshot(form(&format!("action=start&code={}&target=%2Fdev%2Fnvme9n1&box_name=biblio&confirm=FAKE-SERIAL-1", b.code), None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let mut page = String::new();
    for _ in 0..100 {
        page = send(
            &b,
            Request::get("/admin/setup/install")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .2;
        if page.contains("id=\"install-done\"") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        page.contains("id=\"new-setup-code\"") && page.contains("Retirez d&#39;abord la clé USB"),
        "{page}"
    );
    let (status, _, sheet) = send(
        &b,
        Request::get("/admin/setup/install/sheet")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(sheet.contains("biblio"));
    let (status, _, _) = send(
        &b,
        Request::get("/admin/setup/install/sheet")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "no sheet without the token");
    // "Restart now": with the page's own token only.
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let (status, _, _) = send(&b, form(&format!("action=restart&csrf={csrf}"), None)).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "no restart without the token"
    );
    let (status, _, page) = send(
        &b,
        form(&format!("action=restart&csrf={csrf}"), Some(&cookie)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("id=\"restarting\""), "{page}");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(*b.machine.reboots.lock().unwrap(), 1);
}

#[tokio::test]
async fn an_unfit_machine_is_refused_with_its_blockers_said_and_nothing_is_erased() {
    let b = box_on(fake(None, "hp-elitedesk-800-g4-nvme-failing"));
    let (status, _, text) = send(
        &b,
        api(
            "POST",
            "/api/v1/install",
            Some(&b.code),
            start_body("/dev/nvme9n1", "FAKE-SERIAL-1"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let view = ended(&b).await;
    assert_eq!(view["job"]["state"], "failed", "{view:#}");
    let (fr, en) = (
        view["job"]["message_fr"].as_str().unwrap(),
        view["job"]["message"].as_str().unwrap(),
    );
    assert!(
        fr.starts_with("La machine est inapte") && fr.contains("SMART"),
        "{fr}"
    );
    assert!(
        en.starts_with("The machine is unfit") && en.contains("SMART"),
        "{en}"
    );
    assert!(view["outcome"].is_null());
    assert!(
        b.machine.installed.lock().unwrap().is_empty(),
        "an unfit machine was wiped or installed"
    );
}

#[tokio::test]
async fn install_mode_is_not_offered_on_a_machine_that_does_not_run_from_a_stick() {
    let dir = tempfile::tempdir().unwrap();
    let (routers, code) =
        panier::daemon::build(Store::memory(), &Config::with_data_dir(dir.path())).unwrap();
    let web = routers.web.layer(MockConnectInfo(
        "192.0.2.31:40000".parse::<SocketAddr>().unwrap(),
    ));
    let b = Box_ {
        web,
        code: code.unwrap().display(),
        machine: fake(None, "lenovo-m720q-sata-ssd"),
        _dir: dir,
    };
    let (status, body, _) = send(
        &b,
        api(
            "POST",
            "/api/v1/install",
            Some(&b.code),
            start_body("/dev/vda", "x"),
        ),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("install_not_offered"))
    );
    let (_, _, setup) = send(
        &b,
        Request::get("/admin/setup").body(Body::empty()).unwrap(),
    )
    .await;
    assert!(!setup.contains("/admin/setup/install"));
}

#[tokio::test]
async fn the_result_and_the_sheet_survive_an_agent_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::with_data_dir(dir.path());
    let db = dir.path().join("panier.db");
    let started = |machine: Arc<FakeMachine>| {
        let (routers, code) =
            panier::daemon::build_with(Store::open(&db).unwrap(), &config, machine.clone())
                .unwrap();
        (
            routers.web.layer(MockConnectInfo(
                "192.0.2.32:40000".parse::<SocketAddr>().unwrap(),
            )),
            code.map(|c| c.display()),
            machine,
        )
    };
    let (web, code, machine) = started(fake(None, "lenovo-m720q-sata-ssd"));
    let code = code.unwrap();
    let b = Box_ {
        web,
        code: code.clone(),
        machine,
        _dir: tempfile::tempdir().unwrap(),
    };
    let (status, _, text) = send(
        &b,
        api(
            "POST",
            "/api/v1/install",
            Some(&b.code),
            start_body("/dev/nvme9n1", "FAKE-SERIAL-1"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let before = ended(&b).await;
    assert_eq!(before["job"]["state"], "succeeded", "{before:#}");
    drop(b);

    let (web, again, machine) = started(fake(None, "lenovo-m720q-sata-ssd"));
    let b = Box_ {
        web,
        code: again.unwrap_or(code),
        machine,
        _dir: tempfile::tempdir().unwrap(),
    };
    let after = ended(&b).await;
    assert_eq!(after["job"], before["job"], "{after:#}");
    assert_eq!(
        (&after["lines"], &after["outcome"]),
        (&before["lines"], &before["outcome"]),
        "{after:#}"
    );
    let (status, _, sheet) = send(
        &b,
        api(
            "GET",
            "/api/v1/install/sheet",
            Some(&b.code),
            serde_json::Value::Null,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        sheet.contains(before["outcome"]["setup_code"].as_str().unwrap()),
        "{sheet}"
    );

    // A result file whose job is not the store's last box job (another store) is not shown.
    let other = tempfile::tempdir().unwrap();
    let (routers, code) = panier::daemon::build_with(
        Store::memory(),
        &Config {
            hw_dir: config.hw_dir.clone(),
            ..Config::with_data_dir(other.path())
        },
        fake(None, "lenovo-m720q-sata-ssd"),
    )
    .unwrap();
    let b = Box_ {
        web: routers.web.layer(MockConnectInfo(
            "192.0.2.33:40000".parse::<SocketAddr>().unwrap(),
        )),
        code: code.unwrap().display(),
        machine: fake(None, "lenovo-m720q-sata-ssd"),
        _dir: other,
    };
    let view = send(
        &b,
        api(
            "GET",
            "/api/v1/install",
            Some(&b.code),
            serde_json::Value::Null,
        ),
    )
    .await
    .1;
    assert!(
        view["job"].is_null()
            && view["outcome"].is_null()
            && view["lines"].as_array().unwrap().is_empty(),
        "{view:#}"
    );
}
