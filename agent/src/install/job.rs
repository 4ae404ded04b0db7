//! The install job, on its own thread (it is disk-bound and long): verdict → wipe →
//! install → sheet, each step recorded on the job (`verdict`, `wipe`, `copy`, `verify`,
//! `table`, `sheet`) with the job's percentage, every line of `panier-hw`'s progress kept for
//! the page, and a failure said in French and English.

use super::{Install, Outcome, audit};
use crate::i18n::Messages;
use crate::jobs::{Failure, Job};
use crate::names::{BoxName, Language, SetupCode};
use panier_hw::certificate::VerifyMode;
use panier_hw::i18n::Lang;
use panier_hw::install::{InstallOptions, Stage};
use panier_hw::models::ModelDb;
use panier_hw::report::BoxLabel;
use panier_hw::verdict::{self, Level, Severity};
use panier_hw::wipe::WipeOptions;
use std::path::Path;
use std::time::Instant;

pub(super) struct Work {
    pub install: Install,
    pub source: super::Source,
    pub target: super::TargetDisk,
    pub box_name: BoxName,
    pub setup_code: SetupCode,
    pub language: Language,
    pub actor: String,
    /// The stick's pack and the services to pre-install from it.
    pub preload: Option<(crate::pack::OpenPack, Vec<String>)>,
}

fn lang(language: Language) -> Lang {
    match language {
        Language::Fr => Lang::Fr,
        Language::En => Lang::En,
    }
}

/// A failure with a detail that `panier-hw` says in each language.
fn said(key: &'static str, detail: impl Fn(Lang) -> String) -> Failure {
    Failure::said(|t: &Messages| t.fmt(key, &[("detail", &detail(lang(t.language)))]))
}

impl Work {
    pub fn run(self, job: Job) {
        let started = Instant::now();
        let result = self.steps(&job, started);
        let detail = result.as_ref().map(|_| ()).map_err(|f| f.en.clone());
        let target = format!("{} → {}", self.target.path, self.box_name);
        if let Err(e) =
            self.install
                .inner
                .store
                .record(&audit(&self.actor, "install", &target, detail))
        {
            log::error!("{e}");
        }
        match result {
            Ok(outcome) => {
                log::info!(
                    "install onto {} done in {:.0} s: box {}, sheet {}",
                    outcome.target,
                    outcome.seconds,
                    outcome.box_name,
                    outcome.sheet.display()
                );
                self.install.live().last.outcome = Some(outcome);
                self.install.save();
                job.finish(Ok(()));
            }
            Err(failure) => {
                self.install.say(if self.language == Language::Fr {
                    &failure.fr
                } else {
                    &failure.en
                });
                self.install.save();
                job.finish(Err(failure));
            }
        }
    }

    fn steps(&self, job: &Job, started: Instant) -> Result<Outcome, Failure> {
        let l = lang(self.language);
        let hw_dir = self.install.inner.hw_dir.clone();
        let machine = self.install.inner.machine.clone();
        let say = |line: &str| self.install.say(line);
        let device = Path::new(&self.target.path);

        job.step("verdict", 2);
        let probe = machine.probe();
        let verdict = verdict::check(&probe, &ModelDb::builtin(), l);
        say(&format!(
            "{} : {}",
            verdict::Level::label(verdict.level, l),
            verdict
                .findings
                .iter()
                .map(|f| f.message.clone())
                .collect::<Vec<_>>()
                .join(" · ")
        ));
        if verdict.level == Level::Unfit {
            return Err(said("install.failure.unfit", |lang| {
                let v = verdict::check(&probe, &ModelDb::builtin(), lang);
                v.findings
                    .iter()
                    .filter(|f| f.severity == Severity::Blocker)
                    .map(|f| f.message.clone())
                    .collect::<Vec<_>>()
                    .join(" ")
            }));
        }

        job.step("wipe", 5);
        let options = WipeOptions {
            verify: VerifyMode::Sample,
            samples: 1024,
            firmware_methods: true,
            lang: l,
        };
        let cert = machine
            .wipe(device, &self.target.serial, &options, &mut |line| say(line))
            .map_err(|e| said("install.failure.wipe", |_| e.to_string()))?;
        let (certificate, _) = cert
            .save(&hw_dir, l)
            .map_err(|e| said("install.failure.wipe", |_| e.to_string()))?;
        if !cert.passed {
            let at = cert
                .verification
                .as_ref()
                .and_then(|v| v.first_nonzero_offset)
                .unwrap_or(0);
            return Err(said("install.failure.wipe_unverified", |_| {
                format!("{at} ({})", certificate.display())
            }));
        }

        job.step("copy", 40);
        let code = self.setup_code.display();
        let options = InstallOptions {
            source: Path::new(&self.source.disk.path),
            slot: self.source.slot,
            target: device,
            confirmation: &self.target.serial,
            box_name: self.box_name.as_str(),
            setup_code: &code,
            lang: l,
        };
        let report = machine
            .install(&options, &mut |stage, percent, line| {
                let step = match stage {
                    Stage::Check | Stage::Clear | Stage::Copy => "copy",
                    Stage::Verify => "verify",
                    Stage::Table | Stage::Done => "table",
                };
                job.step(step, 40 + percent as i64 * 55 / 100);
                say(line);
            })
            .map_err(|e| Failure {
                en: e.message(Lang::En),
                fr: e.message(Lang::Fr),
            })?;
        let report_path = hw_dir.join(format!(
            "install-{}-{}.json",
            self.box_name,
            report
                .ended_at
                .chars()
                .filter(char::is_ascii_digit)
                .collect::<String>()
        ));
        let json = serde_json::to_string_pretty(&report).expect("the install report serializes");
        panier_hw::certificate::write_atomic(&report_path, json.as_bytes())
            .map_err(|e| said("install.failure.sheet", |_| e.to_string()))?;

        if let Some((pack, services)) = &self.preload {
            job.step("preload", 95);
            let signer = &pack.signer.key;
            let content = super::preload::Content {
                pack_dir: &pack.dir,
                keys: vec![(
                    format!("{}.pub", signer.key.id),
                    signer
                        .key
                        .to_file(&format!("minisign public key {}", signer.name)),
                )],
                services: services.clone(),
            };
            super::preload::write(device, "panier", &content, &hw_dir)
                .map_err(|e| said("install.failure.preload", |_| e.clone()))?;
            say(&format!(
                "{} : {}",
                lang_word(l, "preload"),
                services.join(", ")
            ));
        }
        job.step("sheet", 96);
        let label = BoxLabel::new(self.box_name.as_str(), &code)
            .map_err(|e| said("install.failure.sheet", |_| e.to_string()))?;
        let written = machine
            .report(&hw_dir, &label, l)
            .map_err(|e| said("install.failure.sheet", |_| e.to_string()))?;
        if let Some((_, services)) = &self.preload {
            add_services_to_sheet(&written.sheet, l, services)
                .map_err(|e| said("install.failure.sheet", |_| e.clone()))?;
        }
        say(&panier_hw::i18n::tr(
            l,
            panier_hw::i18n::Msg::ReportWritten,
            &[
                ("html", &written.sheet.display()),
                ("csv", &written.inventory.display()),
            ],
        ));
        Ok(Outcome {
            job: job.id,
            box_name: self.box_name.to_string(),
            setup_code: code,
            sheet: written.sheet,
            inventory: written.inventory,
            certificate,
            report: report_path,
            target: self.target.path.clone(),
            copied_bytes: report.copied_bytes,
            seconds: started.elapsed().as_secs_f64(),
            copy_seconds: report.write_seconds,
            verify_seconds: report.verify_seconds,
        })
    }
}

fn lang_word(l: Lang, what: &str) -> &'static str {
    match (l, what) {
        (Lang::Fr, _) => "Services pré-installés (au premier démarrage, depuis le paquet)",
        (Lang::En, _) => "Pre-installed services (at the first start, from the pack)",
    }
}

/// Adds the pre-installed services to the refurbishment sheet (before its end).
fn add_services_to_sheet(sheet: &Path, l: Lang, services: &[String]) -> Result<(), String> {
    let html = std::fs::read_to_string(sheet).map_err(|e| e.to_string())?;
    let items: String = services
        .iter()
        .map(|s| {
            format!(
                "<li>{}</li>",
                s.chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect::<String>()
            )
        })
        .collect();
    let section = format!(
        "<section id=\"preinstalled\"><h2>{}</h2><ul>{items}</ul></section>\n",
        lang_word(l, "preload")
    );
    let html = match html.rfind("</body>") {
        Some(at) => format!("{}{section}{}", &html[..at], &html[at..]),
        None => html + &section,
    };
    panier_hw::certificate::write_atomic(sheet, html.as_bytes()).map_err(|e| e.to_string())
}
