//! The language a request is answered in: the logged-in admin's own, else the language
//! switch's cookie, else the visitor's `Accept-Language`, else the box's default (French).

use super::cookie::cookie;
use crate::admins::Actor;
use crate::names::Language;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

/// The cookie the language switch (`/admin/lang`) sets; the portal reads it too.
pub const LANG_COOKIE: &str = "panier_lang";

/// The language for an anonymous page: the switch's cookie, else the box default.
pub fn anonymous_language(parts: &Parts, box_default: Language) -> Language {
    cookie(&parts.headers, LANG_COOKIE)
        .and_then(|l| Language::parse(l).ok())
        .unwrap_or(box_default)
}

/// The language for a logged-in admin: their own, else the box default.
pub fn admin_language(actor: &Actor, box_default: Language) -> Language {
    actor
        .session()
        .and_then(|s| s.language.as_deref())
        .and_then(|l| Language::parse(l).ok())
        .unwrap_or(box_default)
}

/// The visitor's language from `Accept-Language` (the first of fr/en named), else French.
pub fn accept_language(headers: &HeaderMap) -> Language {
    accepted_language(headers).unwrap_or_default()
}

/// The first of fr/en that `Accept-Language` names, if it names one.
pub fn accepted_language(headers: &HeaderMap) -> Option<Language> {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .map(|p| {
                    p.split(';')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_ascii_lowercase()
                })
                .find_map(|tag| {
                    let primary = tag.split('-').next().unwrap_or("");
                    Language::parse(primary).ok()
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_first_known() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT_LANGUAGE, v.parse().unwrap());
            m
        };
        assert_eq!(
            accept_language(&h("de-DE,en-US;q=0.8,fr;q=0.5")),
            Language::En
        );
        assert_eq!(accept_language(&h("fr-FR")), Language::Fr);
        assert_eq!(accept_language(&HeaderMap::new()), Language::Fr);
    }
}
