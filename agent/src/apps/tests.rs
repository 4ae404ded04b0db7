//! The jobs and the reconciler against the in-memory engine (`engine::memory`) and the
//! in-memory store: install, update, remove, each branch of a converge pass, leftovers, and
//! the resumption of each phase a crash can leave. The same jobs run against dockerd in the
//! system tests (`tests/tests/services.rs`, `catalog_steps.rs`).

use super::spec::{self, LABEL_APP, LABEL_BOX, LABEL_SPEC};
use super::*;
use crate::catalog::{Entry, parse_manifest};
use crate::engine::memory::MemoryEngine;
use std::path::Path;
use std::time::Duration;

const IMAGE: &str = "panier-test/busybox:1";

/// The golden spec's static site, at `version` (its containers' spec changes with it).
fn manifest(version: &str) -> Manifest {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/specs/static-site.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.split("#--- test inputs").next().unwrap();
    let text = text.replace("version = \"1.36-1\"", &format!("version = \"{version}\""));
    parse_manifest(&path, &text).unwrap_or_else(|e| panic!("{e:?}"))
}

fn entry(version: &str) -> Entry {
    Entry {
        manifest: manifest(version),
        icon_svg: String::new(),
        page: Text {
            fr: String::new(),
            en: String::new(),
        },
    }
}

struct Bench {
    apps: Apps,
    engine: Arc<MemoryEngine>,
    store: Store,
    jobs: Jobs,
    dir: tempfile::TempDir,
}

fn bench() -> Bench {
    let store = Store::memory();
    let engine = Arc::new(MemoryEngine::new());
    engine.add_image(IMAGE);
    let jobs = Jobs::new(store.clone());
    let dir = tempfile::tempdir().unwrap();
    let apps = Apps::new(
        store.clone(),
        engine.clone(),
        jobs.clone(),
        Arc::new(Catalog::default()),
        dir.path().to_owned(),
    )
    .unwrap();
    Bench {
        apps,
        engine,
        store,
        jobs,
        dir,
    }
}

fn site() -> AppId {
    AppId::parse("site").unwrap()
}

const WEB: &str = "panier-site-web";

impl Bench {
    /// Waits for job `id` to end; returns its row.
    async fn finished(&self, id: i64) -> crate::store::JobRow {
        for _ in 0..400 {
            let row = self.store.job(id).unwrap().unwrap();
            if row.state != "running" && !self.jobs.busy(&site()) {
                return row;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("job {id} did not finish");
    }

    async fn installed(&self) {
        let id = self
            .apps
            .install_entry(&site(), entry("1.36-1"), &BTreeMap::new(), "test", None)
            .unwrap();
        let job = self.finished(id).await;
        assert_eq!(job.state, "succeeded", "{job:?}");
        self.engine.take_calls();
    }

    fn row(&self) -> Option<AppRow> {
        self.store.app(&site()).unwrap()
    }

    async fn converge(&self) -> Result<usize, AppError> {
        let (row, m) = self.apps.row_and_manifest(&site()).unwrap();
        self.apps.converge(&row, &m).await
    }

    fn labels(&self, app: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LABEL_APP.to_owned(), app.to_owned()),
            (LABEL_BOX.to_owned(), self.apps.inner.instance.clone()),
        ])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_install_creates_starts_and_records_the_service() {
    let b = bench();
    let id = b
        .apps
        .install_entry(&site(), entry("1.36-1"), &BTreeMap::new(), "test", None)
        .unwrap();
    let job = b.finished(id).await;
    assert_eq!(job.state, "succeeded", "{job:?}");
    assert_eq!(b.row().unwrap().phase, Phase::Installed);
    let web = b.engine.container(WEB).expect("the container exists");
    assert!(web.running);
    assert_eq!(b.engine.network_names(), ["panier-site"]);
    assert!(
        spec::app_dir(b.dir.path(), &site())
            .join("volumes/www")
            .is_dir()
    );
    // The image was there: nothing pulled.
    assert!(!b.engine.take_calls().iter().any(|c| c.starts_with("pull")));
    // A second pass has nothing to do.
    assert_eq!(b.converge().await.unwrap(), 0);
    assert_eq!(b.engine.take_calls(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_install_whose_container_does_not_start_is_rolled_back() {
    let b = bench();
    b.engine.fail_starts(WEB, 1);
    let id = b
        .apps
        .install_entry(&site(), entry("1.36-1"), &BTreeMap::new(), "test", None)
        .unwrap();
    let job = b.finished(id).await;
    assert_eq!(job.state, "failed");
    assert!(job.message.contains("start"), "{}", job.message);
    assert!(b.row().is_none(), "the service is not recorded");
    assert!(b.engine.container_names().is_empty());
    assert!(b.engine.network_names().is_empty());
    assert!(
        !spec::app_dir(b.dir.path(), &site()).exists(),
        "its new data went too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_install_whose_image_cannot_be_pulled_leaves_nothing() {
    let b = bench();
    let mut m = entry("1.36-1");
    m.manifest.containers[0].image = "panier-test/absent:1".into();
    b.engine.unpullable("panier-test/absent:1");
    let id = b
        .apps
        .install_entry(&site(), m, &BTreeMap::new(), "test", None)
        .unwrap();
    let job = b.finished(id).await;
    assert_eq!(job.state, "failed");
    assert!(b.row().is_none());
    assert!(b.engine.container_names().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_makes_the_containers_again_at_the_new_version() {
    let b = bench();
    b.installed().await;
    let before = b.engine.container(WEB).unwrap().labels[LABEL_SPEC].clone();
    let id = b
        .apps
        .update_to(&site(), manifest("1.37-1"), "test", None)
        .unwrap();
    let job = b.finished(id).await;
    assert_eq!(job.state, "succeeded", "{job:?}");
    let row = b.row().unwrap();
    assert_eq!(
        (row.version.as_str(), row.phase),
        ("1.37-1", Phase::Installed)
    );
    let web = b.engine.container(WEB).unwrap();
    assert!(web.running);
    assert_ne!(web.labels[LABEL_SPEC], before, "made from the new spec");
    let calls = b.engine.take_calls();
    let stop = calls.iter().position(|c| c == &format!("stop {WEB}"));
    let remove = calls.iter().position(|c| c == &format!("remove {WEB}"));
    assert!(
        stop < remove && stop.is_some(),
        "stopped, then made again: {calls:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_update_goes_back_to_the_previous_version() {
    let b = bench();
    b.installed().await;
    // The new version's container is made, then fails to start (once); the old one starts.
    b.engine.fail_starts(WEB, 1);
    let id = b
        .apps
        .update_to(&site(), manifest("1.37-1"), "test", None)
        .unwrap();
    let job = b.finished(id).await;
    assert_eq!(job.state, "failed");
    let row = b.row().unwrap();
    assert_eq!(
        (row.version.as_str(), row.phase),
        ("1.36-1", Phase::Installed)
    );
    assert!(
        b.engine.container(WEB).unwrap().running,
        "the old version runs again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_takes_the_containers_and_network_and_keeps_the_data() {
    let b = bench();
    b.installed().await;
    let id = b.apps.remove(&site(), false, None, "test").unwrap();
    assert_eq!(b.finished(id).await.state, "succeeded");
    assert!(b.row().is_none());
    assert!(b.engine.container_names().is_empty());
    assert!(b.engine.network_names().is_empty());
    assert!(b.apps.has_kept_data(&site()));
    // Deleting the kept data is asked for by name.
    assert!(matches!(
        b.apps.remove(&site(), true, Some("other"), "test"),
        Err(AppError::ConfirmDelete(_))
    ));
    let id = b.apps.remove(&site(), true, Some("site"), "test").unwrap();
    assert_eq!(b.finished(id).await.state, "succeeded");
    assert!(!b.apps.has_kept_data(&site()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converge_restarts_a_crashed_container_and_makes_a_changed_one_again() {
    let b = bench();
    b.installed().await;
    b.engine.crash(WEB, 137, true);
    assert!(b.converge().await.unwrap() > 0);
    assert!(b.engine.container(WEB).unwrap().running);
    assert_eq!(b.engine.take_calls(), [format!("start {WEB}")]);
    assert_eq!(
        b.apps.incidents()[&site()].oom_kills.len(),
        1,
        "the kill is recorded"
    );

    b.engine.relabel(WEB, LABEL_SPEC, "an older definition");
    b.converge().await.unwrap();
    assert_eq!(
        b.engine.take_calls(),
        [
            format!("remove {WEB}"),
            format!("create {WEB}"),
            format!("start {WEB}")
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converge_makes_again_an_old_container_that_does_not_start() {
    let b = bench();
    b.installed().await;
    b.engine.crash(WEB, 1, false);
    b.engine.fail_starts(WEB, 1);
    b.converge().await.unwrap();
    assert_eq!(
        b.engine.take_calls(),
        [
            format!("start {WEB}"),
            format!("remove {WEB}"),
            format!("create {WEB}"),
            format!("start {WEB}")
        ]
    );
    assert!(b.engine.container(WEB).unwrap().running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converge_leaves_a_foreign_container_alone_and_does_nothing() {
    let b = bench();
    b.installed().await;
    b.engine.remove(WEB).await.unwrap();
    b.engine
        .put(WEB, BTreeMap::from([("someone".into(), "else".into())]));
    b.engine.take_calls();
    let err = b.converge().await.unwrap_err();
    assert!(err.to_string().contains("did not create"), "{err}");
    assert_eq!(
        b.engine.take_calls(),
        Vec::<String>::new(),
        "no move at all"
    );
    assert!(
        !b.engine
            .container(WEB)
            .unwrap()
            .labels
            .contains_key(LABEL_APP)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converge_removes_our_containers_the_spec_no_longer_has_and_stops_when_unwanted() {
    let b = bench();
    b.installed().await;
    b.engine.put("panier-site-old", b.labels("site"));
    b.store.set_app_running(&site(), false).unwrap();
    b.converge().await.unwrap();
    assert_eq!(
        b.engine.take_calls(),
        ["remove panier-site-old".to_owned(), format!("stop {WEB}")]
    );
    assert!(!b.engine.container(WEB).unwrap().running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_removes_leftovers_of_ours_only() {
    let b = bench();
    b.installed().await;
    b.engine.put("panier-gone-web", b.labels("gone"));
    b.engine.put_network("panier-gone", b.labels("gone"));
    let mut theirs = b.labels("gone");
    theirs.insert(LABEL_BOX.into(), "another-box".into());
    b.engine.put("panier-gone-theirs", theirs);
    let report = b.apps.reconcile_all().await;
    assert_eq!((report.services, report.errors), (1, 0));
    assert_eq!(
        b.engine.take_calls(),
        ["remove panier-gone-web", "remove_network panier-gone"]
    );
    assert!(b.engine.container("panier-gone-theirs").is_some());
    assert!(b.engine.container(WEB).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_with_the_engine_down_says_so_and_moves_nothing() {
    let b = bench();
    b.installed().await;
    b.engine.set_down(true);
    let report = b.apps.reconcile_all().await;
    assert_eq!(report.errors, 1);
    assert!(matches!(b.apps.engine_status(), EngineStatus::Down { .. }));
    assert!(matches!(
        b.apps.set_running(&site(), "stop", "test"),
        Err(AppError::EngineDown(_))
    ));
}

/// A row as a crashed process left it, with its phase.
fn crashed(b: &Bench, phase: Phase, version: &str, previous: Option<&Manifest>) {
    let m = manifest(version);
    let row = AppRow {
        id: site(),
        version: version.into(),
        phase,
        running: true,
        settings: BTreeMap::new(),
        manifest: serde_json::to_string(&m).unwrap(),
        previous: previous.map(|p| serde_json::to_string(p).unwrap()),
        fresh_data: true,
        installed_at: 0,
        updated_at: 0,
    };
    if b.row().is_some() {
        b.store
            .set_app_version(
                &site(),
                version,
                &row.manifest,
                row.previous.as_deref(),
                phase,
            )
            .unwrap();
    } else {
        b.store.insert_app(&row, &BTreeMap::new()).unwrap();
    }
}

async fn resumed(b: &Bench) -> crate::store::JobRow {
    b.apps.resume_interrupted().await;
    let job = b.store.jobs(Some(&site()), 1).unwrap().remove(0);
    assert!(job.kind.starts_with("resume_"), "{job:?}");
    job
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_install_cut_short_is_completed_at_start() {
    let b = bench();
    crashed(&b, Phase::Installing, "1.36-1", None);
    let job = resumed(&b).await;
    assert_eq!(
        (job.kind.as_str(), job.state.as_str()),
        ("resume_install", "succeeded")
    );
    assert_eq!(b.row().unwrap().phase, Phase::Installed);
    assert!(b.engine.container(WEB).unwrap().running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_install_cut_short_that_cannot_finish_is_rolled_back_at_start() {
    let b = bench();
    crashed(&b, Phase::Installing, "1.36-1", None);
    b.engine.fail_starts(WEB, 1);
    let job = resumed(&b).await;
    assert_eq!(job.state, "failed");
    assert!(b.row().is_none());
    assert!(b.engine.container_names().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_cut_short_goes_on_at_start() {
    let b = bench();
    b.installed().await;
    crashed(&b, Phase::Updating, "1.37-1", Some(&manifest("1.36-1")));
    let job = resumed(&b).await;
    assert_eq!(
        (job.kind.as_str(), job.state.as_str()),
        ("resume_update", "succeeded")
    );
    let row = b.row().unwrap();
    assert_eq!(
        (row.version.as_str(), row.phase),
        ("1.37-1", Phase::Installed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_cut_short_without_its_previous_version_is_abandoned_at_start() {
    let b = bench();
    b.installed().await;
    crashed(&b, Phase::Updating, "1.37-1", None);
    let job = resumed(&b).await;
    assert_eq!(job.state, "failed");
    assert_eq!(b.row().unwrap().phase, Phase::Installed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_cut_short_is_completed_at_start() {
    let b = bench();
    b.installed().await;
    b.store.set_app_phase(&site(), Phase::Removing).unwrap();
    let job = resumed(&b).await;
    assert_eq!(
        (job.kind.as_str(), job.state.as_str()),
        ("resume_removal", "succeeded")
    );
    assert!(b.row().is_none());
    assert!(b.engine.container_names().is_empty());
    assert!(b.engine.network_names().is_empty());
}
