//! What went wrong, in the admin's words: services errors said through the message catalog
//! (`apps.failure.*` and `error.*`), and the messages of failed jobs, kept in both languages
//! ([`Failure`]) with how the job left the service (undone, back to the old version, data put
//! back from the safety snapshot).
//!
//! What the engine or a program said (an image name, an exit code, log lines) is quoted as
//! it came: it is not ours to translate.

use super::{AppError, NotReady, SafetyPoint};
use crate::engine::EngineError;
use crate::i18n::Messages;
use crate::jobs::{Failure, JobError};

/// A services error in the language of `t`.
pub fn describe(t: &Messages, e: &AppError) -> String {
    match e {
        AppError::Busy(JobError::Busy { app, kind, id }) => t.fmt(
            "apps.busy",
            &[
                ("app", app.as_str()),
                ("job", t.get(&format!("apps.job.{kind}"))),
                ("id", &id.to_string()),
            ],
        ),
        AppError::DiskLow {
            free_mb, needed_mb, ..
        } => t.fmt(
            "apps.disk_low",
            &[
                ("free", &free_mb.to_string()),
                ("needed", &needed_mb.to_string()),
            ],
        ),
        AppError::UpToDate { version, .. } => t.fmt("apps.up_to_date", &[("version", version)]),
        AppError::UpdateRefused { from, reason, .. } => t.fmt(
            "catalog.update_refused",
            &[("version", from), ("reason", reason.get(t.language))],
        ),
        AppError::Step {
            app,
            kind,
            number,
            container,
            code,
            output,
        } => t.fmt(
            match kind {
                super::StepKind::Setup => "catalog.setup_failed",
                super::StepKind::Address => "catalog.address_step_failed",
            },
            &[
                ("app", app.as_str()),
                ("number", &number.to_string()),
                ("container", container),
                ("code", &code.to_string()),
                ("output", output),
            ],
        ),
        AppError::Setting(s) => t.fmt(
            "apps.setting_named",
            &[("name", &s.name), ("problem", &setting_problem(t, s))],
        ),
        AppError::ConfirmDelete(app) => t.fmt("apps.confirm_delete", &[("app", app.as_str())]),
        AppError::EngineDown(_) => t.get("apps.engine_down").to_owned(),
        AppError::Engine { app, error } => t.fmt(
            "apps.failure.in_app",
            &[("app", app.as_str()), ("problem", &engine(t, error))],
        ),
        AppError::NotReady { app, why } => t.fmt(
            "apps.failure.not_ready",
            &[("app", app.as_str()), ("why", &not_ready(t, why))],
        ),
        AppError::SafetyBackup { app, message } => t.fmt(
            "apps.failure.safety_backup",
            &[("app", app.as_str()), ("problem", message)],
        ),
        AppError::Io { path, source, .. } => t.fmt(
            "apps.failure.io",
            &[
                ("path", &path.display().to_string()),
                ("problem", &source.to_string()),
            ],
        ),
        AppError::BadManifest { app, message } => t.fmt(
            "apps.failure.bad_manifest",
            &[("app", app.as_str()), ("problem", message)],
        ),
        AppError::Store(s) | AppError::Busy(JobError::Store(s)) => {
            t.fmt("apps.failure.store", &[("problem", &s.to_string())])
        }
        AppError::NotInCatalog(_) => t.error("app_not_in_catalog", &e.to_string()).to_owned(),
        AppError::NotInstalled(_) => t.error("app_not_installed", &e.to_string()).to_owned(),
        AppError::AlreadyInstalled(_) => {
            t.error("app_already_installed", &e.to_string()).to_owned()
        }
        AppError::NoSuchContainer { .. } => {
            t.error("app_no_such_container", &e.to_string()).to_owned()
        }
        AppError::Pack { app, error } => t.fmt(
            "apps.failure.in_app",
            &[("app", app.as_str()), ("problem", &error.describe(t))],
        ),
    }
}

/// What is wrong with one setting, without its name (the install form puts it by the field).
pub fn setting_problem(t: &Messages, e: &super::spec::SettingError) -> String {
    let args: Vec<(&str, &str)> = e.args.iter().map(|(k, v)| (*k, v.as_str())).collect();
    t.fmt(&format!("apps.setting.{}", e.key), &args)
}

fn engine(t: &Messages, e: &EngineError) -> String {
    match e {
        EngineError::Unreachable { .. } => t.get("apps.engine_down").to_owned(),
        EngineError::NotFound { what } => t.fmt("apps.failure.engine_not_found", &[("what", what)]),
        EngineError::Refused {
            op: "pull",
            object,
            message,
        } => {
            // Said in plain words with what to do; the engine's own words follow in brackets.
            let problem = e
                .pull_problem()
                .unwrap_or(crate::engine::PullProblem::Other);
            t.fmt(
                &format!("pull.{}", problem.key()),
                &[("image", object), ("message", message)],
            )
        }
        EngineError::Refused {
            op,
            object,
            message,
        } => {
            let key = format!("apps.engine_op.{}", op.replace(' ', "_"));
            let op = match t.get(&key) {
                said if said == key => op.to_string(),
                said => said.to_owned(),
            };
            t.fmt(
                "apps.failure.engine_refused",
                &[("op", &op), ("object", object), ("message", message)],
            )
        }
    }
}

fn not_ready(t: &Messages, why: &NotReady) -> String {
    match why {
        NotReady::Exited {
            container,
            code,
            logs,
        } => t.fmt(
            "apps.failure.exited",
            &[
                ("container", container),
                ("code", &code.to_string()),
                ("logs", logs),
            ],
        ),
        NotReady::Unhealthy { container } => {
            t.fmt("apps.failure.unhealthy", &[("container", container)])
        }
        NotReady::Timeout { secs } => t.fmt("apps.failure.timeout", &[("secs", &secs.to_string())]),
    }
}

/// A job that failed with `e`, nothing else to say.
pub fn of(e: &AppError) -> Failure {
    Failure::said(|t| describe(t, e))
}

/// A failed install and whether undoing it worked.
pub fn install(e: &AppError, undo: &Result<(), AppError>) -> Failure {
    Failure::said(|t| {
        let cause = describe(t, e);
        match undo {
            Ok(()) => t.fmt("apps.failure.install_undone", &[("cause", &cause)]),
            Err(u) => t.fmt(
                "apps.failure.install_undo_failed",
                &[("cause", &cause), ("undo", &describe(t, u))],
            ),
        }
    })
}

/// A failed update: why, and where the service and its data were left.
pub fn update(
    e: &AppError,
    old_version: &str,
    back: &Result<(), AppError>,
    restored: Option<(&SafetyPoint, &Result<(), String>)>,
) -> Failure {
    Failure::said(|t| {
        let data = match restored {
            None => String::new(),
            Some((p, Ok(()))) => t.fmt("apps.failure.data_restored", &[("snapshot", &p.snapshot)]),
            Some((p, Err(r))) => t.fmt(
                "apps.failure.data_restore_failed",
                &[
                    ("problem", r),
                    ("snapshot", &p.snapshot),
                    ("target", &p.target),
                ],
            ),
        };
        let cause = describe(t, e);
        match back {
            Ok(()) => t.fmt(
                "apps.failure.update_back",
                &[("cause", &cause), ("version", old_version), ("data", &data)],
            ),
            Err(b) => t.fmt(
                "apps.failure.update_back_failed",
                &[
                    ("cause", &cause),
                    ("version", old_version),
                    ("back", &describe(t, b)),
                    ("data", &data),
                ],
            ),
        }
    })
}

/// A failure with no error value behind it, from a message key.
pub fn key(key: &str) -> Failure {
    Failure::said(|t| t.get(key).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::AppId;

    #[test]
    fn a_failed_update_says_where_the_service_and_its_data_were_left_in_both_languages() {
        let app = AppId::parse("pad").unwrap();
        let e = AppError::NotReady {
            app: app.clone(),
            why: NotReady::Unhealthy {
                container: "web".into(),
            },
        };
        let point = SafetyPoint {
            target: "usb".into(),
            snapshot: "1a2b3c4d".into(),
        };
        let f = update(&e, "2.0-1", &Ok(()), Some((&point, &Ok(()))));
        assert_eq!(
            f.en,
            "'pad' did not start: its container web fails its health check (back to version 2.0-1; its data was put back from the safety snapshot 1a2b3c4d)"
        );
        assert_eq!(
            f.fr,
            "« pad » n'a pas démarré : son conteneur web échoue à son contrôle de santé (retour à la version 2.0-1 ; ses données ont été remises depuis l'instantané de sécurité 1a2b3c4d)"
        );
        let lost = update(
            &e,
            "2.0-1",
            &Ok(()),
            Some((&point, &Err("disk full".into()))),
        );
        assert!(
            lost.fr.contains("a ÉCHOUÉ (disk full)")
                && lost.fr.contains("sur la cible de sauvegarde usb"),
            "{}",
            lost.fr
        );
    }

    #[test]
    fn a_failed_setup_step_is_said_in_both_languages_with_the_commands_words() {
        let e = AppError::Step {
            app: AppId::parse("wiki").unwrap(),
            kind: super::super::StepKind::Setup,
            number: 2,
            container: "app".into(),
            code: 1,
            output: "password too weak".into(),
        };
        let f = install(&e, &Ok(()));
        assert_eq!(
            f.en,
            "the first-run setup of 'wiki' failed at step 2, in its container app (exit code 1): password too weak (the install was undone; nothing was left behind)"
        );
        assert!(
            f.fr.starts_with(
                "la configuration de premier démarrage de « wiki » a échoué à l'étape 2"
            ),
            "{}",
            f.fr
        );
    }

    #[test]
    fn engine_refusals_name_the_operation_in_the_admins_language() {
        let e = AppError::Engine {
            app: AppId::parse("pad").unwrap(),
            error: EngineError::Refused {
                op: "create",
                object: "panier-pad-app".into(),
                message: "port is already allocated".into(),
            },
        };
        let f = of(&e);
        assert_eq!(
            f.en,
            "pad: the container engine refused to create panier-pad-app: port is already allocated"
        );
        assert!(
            f.fr.starts_with("pad : le moteur de conteneurs a refusé de "),
            "{}",
            f.fr
        );
    }

    #[test]
    fn failed_pulls_say_why_in_plain_words_and_what_to_do() {
        let pull = |message: &str| {
            of(&AppError::Engine {
                app: AppId::parse("pad").unwrap(),
                error: EngineError::Refused {
                    op: "pull",
                    object: "etherpad:2".into(),
                    message: message.into(),
                },
            })
        };
        let offline = pull("dial tcp: lookup registry-1.docker.io: no such host");
        assert!(
            offline.en.contains("cannot reach the internet"),
            "{}",
            offline.en
        );
        assert!(
            offline.en.contains("USB stick carrying an image pack"),
            "{}",
            offline.en
        );
        assert!(
            offline.fr.contains("n'atteint pas internet"),
            "{}",
            offline.fr
        );
        let limited = pull("toomanyrequests: You have reached your pull rate limit.");
        assert!(limited.en.contains("too many downloads"), "{}", limited.en);
        assert!(limited.fr.contains("miroir de registre"), "{}", limited.fr);
        let down = pull("dial tcp 127.0.0.1:5999: connect: connection refused");
        assert!(down.en.contains("does not answer"), "{}", down.en);
        assert!(down.fr.contains("ne répond pas"), "{}", down.fr);
    }
}
