//! The known-models database (`hw/models/*.toml`, compiled into the binary): DMI match →
//! model name, quirks and advice (BIOS settings, NIC firmware…), in French and English.
//!
//! Matching: a model matches when one of its `vendors` is contained in the DMI vendor and
//! one of its `products` is contained in the DMI product name, product version or board
//! name (all case-insensitive). When several models match, the longest product pattern
//! wins. Invariants (checked by [`ModelDb::validate`] and a test): unique ids, non-empty
//! patterns and texts in both languages, unique quirk codes per model, and no pattern of
//! one model matching another model's own patterns (no ambiguity).
//! Limits: the database only advises; it never turns a machine unfit by itself.

use serde::{Deserialize, Serialize};

use crate::i18n::Lang;
use crate::probe::Machine;
use crate::verdict::Severity;

/// The files under `hw/models/`, embedded at build time (a test checks none is forgotten).
pub const BUILTIN_FILES: &[(&str, &str)] = &[
    ("dell.toml", include_str!("../models/dell.toml")),
    ("hp.toml", include_str!("../models/hp.toml")),
    ("intel.toml", include_str!("../models/intel.toml")),
    ("lenovo.toml", include_str!("../models/lenovo.toml")),
];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Model {
    pub id: String,
    pub name: String,
    pub vendors: Vec<String>,
    pub products: Vec<String>,
    #[serde(default, rename = "quirk")]
    pub quirks: Vec<Quirk>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Quirk {
    pub code: String,
    pub severity: Severity,
    pub fr: String,
    pub en: String,
}

impl Quirk {
    pub fn text(&self, lang: Lang) -> &str {
        match lang {
            Lang::Fr => &self.fr,
            Lang::En => &self.en,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    model: Vec<Model>,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("models file {file}: {message}")]
    Parse { file: String, message: String },
}

#[derive(Debug, Clone, Default)]
pub struct ModelDb {
    pub models: Vec<Model>,
}

fn contains(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

impl ModelDb {
    pub fn parse(files: &[(&str, &str)]) -> Result<Self, ModelError> {
        let mut models = Vec::new();
        for (file, text) in files {
            let parsed: ModelFile = toml::from_str(text).map_err(|e| ModelError::Parse {
                file: file.to_string(),
                message: e.to_string(),
            })?;
            models.extend(parsed.model);
        }
        Ok(Self { models })
    }

    /// The database compiled into the binary.
    pub fn builtin() -> Self {
        Self::parse(BUILTIN_FILES).expect("hw/models/*.toml are validated by the models_db test")
    }

    /// Length of the longest product pattern of `model` matching these DMI strings.
    fn score(model: &Model, vendor: &str, fields: &[&str]) -> Option<usize> {
        if !model.vendors.iter().any(|v| contains(vendor, v)) {
            return None;
        }
        model
            .products
            .iter()
            .filter(|p| fields.iter().any(|f| contains(f, p)))
            .map(|p| p.len())
            .max()
    }

    fn find_in(&self, vendor: &str, fields: &[&str]) -> Option<&Model> {
        self.models
            .iter()
            .filter_map(|m| Self::score(m, vendor, fields).map(|s| (s, m)))
            .max_by_key(|(s, _)| *s)
            .map(|(_, m)| m)
    }

    pub fn find(&self, machine: &Machine) -> Option<&Model> {
        let vendor = machine.vendor.as_deref()?;
        let fields: Vec<&str> = [&machine.product, &machine.version, &machine.board]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        self.find_in(vendor, &fields)
    }

    /// Every problem found in the database; empty when it is sound.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut ids = std::collections::HashSet::new();
        for m in &self.models {
            if !ids.insert(&m.id) {
                problems.push(format!("{}: duplicate id", m.id));
            }
            if m.id.is_empty()
                || !m
                    .id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                problems.push(format!("{:?}: id must be lowercase-dashed", m.id));
            }
            if m.name.trim().is_empty() || m.vendors.is_empty() || m.products.is_empty() {
                problems.push(format!("{}: name, vendors and products are required", m.id));
            }
            if m.vendors
                .iter()
                .chain(&m.products)
                .any(|p| p.trim().len() < 2)
            {
                problems.push(format!("{}: a pattern is too short", m.id));
            }
            let mut codes = std::collections::HashSet::new();
            for q in &m.quirks {
                if !codes.insert(&q.code) {
                    problems.push(format!("{}: duplicate quirk {}", m.id, q.code));
                }
                if q.fr.trim().is_empty() || q.en.trim().is_empty() {
                    problems.push(format!(
                        "{}: quirk {} needs French and English text",
                        m.id, q.code
                    ));
                }
                if q.severity == Severity::Blocker {
                    problems.push(format!("{}: quirk {} cannot be a blocker", m.id, q.code));
                }
            }
            // Each of the model's own patterns must lead back to this model, and to it alone.
            for (vendor, product) in m
                .vendors
                .iter()
                .flat_map(|v| m.products.iter().map(move |p| (v, p)))
            {
                let scored: Vec<(usize, &Model)> = self
                    .models
                    .iter()
                    .filter_map(|o| Self::score(o, vendor, &[product]).map(|s| (s, o)))
                    .collect();
                let best = scored.iter().map(|(s, _)| *s).max().unwrap_or(0);
                for (_, other) in scored
                    .iter()
                    .filter(|(s, o)| *s == best && !std::ptr::eq(*o, m))
                {
                    problems.push(format!(
                        "{}: pattern {product:?} is taken by {}",
                        m.id, other.id
                    ));
                }
            }
        }
        problems
    }
}
