//! Logging: to the systemd journal when its socket exists, else to stderr.
//!
//! Structured fields go through `log`'s key-values (`log::info!(app = id; "…")`); the journal
//! logger stores them as journal fields (`APP=…`), the stderr logger appends them as `key=value`.

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write;

pub fn init() {
    let level = match std::env::var("PANIER_LOG").as_deref() {
        Ok("debug") => LevelFilter::Debug,
        Ok("warn") => LevelFilter::Warn,
        _ => LevelFilter::Info,
    };
    let journal = std::path::Path::new("/run/systemd/journal/socket").exists()
        && std::env::var_os("PANIER_LOG_STDERR").is_none();
    if journal
        && let Ok(logger) = systemd_journal_logger::JournalLog::new()
        && logger
            .with_syslog_identifier("panier".into())
            .install()
            .is_ok()
    {
        log::set_max_level(level);
        return;
    }
    if log::set_boxed_logger(Box::new(Stderr)).is_ok() {
        log::set_max_level(level);
    }
}

struct Stderr;

struct Fields(String);

impl<'kvs> log::kv::VisitSource<'kvs> for Fields {
    fn visit_pair(
        &mut self,
        key: log::kv::Key<'kvs>,
        value: log::kv::Value<'kvs>,
    ) -> Result<(), log::kv::Error> {
        self.0.push_str(&format!(" {key}={value}"));
        Ok(())
    }
}

impl Log for Stderr {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &Record<'_>) {
        let mut fields = Fields(String::new());
        let _ = record.key_values().visit(&mut fields);
        let level = match record.level() {
            Level::Error => "error",
            Level::Warn => "warning",
            Level::Info => "info",
            Level::Debug | Level::Trace => "debug",
        };
        let _ = writeln!(
            std::io::stderr().lock(),
            "panier {level}: {}{}",
            record.args(),
            fields.0
        );
    }

    fn flush(&self) {}
}
