//! axe-core, the accessibility engine, for the browser test: its source (fetched from npm by
//! `tools/fetch-axe.sh`, pinned by version and SHA-512), the script that runs it in a page, and
//! its findings said plainly. The browser test injects the source with WebDriver's
//! `execute`, runs [`RUN`] with `execute_async`, and fails on [`blocking`] findings.

use serde_json::Value;
use std::process::Command;

/// axe.min.js, fetched once into the machine's cache.
pub fn source() -> String {
    let script = crate::workspace_root().join("tools/fetch-axe.sh");
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .expect("tools/fetch-axe.sh runs");
    assert!(
        out.status.success(),
        "fetching axe-core failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = String::from_utf8(out.stdout).unwrap();
    std::fs::read_to_string(path.trim()).expect("axe.min.js is readable")
}

/// Runs axe over the whole document (WCAG 2.x A and AA rules and axe's best practices) and
/// hands back its violations as JSON text, or `error: …`.
pub const RUN: &str = r#"
const done = arguments[arguments.length - 1];
axe.run(document, { resultTypes: ["violations"] })
  .then(r => done(JSON.stringify(r.violations)))
  .catch(e => done("error: " + e));
"#;

/// The violations of impact `serious` or `critical` in axe's answer, one plain paragraph
/// each: the page, the impact, the rule and its help page, then every element with what to fix.
pub fn blocking(page: &str, answer: &str) -> Vec<String> {
    let violations: Vec<Value> = serde_json::from_str(answer)
        .unwrap_or_else(|e| panic!("axe on {page} answered {answer:.200}: {e}"));
    violations
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .map(|v| {
            let mut text = format!(
                "{page}: [{}] {} — {} ({})",
                v["impact"].as_str().unwrap_or(""),
                v["id"].as_str().unwrap_or(""),
                v["help"].as_str().unwrap_or(""),
                v["helpUrl"].as_str().unwrap_or("")
            );
            for node in v["nodes"].as_array().into_iter().flatten() {
                let target = node["target"].to_string();
                let summary = node["failureSummary"]
                    .as_str()
                    .unwrap_or("")
                    .replace('\n', " ");
                text.push_str(&format!("\n    at {target}: {summary}"));
            }
            text
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_serious_and_critical_findings_block_and_they_say_where() {
        let answer = r##"[
          {"id":"color-contrast","impact":"serious","help":"Contrast","helpUrl":"https://x/cc",
           "nodes":[{"target":["button.link"],"failureSummary":"Fix any:\n ratio 1.07"}]},
          {"id":"region","impact":"moderate","help":"Landmarks","helpUrl":"","nodes":[]}
        ]"##;
        let found = blocking("/admin/access", answer);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0],
            "/admin/access: [serious] color-contrast — Contrast (https://x/cc)\n    at [\"button.link\"]: Fix any:  ratio 1.07"
        );
    }
}
