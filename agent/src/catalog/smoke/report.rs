//! The package check's report: per service, each step's result (`ok`, `failed`, `skipped`),
//! its reason in both languages and its time; as JSON, or as text in the language of
//! `LANG` (French unless it asks for English).

use crate::catalog::manifest::Text;
use crate::names::Language;
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepResult {
    Ok,
    Failed,
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub step: &'static str,
    pub result: StepResult,
    pub seconds: f64,
    /// Why it failed or was skipped.
    pub reason: Option<Text>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceReport {
    pub service: String,
    pub version: String,
    pub ok: bool,
    pub seconds: f64,
    pub steps: Vec<StepReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub catalog: String,
    pub engine: String,
    pub ok: bool,
    pub seconds: f64,
    pub services: Vec<ServiceReport>,
}

/// The language of the text report: English when `LC_ALL`, `LC_MESSAGES` or `LANG` (the
/// first one set) says so, French otherwise.
pub fn language() -> Language {
    let lang = ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.is_empty())
        .unwrap_or_default();
    if lang.starts_with("en") {
        Language::En
    } else {
        Language::Fr
    }
}

fn step_name(step: &str, lang: Language) -> &'static str {
    let (fr, en) = match step {
        "install" => ("installation", "install"),
        "healthy" => ("en bonne santé", "healthy"),
        "probe" => ("sondes", "probes"),
        "backup" => ("sauvegarde", "backup"),
        "remove" => ("désinstallation", "removal"),
        "restore" => ("restauration", "restore"),
        "probe_restored" => ("sondes après restauration", "probes after restore"),
        "update" => ("mise à jour", "update"),
        "probe_updated" => ("sondes après mise à jour", "probes after update"),
        "cleanup" => ("nettoyage", "cleanup"),
        _ => ("?", "?"),
    };
    match lang {
        Language::Fr => fr,
        Language::En => en,
    }
}

impl StepReport {
    pub fn new(
        step: &'static str,
        result: StepResult,
        took: Duration,
        reason: Option<Text>,
    ) -> StepReport {
        StepReport {
            step,
            result,
            seconds: (took.as_secs_f64() * 10.0).round() / 10.0,
            reason,
        }
    }

    pub fn skipped(step: &'static str, reason: Text) -> StepReport {
        StepReport::new(step, StepResult::Skipped, Duration::ZERO, Some(reason))
    }

    /// One line: name, result, time, reason.
    pub fn line(&self, lang: Language) -> String {
        let result = match (self.result, lang) {
            (StepResult::Ok, _) => "ok",
            (StepResult::Failed, Language::Fr) => "ÉCHEC",
            (StepResult::Failed, Language::En) => "FAILED",
            (StepResult::Skipped, Language::Fr) => "ignorée",
            (StepResult::Skipped, Language::En) => "skipped",
        };
        let mut line = format!(
            "{:<28} {:<8} {:>7.1} s",
            step_name(self.step, lang),
            result,
            self.seconds
        );
        if let Some(r) = &self.reason {
            line.push_str("  ");
            line.push_str(r.get(lang));
        }
        line
    }
}

impl Report {
    pub fn new(
        catalog: &Path,
        engine: &str,
        services: Vec<ServiceReport>,
        took: Duration,
    ) -> Report {
        Report {
            catalog: catalog.display().to_string(),
            engine: engine.to_owned(),
            ok: services.iter().all(|s| s.ok),
            seconds: (took.as_secs_f64() * 10.0).round() / 10.0,
            services,
        }
    }

    pub fn text(&self, lang: Language) -> String {
        let mut out = String::new();
        for s in &self.services {
            let verdict = match (s.ok, lang) {
                (true, Language::Fr) => "réussie",
                (true, Language::En) => "passed",
                (false, Language::Fr) => "ÉCHOUÉE",
                (false, Language::En) => "FAILED",
            };
            out.push_str(&match lang {
                Language::Fr => format!(
                    "{} {} : vérification {verdict} en {:.1} s\n",
                    s.service, s.version, s.seconds
                ),
                Language::En => format!(
                    "{} {}: check {verdict} in {:.1} s\n",
                    s.service, s.version, s.seconds
                ),
            });
            for step in &s.steps {
                out.push_str("  ");
                out.push_str(&step.line(lang));
                out.push('\n');
            }
        }
        let passed = self.services.iter().filter(|s| s.ok).count();
        out.push_str(&match lang {
            Language::Fr => format!(
                "{passed} service(s) sur {} vérifié(s) en {:.1} s\n",
                self.services.len(),
                self.seconds
            ),
            Language::En => format!(
                "{passed} of {} service(s) passed in {:.1} s\n",
                self.services.len(),
                self.seconds
            ),
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_reports_say_each_step_in_the_language_asked() {
        let report = Report::new(
            Path::new("services"),
            "unix:///run/docker.sock",
            vec![ServiceReport {
                service: "site".into(),
                version: "1.0-1".into(),
                ok: false,
                seconds: 3.0,
                steps: vec![
                    StepReport::new("install", StepResult::Ok, Duration::from_millis(1200), None),
                    StepReport::new(
                        "probe",
                        StepResult::Failed,
                        Duration::from_secs(2),
                        Some(Text {
                            fr: "la sonde échoue".into(),
                            en: "the probe fails".into(),
                        }),
                    ),
                ],
            }],
            Duration::from_secs(3),
        );
        let fr = report.text(Language::Fr);
        assert!(fr.contains("site 1.0-1 : vérification ÉCHOUÉE"), "{fr}");
        assert!(
            fr.contains("sondes") && fr.contains("ÉCHEC") && fr.contains("la sonde échoue"),
            "{fr}"
        );
        let en = report.text(Language::En);
        assert!(
            en.contains("probes") && en.contains("FAILED") && en.contains("the probe fails"),
            "{en}"
        );
        assert!(en.contains("0 of 1 service(s) passed"), "{en}");
        assert!(!report.ok);
    }
}
