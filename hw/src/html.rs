//! Minimal HTML helpers for the printable pages (wipe certificate, refurbishment sheet):
//! escaping, one print-friendly page skeleton, human-readable sizes.
//! Invariant: every dynamic value goes through [`escape`] before reaching markup.

use crate::i18n::Lang;

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Decimal units, as disk vendors and the operators' stickers use them.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

const STYLE: &str = "body{font-family:sans-serif;max-width:48em;margin:1em auto;color:#111}\
h1{font-size:1.5em}h2{font-size:1.15em;border-bottom:1px solid #999}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.2em .5em;border-bottom:1px solid #ddd;vertical-align:top}\
th{width:30%}.ok .result,.fit{color:#060}.bad .result,.unfit{color:#a00}.notes{color:#850}\
.label{border:2px dashed #333;padding:1em;margin:1em 0;font-size:1.2em}.label code{font-size:1.4em}\
.blocker{color:#a00}.note{color:#850}\
@media print{body{margin:0}a{color:inherit;text-decoration:none}}";

pub fn page(title: &str, lang: Lang, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head>\n<body><h1>{}</h1>\n{body}\n</body></html>\n",
        lang.code(),
        escape(title),
        escape(title)
    )
}
