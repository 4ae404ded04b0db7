//! A hot backup of a real database: Debian's PostgreSQL in a test image built with mmdebstrap
//! (`tests/images/postgresql`), installed by the agent from its test manifest
//! (`tests/realapps/postgresql`, the catalog's database shape: a `pg_dump` into the `dumps`
//! volume before the copy, the dump loaded back after a restore). A client keeps writing
//! while the backup runs, in transactions that each add a loan and its event; the service is
//! then removed with its data, installed again and restored, and the database holds every row
//! written before the backup, and no half of any transaction (as many events as loans, every
//! event's loan there: the foreign key is checked as the dump is loaded).

use panier_system_tests::engine::{docker, engine_url};
use panier_system_tests::realapps::{RealCatalog, back_up, cli_ok, remove_with_data, restore};
use panier_system_tests::registry::Registry;
use panier_system_tests::services::EngineCleanup;
use panier_system_tests::{Agent, AgentOptions};

/// Rows of the library's loans made before the writer starts.
const INITIAL: u64 = 20_000;

/// The writer: a transaction per loan (the loan and its event), committed one by one, until
/// a row appears in `writer_stop`.
const WRITER: &str = "DO $$ BEGIN LOOP
  EXIT WHEN EXISTS (SELECT 1 FROM writer_stop);
  WITH l AS (INSERT INTO loans (title) VALUES ('pret ' || clock_timestamp()) RETURNING id)
    INSERT INTO loan_events (loan_id, kind) SELECT id, 'sorti' FROM l;
  COMMIT;
  PERFORM pg_sleep(0.001);
END LOOP; END $$;";

/// `psql` in the service's database container (the local socket, as the database's user);
/// its unaligned output.
fn psql(engine: &str, app: &str, sql: &str) -> anyhow::Result<String> {
    docker(
        engine,
        &[
            "exec",
            &format!("panier-{app}-db"),
            "sh",
            "-c",
            "exec psql -v ON_ERROR_STOP=1 -qAt -U \"$POSTGRES_USER\" -d \"$POSTGRES_DB\" -c \"$0\"",
            sql,
        ],
    )
    .map(|s| s.trim().to_owned())
}

fn count(engine: &str, app: &str, table: &str) -> u64 {
    psql(engine, app, &format!("SELECT count(*) FROM {table}"))
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn postgresql_backed_up_hot_while_written_to_is_restored_whole_and_consistent() {
    let engine = engine_url();
    let registry = Registry::start().unwrap();
    let catalog = RealCatalog::make(&registry, &["postgresql"]).unwrap();
    let version = &catalog.images["postgresql"].packages().unwrap()["postgresql-15"];
    assert!(
        catalog.manifest("postgresql").contains(&format!(
            "tag = \"postgresql-15 {version} (Debian bookworm)\""
        )),
        "the provenance names the image's PostgreSQL {version}"
    );
    let app = catalog.id("postgresql");
    let _cleanup = EngineCleanup {
        engine: engine.clone(),
        ids: catalog.ids(),
    };
    let agent = Agent::start_with(AgentOptions {
        engine: Some(engine.clone()),
        extra_args: vec!["--catalog".into(), catalog.path().display().to_string()],
        ..Default::default()
    });
    let out = cli_ok(&agent, &["app", "install", &app, "--follow"]);
    assert!(out.contains("succeeded"), "{out}");

    psql(
        &engine,
        &app,
        &format!(
            "CREATE TABLE loans (id bigserial PRIMARY KEY, title text NOT NULL);
             CREATE TABLE loan_events (loan_id bigint NOT NULL REFERENCES loans (id), kind text NOT NULL);
             CREATE TABLE writer_stop ();
             WITH l AS (INSERT INTO loans (title) SELECT 'fonds ' || n FROM generate_series(1, {INITIAL}) n RETURNING id)
               INSERT INTO loan_events (loan_id, kind) SELECT id, 'catalogue' FROM l;"
        ),
    )
    .unwrap();

    // The writer runs through the whole backup.
    let writer = {
        let (engine, app) = (engine.clone(), app.clone());
        std::thread::spawn(move || psql(&engine, &app, WRITER))
    };
    panier_system_tests::wait_until(
        std::time::Duration::from_secs(30),
        "the writer to write",
        || count(&engine, &app, "loans") > INITIAL + 50,
    )
    .unwrap();
    let before = count(&engine, &app, "loans");
    let tmp = tempfile::tempdir().unwrap();
    let snapshot = back_up(&agent, &app, tmp.path());
    let after = count(&engine, &app, "loans");
    psql(&engine, &app, "INSERT INTO writer_stop DEFAULT VALUES").unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        after > before,
        "the client kept writing during the backup ({before} → {after} loans)"
    );
    let dump = agent
        .data_dir
        .join(format!("apps/{app}/volumes/dumps/library.sql"));
    assert!(dump.is_file(), "the pre command dumped into the volume");
    // The database's live files are not what is saved.
    let db_files = agent.data_dir.join(format!("apps/{app}/volumes/db"));
    let list = agent.cli_json(&["backup", "list", "dossier"]);
    let saved = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == *snapshot)
        .unwrap();
    assert!(
        saved["paths"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| !p.as_str().unwrap().starts_with(db_files.to_str().unwrap())),
        "{saved}"
    );

    remove_with_data(&agent, &engine, &app);
    let out = cli_ok(&agent, &["app", "install", &app, "--follow"]);
    assert!(out.contains("succeeded"), "{out}");
    assert!(
        psql(&engine, &app, "SELECT count(*) FROM loans").is_err(),
        "a fresh database has no loans"
    );

    restore(&agent, &app, &snapshot);
    let loans = count(&engine, &app, "loans");
    let events = count(&engine, &app, "loan_events");
    assert!(
        (before..=after).contains(&loans),
        "the restored database is the one of the backup's moment: {loans} loans, \
         {before} before the backup and {after} after"
    );
    assert_eq!(events, loans, "no transaction is cut in half");
    assert_eq!(
        psql(
            &engine,
            &app,
            "SELECT count(*) FROM loans WHERE title LIKE 'fonds %'"
        )
        .unwrap(),
        INITIAL.to_string(),
        "every loan made before the writer is back"
    );
    assert_eq!(
        psql(
            &engine,
            &app,
            "SELECT count(*) FROM loan_events e LEFT JOIN loans l ON l.id = e.loan_id WHERE l.id IS NULL"
        )
        .unwrap(),
        "0"
    );
    // The sequence came back too: a new loan does not collide with a restored one.
    psql(
        &engine,
        &app,
        "INSERT INTO loans (title) VALUES ('après la restauration')",
    )
    .unwrap();
}
