//! Wipe certificates: what was erased, how, when, and how it was verified; saved as JSON
//! (machine-readable, read back by the refurbishment report) and as a printable HTML page.
//!
//! Invariants: a certificate is written atomically (temporary file, fsync, rename) under a
//! name made of the disk's serial (or kernel name) and the end time, so certificates never
//! overwrite each other. `passed` is true only when the verification read zeros everywhere
//! it looked. Limits: certificates are not signed; they are a record, not a cryptographic
//! proof.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::blockdev::DiskIdentity;
use crate::html;
use crate::i18n::{Lang, Msg, tr};
use crate::wipe::Method;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum VerifyMode {
    /// The first and last MiB plus random 64 KiB regions across the disk.
    Sample,
    /// Every byte.
    Full,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Verification {
    pub mode: VerifyMode,
    pub regions_checked: u64,
    pub bytes_checked: u64,
    pub first_nonzero_offset: Option<u64>,
    pub passed: bool,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WipeStep {
    pub method: Method,
    pub started_at: String,
    pub ended_at: String,
    /// `None` when the step completed, else why it failed.
    pub error: Option<String>,
}

impl WipeStep {
    pub fn begin(method: Method) -> Self {
        Self {
            method,
            started_at: now(),
            ended_at: String::new(),
            error: None,
        }
    }

    pub fn end(mut self, error: Option<String>) -> Self {
        self.ended_at = now();
        self.error = error;
        self
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WipeCertificate {
    pub id: String,
    pub tool: String,
    pub disk: DiskIdentity,
    pub started_at: String,
    pub ended_at: String,
    /// Every method attempted, in order.
    pub steps: Vec<WipeStep>,
    /// The method after which the verification ran and passed (or the last one tried).
    pub method: Option<Method>,
    pub verification: Option<Verification>,
    pub passed: bool,
    pub notes: Vec<String>,
}

pub fn now() -> String {
    let now = jiff::Timestamp::now();
    now.round(jiff::Unit::Second).unwrap_or(now).to_string()
}

#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("cannot write certificate {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read certificate {path}: {message}")]
    Read { path: PathBuf, message: String },
}

impl WipeCertificate {
    pub fn start(disk: DiskIdentity) -> Self {
        let mut random = [0u8; 8];
        let _ = std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut random));
        let id = random.iter().map(|b| format!("{b:02x}")).collect();
        Self {
            id,
            tool: format!("panier-hw {}", env!("CARGO_PKG_VERSION")),
            disk,
            started_at: now(),
            ended_at: String::new(),
            steps: Vec::new(),
            method: None,
            verification: None,
            passed: false,
            notes: Vec::new(),
        }
    }

    /// A seed for the verification's sample positions, derived from the certificate id.
    pub fn seed(&self) -> u64 {
        u64::from_str_radix(&self.id, 16).unwrap_or(0x9e37_79b9_7f4a_7c15)
    }

    pub fn finish(mut self, method: Method, verification: Verification) -> Self {
        self.passed = verification.passed;
        self.method = Some(method);
        self.verification = Some(verification);
        self.ended_at = now();
        self
    }

    fn file_stem(&self) -> String {
        let who: String = self
            .disk
            .confirmation_token()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let when: String = self
            .ended_at
            .chars()
            .filter(|c| c.is_ascii_digit())
            .collect();
        format!("wipe-{who}-{when}")
    }

    /// Writes `<stem>.json` and `<stem>.html` into `dir`; returns both paths.
    pub fn save(&self, dir: &Path, lang: Lang) -> Result<(PathBuf, PathBuf), CertificateError> {
        let stem = self.file_stem();
        let json_path = dir.join(format!("{stem}.json"));
        let html_path = dir.join(format!("{stem}.html"));
        let json = serde_json::to_string_pretty(self).expect("certificate serializes");
        write_atomic(&json_path, json.as_bytes())?;
        write_atomic(&html_path, self.to_html(lang).as_bytes())?;
        Ok((json_path, html_path))
    }

    pub fn load(path: &Path) -> Result<Self, CertificateError> {
        let text = std::fs::read_to_string(path).map_err(|e| CertificateError::Read {
            path: path.into(),
            message: e.to_string(),
        })?;
        serde_json::from_str(&text).map_err(|e| CertificateError::Read {
            path: path.into(),
            message: e.to_string(),
        })
    }

    /// Every certificate in `dir` (unreadable files are skipped), oldest first.
    pub fn load_dir(dir: &Path) -> Vec<Self> {
        let mut certs: Vec<Self> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| {
                        p.extension().is_some_and(|x| x == "json")
                            && p.file_name()
                                .is_some_and(|n| n.to_string_lossy().starts_with("wipe-"))
                    })
                    .filter_map(|p| Self::load(&p).ok())
                    .collect()
            })
            .unwrap_or_default();
        certs.sort_by(|a, b| a.ended_at.cmp(&b.ended_at));
        certs
    }

    /// The certificate's body as an HTML fragment (also embedded in the refurbishment sheet).
    pub fn html_fragment(&self, lang: Lang) -> String {
        let d = &self.disk;
        let verdict = if self.passed {
            tr(lang, Msg::CertPassed, &[])
        } else {
            tr(lang, Msg::CertFailed, &[])
        };
        let mut rows = vec![
            (
                tr(lang, Msg::LabelModel, &[]),
                d.model.clone().unwrap_or_default(),
            ),
            (
                tr(lang, Msg::LabelSerial, &[]),
                d.serial.clone().unwrap_or_else(|| "—".into()),
            ),
            (
                tr(lang, Msg::LabelSize, &[]),
                html::human_bytes(d.size_bytes),
            ),
            (tr(lang, Msg::LabelDevice, &[]), d.path.clone()),
            (
                tr(lang, Msg::LabelMethod, &[]),
                self.method
                    .map(|m| method_label(m, lang))
                    .unwrap_or_else(|| "—".into()),
            ),
            (tr(lang, Msg::LabelStarted, &[]), self.started_at.clone()),
            (tr(lang, Msg::LabelEnded, &[]), self.ended_at.clone()),
        ];
        if let Some(v) = &self.verification {
            let mode = match v.mode {
                VerifyMode::Sample => tr(lang, Msg::CertVerifySample, &[]),
                VerifyMode::Full => tr(lang, Msg::CertVerifyFull, &[]),
            };
            rows.push((
                tr(lang, Msg::LabelVerification, &[]),
                format!(
                    "{mode} — {} ({} × {})",
                    verdict,
                    v.regions_checked,
                    html::human_bytes(v.bytes_checked)
                ),
            ));
        }
        rows.push((tr(lang, Msg::LabelCertificateId, &[]), self.id.clone()));
        let mut out = format!(
            "<section class=\"cert {}\"><h2>{}</h2><table>",
            if self.passed { "ok" } else { "bad" },
            html::escape(&tr(lang, Msg::CertTitle, &[]))
        );
        for (k, v) in rows {
            out.push_str(&format!(
                "<tr><th>{}</th><td>{}</td></tr>",
                html::escape(&k),
                html::escape(&v)
            ));
        }
        out.push_str("</table>");
        if !self.steps.is_empty() {
            out.push_str("<ol class=\"steps\">");
            for s in &self.steps {
                let outcome = s.error.clone().unwrap_or_else(|| "OK".into());
                out.push_str(&format!(
                    "<li>{} — {} → {} : {}</li>",
                    html::escape(&method_label(s.method, lang)),
                    html::escape(&s.started_at),
                    html::escape(&s.ended_at),
                    html::escape(&outcome)
                ));
            }
            out.push_str("</ol>");
        }
        for n in &self.notes {
            out.push_str(&format!("<p class=\"note\">{}</p>", html::escape(n)));
        }
        out.push_str(&format!(
            "<p class=\"result\">{}</p></section>",
            html::escape(&verdict)
        ));
        out
    }

    pub fn to_html(&self, lang: Lang) -> String {
        html::page(
            &tr(lang, Msg::CertTitle, &[]),
            lang,
            &self.html_fragment(lang),
        )
    }
}

pub fn method_label(method: Method, lang: Lang) -> String {
    tr(
        lang,
        match method {
            Method::NvmeSanitizeCrypto => Msg::MethodNvmeSanitizeCrypto,
            Method::NvmeSanitizeBlock => Msg::MethodNvmeSanitizeBlock,
            Method::NvmeFormatCrypto => Msg::MethodNvmeFormatCrypto,
            Method::NvmeFormatUserData => Msg::MethodNvmeFormatUserData,
            Method::AtaSecureEraseEnhanced => Msg::MethodAtaSecureEraseEnhanced,
            Method::AtaSecureErase => Msg::MethodAtaSecureErase,
            Method::DiscardAndOverwrite => Msg::MethodDiscardAndOverwrite,
        },
        &[],
    )
}

/// Temporary file in the same directory, fsync, rename, fsync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CertificateError> {
    let err = |source| CertificateError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let mut file = std::fs::File::create(&tmp).map_err(err)?;
    file.write_all(bytes).map_err(err)?;
    file.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(err)
}
