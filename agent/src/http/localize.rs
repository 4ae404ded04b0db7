//! Error answers in the request's language. [`ApiError`](super::ApiError) cannot see the
//! request, so its JSON body says the error in English; this layer, on the API's routes, puts
//! the catalog's text for the error's key (`error.<key>`, French and English) in `message`,
//! in the language of the request: the logged-in admin's own, else the language switch's
//! cookie, else `Accept-Language` (the CLI sends its `LANG`), else the box's default. In
//! French the English message, which names the specific value or file, stays in `detail`.
//!
//! Invariant: the key and the status never change; an answer whose key has no catalog text,
//! or that is not a JSON error, passes untouched.

use super::cookie::cookie;
use super::language::{LANG_COOKIE, accepted_language};
use crate::admins::Admins;
use crate::auth;
use crate::i18n::messages;
use crate::names::Language;
use crate::status::Status;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;

/// The largest error body rewritten (error bodies are a few hundred bytes).
const MAX_BODY: usize = 64 * 1024;

/// The language an API request is answered in (see the module doc).
pub fn request_language(headers: &HeaderMap, admins: &Admins, box_default: Language) -> Language {
    let own = cookie(headers, auth::SESSION_COOKIE)
        .and_then(|token| admins.session(token).ok().flatten())
        .and_then(|s| s.language)
        .and_then(|l| Language::parse(&l).ok());
    let switch = || cookie(headers, LANG_COOKIE).and_then(|l| Language::parse(l).ok());
    let asked = || accepted_language(headers);
    own.or_else(switch).or_else(asked).unwrap_or(box_default)
}

/// The layer: see the module doc.
pub async fn localize(
    State(admins): State<Admins>,
    State(status): State<Status>,
    req: Request,
    next: Next,
) -> Response {
    let headers = req.headers().clone();
    let response = next.run(req).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(response.status().is_client_error() || response.status().is_server_error()) || !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = http_body_util::Limited::new(body, MAX_BODY).collect().await else {
        return Response::from_parts(parts, Body::empty());
    };
    let bytes = bytes.to_bytes();
    let Some(rewritten) = rewrite(
        &bytes,
        request_language(&headers, &admins, status.box_language()),
    ) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    parts.headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(rewritten.len() as u64),
    );
    Response::from_parts(parts, Body::from(rewritten))
}

/// The body with `message` in `language`, or `None` when there is nothing to change.
fn rewrite(body: &[u8], language: Language) -> Option<Vec<u8>> {
    let mut value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let key = value.get("error")?.as_str()?.to_owned();
    let said = value.get("message")?.as_str()?.to_owned();
    let text = messages(language).error(&key, "");
    if text.is_empty() || language == Language::En {
        // English: the error's own message is English and names the value concerned.
        return None;
    }
    let object = value.as_object_mut()?;
    object.insert("message".into(), text.into());
    if said != text {
        object.insert("detail".into(), said.into());
    }
    serde_json::to_vec(&value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn french_gets_the_catalog_text_and_keeps_the_english_detail() {
        let out = rewrite(
            &body(json!({"error": "unauthorized", "message": "log in first"})),
            Language::Fr,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["error"], "unauthorized");
        assert_eq!(v["message"], "Connectez-vous d'abord.");
        assert_eq!(v["detail"], "log in first");
    }

    /// The keys an API error can carry: those `ApiError::status_and_key` names, and those of
    /// the domain errors whose `key()` it passes on. Read from the sources, so that a new key
    /// without its texts fails here.
    fn api_error_keys() -> std::collections::BTreeSet<String> {
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src/");
        let read = |f: &str| std::fs::read_to_string(format!("{src}{f}")).unwrap();
        let quoted = |text: &str, after: &str| -> Vec<String> {
            text.split(after)
                .skip(1)
                .filter_map(|rest| {
                    let rest = rest.trim_start();
                    let rest = rest.strip_prefix('"')?;
                    Some(rest[..rest.find('"')?].to_owned())
                })
                .filter(|k| k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
                .collect()
        };
        let mut keys = std::collections::BTreeSet::new();
        // `(StatusCode::CONFLICT, "setup_done")`, the arms of `status_and_key`.
        for arm in read("http/error.rs").split("StatusCode::").skip(1) {
            keys.extend(quoted(arm, ",").into_iter().take(1));
        }
        for file in ["backup/mod.rs", "update/error.rs", "pack/mod.rs"] {
            let text = read(file);
            let body = text
                .split("pub fn key(&self) -> &'static str {")
                .nth(1)
                .unwrap_or_else(|| panic!("{file} has no key()"));
            let body = &body[..body.find("\n    }").unwrap_or(body.len())];
            keys.extend(quoted(body, "=>"));
        }
        keys
    }

    #[test]
    fn every_api_error_key_has_a_french_and_an_english_text() {
        let keys = api_error_keys();
        assert!(keys.len() > 50, "the source scan found only {keys:?}");
        for language in [Language::Fr, Language::En] {
            let missing: Vec<_> = keys
                .iter()
                .filter(|k| messages(language).error(k, "").is_empty())
                .collect();
            assert!(
                missing.is_empty(),
                "no error.<key> text in {}: {missing:?}",
                language.code()
            );
        }
    }

    #[test]
    fn english_and_unknown_keys_pass_untouched() {
        let said = body(json!({"error": "unauthorized", "message": "log in first"}));
        assert!(rewrite(&said, Language::En).is_none());
        let unknown = body(json!({"error": "no_such_key_anywhere", "message": "x"}));
        assert!(rewrite(&unknown, Language::Fr).is_none());
        assert!(rewrite(b"not json", Language::Fr).is_none());
    }
}
