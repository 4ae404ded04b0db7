//! Named jobs: long operations on one service (install, start, stop, restart, update, remove,
//! backup pause), or on the box itself (install mode's install onto the internal disk), with a
//! progress step and percentage, and a result kept in the store.
//!
//! Invariant: at most one job per service, and one box job, at a time. [`Jobs::begin`] and
//! [`Jobs::begin_box`] refuse a second one with [`JobError::Busy`] naming the running job (it
//! is not queued). A box job is stored with the subject [`BOX`], which no service id can be.
//! The lock lives in this process; a job row left `running` by a crashed process is marked
//! `interrupted` at start ([`Jobs::recover`], which the daemon calls before anything can begin
//! a job) and the service's phase tells `apps` what to complete or undo.
//!
//! A [`Job`] that is dropped without [`Job::finish`] is recorded as failed, so a panic or an
//! early return cannot leave a job `running` forever.

use crate::catalog::AppId;
use crate::i18n::{Messages, messages};
use crate::names::Language;
use crate::store::{JobRow, Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(
        "'{app}' is busy: a job ({kind}, #{id}) is already running for it; wait for it to finish"
    )]
    Busy { app: String, kind: String, id: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a job failed, in each language of the admin UI (both are kept with the job).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub en: String,
    pub fr: String,
}

impl Failure {
    /// Says it with each language's message catalog.
    pub fn said(say: impl Fn(&Messages) -> String) -> Failure {
        Failure {
            en: say(messages(Language::En)),
            fr: say(messages(Language::Fr)),
        }
    }
}

/// The subject of box jobs in the store (`jobs.app`): not a valid service id.
pub const BOX: &str = "@box";

#[derive(Clone)]
pub struct Jobs {
    store: Store,
    /// Subject (a service id, or [`BOX`]) → running job id and kind.
    running: Arc<Mutex<HashMap<String, (i64, String)>>>,
}

impl Jobs {
    pub fn new(store: Store) -> Jobs {
        Jobs {
            store,
            running: Arc::default(),
        }
    }

    /// Closes jobs a previous process left running.
    pub fn recover(&self) -> Result<usize, StoreError> {
        self.store.interrupt_running_jobs()
    }

    /// Starts a job on `app`, or refuses if one is running.
    pub fn begin(&self, app: &AppId, kind: &str, actor: &str) -> Result<Job, JobError> {
        self.begin_on(app.as_str(), kind, actor)
    }

    /// Starts a job on the box itself, or refuses if one is running.
    pub fn begin_box(&self, kind: &str, actor: &str) -> Result<Job, JobError> {
        self.begin_on(BOX, kind, actor)
    }

    fn begin_on(&self, subject: &str, kind: &str, actor: &str) -> Result<Job, JobError> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((id, kind)) = running.get(subject) {
            return Err(JobError::Busy {
                app: subject.to_owned(),
                kind: kind.clone(),
                id: *id,
            });
        }
        let id = self.store.insert_job(subject, kind, actor)?;
        running.insert(subject.to_owned(), (id, kind.to_owned()));
        log::info!(app = subject, job = id; "job {kind} started by {actor}");
        Ok(Job {
            id,
            subject: subject.to_owned(),
            jobs: self.clone(),
            done: false,
            last: Mutex::new((String::new(), -1)),
        })
    }

    /// Whether a job runs for `app` (the reconciler leaves such services alone).
    pub fn busy(&self, app: &AppId) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(app.as_str())
    }

    /// The running box job's id, if any.
    pub fn box_job(&self) -> Option<i64> {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(BOX)
            .map(|(id, _)| *id)
    }

    /// The refusal [`Jobs::begin`] would give now for `app`, if a job runs for it.
    pub fn refusal(&self, app: &AppId) -> Option<JobError> {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.get(app.as_str()).map(|(id, kind)| JobError::Busy {
            app: app.to_string(),
            kind: kind.clone(),
            id: *id,
        })
    }

    pub fn get(&self, id: i64) -> Result<Option<JobRow>, StoreError> {
        self.store.job(id)
    }

    pub fn list(&self, app: Option<&AppId>, limit: i64) -> Result<Vec<JobRow>, StoreError> {
        self.store.jobs(app, limit)
    }

    fn release(&self, subject: &str) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(subject);
    }
}

/// A running job. Report progress with [`Job::step`]; end it with [`Job::finish`].
pub struct Job {
    pub id: i64,
    subject: String,
    jobs: Jobs,
    done: bool,
    last: Mutex<(String, i64)>,
}

impl Job {
    /// Records the current step (a stable key such as `pull`, with a detail) and percentage.
    /// Repeated identical reports are not written.
    pub fn step(&self, step: &str, percent: i64) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.0 == step && last.1 == percent {
            return;
        }
        *last = (step.to_owned(), percent);
        if let Err(e) = self
            .jobs
            .store
            .update_job(self.id, step, percent.clamp(0, 100))
        {
            log::warn!(job = self.id; "{e}");
        }
    }

    /// Ends the job with its result, keeps it in the store, and frees the service.
    pub fn finish(mut self, result: Result<(), Failure>) {
        self.close(result);
    }

    fn close(&mut self, result: Result<(), Failure>) {
        if self.done {
            return;
        }
        self.done = true;
        let (state, en, fr) = match &result {
            Ok(()) => ("succeeded", "", ""),
            Err(f) => ("failed", f.en.as_str(), f.fr.as_str()),
        };
        if let Err(e) = self.jobs.store.finish_job(self.id, state, en, fr) {
            log::error!(job = self.id; "{e}");
        }
        match result {
            Ok(()) => log::info!(app = self.subject.as_str(), job = self.id; "job succeeded"),
            Err(f) => {
                log::warn!(app = self.subject.as_str(), job = self.id; "job failed: {}", f.en)
            }
        }
        self.jobs.release(&self.subject);
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.close(Err(Failure::said(|t| {
            t.get("apps.failure.ended_unexpectedly").to_owned()
        })));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_job_per_app_and_results_kept() {
        let jobs = Jobs::new(Store::memory());
        let pad = AppId::parse("pad").unwrap();
        let job = jobs.begin(&pad, "install", "camille").unwrap();
        let err = jobs.begin(&pad, "remove", "camille").err().unwrap();
        assert!(err.to_string().contains("already running"), "{err}");
        assert!(
            jobs.begin(&AppId::parse("wiki").unwrap(), "install", "x")
                .is_ok()
        );
        job.step("pull", 40);
        let id = job.id;
        job.finish(Err(Failure {
            en: "no image".into(),
            fr: "pas d'image".into(),
        }));
        let row = jobs.get(id).unwrap().unwrap();
        assert_eq!(
            (
                row.state.as_str(),
                row.message.as_str(),
                row.message_fr.as_str(),
                row.step.as_str()
            ),
            ("failed", "no image", "pas d'image", "pull")
        );
        assert!(
            jobs.begin(&pad, "install", "camille").is_ok(),
            "freed after finishing"
        );
        let install = jobs.begin_box("install", "atelier").unwrap();
        assert!(
            matches!(
                jobs.begin_box("install", "atelier"),
                Err(JobError::Busy { .. })
            ),
            "one box job at a time"
        );
        assert_eq!(jobs.box_job(), Some(install.id));
        assert_eq!(jobs.get(install.id).unwrap().unwrap().app, BOX);
    }

    #[test]
    fn a_dropped_job_is_failed_in_both_languages() {
        let jobs = Jobs::new(Store::memory());
        let id = jobs
            .begin(&AppId::parse("pad").unwrap(), "install", "camille")
            .unwrap()
            .id;
        let row = jobs.get(id).unwrap().unwrap();
        assert_eq!(row.state, "failed");
        assert!(
            row.message.contains("ended unexpectedly"),
            "{}",
            row.message
        );
        assert!(row.message_fr.contains("inattendue"), "{}", row.message_fr);
    }
}
