//! The image's provisioning script (`buildroot-overlay/usr/libexec/panier/provision`) checks
//! a USB stick's box name and setup code with its own `grep -E` patterns, before any Rust runs.
//! This runs those patterns, read from the script, through the same `grep` over names and codes
//! at the edges of the rules, and requires the same answer as `panier_hw::names`.

use panier_hw::names::{normalized_setup_code, valid_box_name};
use std::process::Command;

fn script() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../buildroot-overlay/usr/libexec/panier/provision"
    );
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The single-quoted pattern on the script's line that contains `marker`.
fn pattern_after(script: &str, marker: &str) -> String {
    let line = script
        .lines()
        .find(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("no line with {marker} in the provisioning script"));
    let rest = &line[line.find(marker).unwrap() + marker.len()..];
    let start = rest.find('\'').expect("a quoted pattern") + 1;
    let len = rest[start..].find('\'').expect("the pattern's end");
    rest[start..start + len].to_owned()
}

fn grep_matches(pattern: &str, value: &str) -> bool {
    Command::new("grep")
        .args(["-Eqx", "--", pattern])
        .stdin_string(value)
        .expect("grep runs")
}

trait StdinString {
    fn stdin_string(&mut self, value: &str) -> std::io::Result<bool>;
}

impl StdinString for Command {
    fn stdin_string(&mut self, value: &str) -> std::io::Result<bool> {
        use std::io::Write;
        let mut child = self.stdin(std::process::Stdio::piped()).spawn()?;
        writeln!(child.stdin.take().expect("piped"), "{value}")?;
        Ok(child.wait()?.success())
    }
}

#[test]
fn box_names_follow_the_same_rule_in_the_script() {
    let pattern = pattern_after(&script(), "valid_line \"$src/box_name\" ");
    let forty = "a".repeat(40);
    let forty_one = "a".repeat(41);
    let names = [
        "mediatheque",
        "a",
        "9",
        "biblio-2",
        "a-b-c",
        forty.as_str(),
        forty_one.as_str(),
        "",
        "-biblio",
        "biblio-",
        "Biblio",
        "bib lio",
        "bib.lio",
        "bibliothèque",
        "bib_lio",
    ];
    for name in names {
        assert_eq!(
            grep_matches(&pattern, name),
            valid_box_name(name),
            "the script's pattern {pattern} and valid_box_name disagree on {name:?}"
        );
    }
}

#[test]
fn setup_codes_follow_the_same_rule_in_the_script() {
    let script = script();
    let pattern = pattern_after(&script, "\"$code\" | grep -Eqx ");
    assert!(
        script.contains("tr -d '\\r -' | tr '[:lower:]' '[:upper:]'"),
        "the script no longer normalizes the code as normalized_setup_code does"
    );
    let codes = [
        "ABCDE-FGHJK",
        "abcde fghjk",
        "ABCDEFGH",
        "ABCDEFG",
        &"A".repeat(32),
        &"A".repeat(33),
        "ABCDEFGH0",
        "ABCDEFGH1",
        "ABCDEFGHI",
        "ABCDEFGHL",
        "ABCDEFGHO",
        "23456789",
        "ABCDÉFGHJ",
    ];
    for code in codes {
        // The script's normalization: drop CR, spaces and hyphens, then uppercase (ASCII).
        let normalized: String = code
            .chars()
            .filter(|c| !matches!(c, '\r' | ' ' | '-'))
            .collect::<String>()
            .to_ascii_uppercase();
        assert_eq!(
            grep_matches(&pattern, &normalized),
            normalized_setup_code(code).is_some(),
            "the script's pattern {pattern} and normalized_setup_code disagree on {code:?}"
        );
    }
}
