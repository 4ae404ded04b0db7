//! The message catalog: every user-facing string of the admin UI, in French and English.
//!
//! Catalogs are TOML files, one per domain and language (`agent/i18n/fr/core.toml`,
//! `agent/i18n/en/core.toml`, …), collected by `build.rs` and compiled into the binary. Keys are dotted (`dashboard.title`); values may hold `{name}` placeholders
//! filled by [`Messages::fmt`]. A test checks that both catalogs have exactly the same keys
//! and the same placeholders, so English is always complete. A missing key shows the key
//! itself rather than failing the page.

use crate::names::Language;
use std::collections::HashMap;
use std::sync::LazyLock;

pub struct Messages {
    pub language: Language,
    map: HashMap<String, String>,
}

fn parse(language: Language, files: &[&str]) -> Messages {
    let mut map = HashMap::new();
    for text in files {
        let table: toml::Table = toml::from_str(text)
            .unwrap_or_else(|e| panic!("a message catalog of {} is invalid: {e}", language.code()));
        flatten("", &table, &mut map);
    }
    Messages { language, map }
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut HashMap<String, String>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::String(s) => {
                assert!(
                    out.insert(key.clone(), s.clone()).is_none(),
                    "message {key} is defined in two catalog files"
                );
            }
            toml::Value::Table(t) => flatten(&key, t, out),
            other => panic!("message {key} is not text: {other}"),
        }
    }
}

static FR: LazyLock<Messages> = LazyLock::new(|| parse(Language::Fr, crate::generated::CATALOG_FR));
static EN: LazyLock<Messages> = LazyLock::new(|| parse(Language::En, crate::generated::CATALOG_EN));

pub fn messages(language: Language) -> &'static Messages {
    match language {
        Language::Fr => &FR,
        Language::En => &EN,
    }
}

impl Messages {
    /// The text for `key`, or the key itself if the catalog lacks it.
    pub fn get<'a>(&'a self, key: &'a str) -> &'a str {
        self.map.get(key).map(String::as_str).unwrap_or(key)
    }

    /// The text for `key` with `{name}` placeholders replaced.
    pub fn fmt(&self, key: &str, args: &[(&str, &str)]) -> String {
        let mut text = self.get(key).to_owned();
        for (name, value) in args {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
    }

    /// The text for an error key (`error.<key>`), falling back to `fallback` (the English
    /// message of the error) when the catalog has no entry.
    pub fn error<'a>(&'a self, key: &str, fallback: &'a str) -> &'a str {
        self.map
            .get(&format!("error.{key}"))
            .map(String::as_str)
            .unwrap_or(fallback)
    }

    pub fn code(&self) -> &'static str {
        self.language.code()
    }

    #[cfg(test)]
    fn keys(&self) -> std::collections::BTreeSet<&str> {
        self.map.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholders(text: &str) -> Vec<&str> {
        let mut out: Vec<&str> = text
            .split('{')
            .skip(1)
            .filter_map(|p| p.split_once('}').map(|(name, _)| name))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn french_and_english_have_the_same_keys_and_placeholders() {
        let (fr, en) = (messages(Language::Fr), messages(Language::En));
        let only_fr: Vec<_> = fr.keys().difference(&en.keys()).copied().collect();
        let only_en: Vec<_> = en.keys().difference(&fr.keys()).copied().collect();
        assert!(
            only_fr.is_empty() && only_en.is_empty(),
            "only in fr: {only_fr:?}; only in en: {only_en:?}"
        );
        for key in fr.keys() {
            assert_eq!(
                placeholders(fr.get(key)),
                placeholders(en.get(key)),
                "placeholders differ for {key}"
            );
        }
    }

    #[test]
    fn templates_use_only_known_keys() {
        let fr = messages(Language::Fr);
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            for part in text.split("t.get(\"").skip(1) {
                let key = part.split('"').next().unwrap();
                assert!(
                    fr.map.contains_key(key),
                    "{} uses unknown key {key}",
                    entry.path().display()
                );
            }
        }
    }
}
