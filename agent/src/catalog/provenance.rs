//! Where a manifest's facts come from (`[[provenance]]`): for each image the service runs, the
//! upstream repository it is built from, the tag read there, the files read, the date, and
//! what those files showed that the manifest relies on (the programs it runs inside the image,
//! the host names the image looks up by itself).
//!
//! Checked here: every image of the service has exactly one entry (by repository, so the
//! images an update steps through are covered by the same reading), the entry is complete and
//! dated, and every program the manifest runs inside a container (entrypoint, health check,
//! backup, setup and address commands, including the first word of each simple command of a
//! `sh -c` script) is one the reading found in that image. A host name an image expects must
//! be a container of the service, unless the environment variable that overrides it is set.
//!
//! Limits: the lists are what a person read, not what the image holds; `panier catalog smoke`
//! on a connected machine is the proof. The script reading is a heuristic for plain scripts
//! (commands after newlines, `;`, `&&`, `||`, `|`, `$(`, `then`, `do`, `else`); a program
//! reached through a variable is not checked.

use super::manifest::{Container, Manifest};
use super::validate::Problems;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// One image's reading.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// The image as the containers name it (`docker.io/library/postgres:16.15-alpine`).
    pub image: String,
    /// The repository the image is built from (`https://github.com/docker-library/postgres`).
    pub repository: String,
    /// The tag, branch or commit of that repository the files were read at.
    pub tag: String,
    /// The files read there (paths in that repository, or `image:` paths of the image itself).
    pub files: Vec<String>,
    /// When they were read, `YYYY-MM-DD`.
    pub read_on: String,
    /// The programs and scripts of the image this manifest runs: a bare name is on the
    /// image's PATH, a path is that file.
    #[serde(default)]
    pub binaries: Vec<String>,
    /// Host names the image looks up by itself.
    #[serde(default)]
    pub hostnames: Vec<ExpectedHost>,
    /// What a reader must know: the newest release the stored sources showed may be older
    /// than the date, a known limit of the image.
    pub notes: Option<String>,
}

/// A host name an image resolves on its own, and the environment variable that replaces it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedHost {
    pub name: String,
    pub unless: Option<String>,
}

/// The image reference without its tag and digest: `docker.io/library/postgres`.
pub fn repository_of(image: &str) -> &str {
    let name = image.split('@').next().unwrap_or(image);
    match name.rfind(':') {
        Some(i) if !name[i..].contains('/') => &name[..i],
        _ => name,
    }
}

fn without_digest(image: &str) -> &str {
    image.split('@').next().unwrap_or(image)
}

/// `YYYY-MM-DD`, a real day, not after today.
fn check_date(s: &str) -> Result<(), String> {
    let parts: Vec<&str> = s.split('-').collect();
    let ok = parts.len() == 3
        && parts[0].len() == 4
        && parts[1].len() == 2
        && parts[2].len() == 2
        && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()));
    if !ok {
        return Err(format!("'{s}' is not a date YYYY-MM-DD"));
    }
    let (y, m, d): (i64, u32, u32) = (
        parts[0].parse().unwrap_or(0),
        parts[1].parse().unwrap_or(0),
        parts[2].parse().unwrap_or(0),
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(format!("'{s}' is not a date"));
    }
    let today = crate::store::now().div_euclid(86_400);
    if days_from_civil(y, m, d) > today {
        return Err(format!("'{s}' is in the future"));
    }
    Ok(())
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Shell words that are not programs of the image.
const SHELL_WORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "case", "esac", "for", "while", "until", "do", "done",
    "in", "!", "{", "}", "[", "[[", "test", "echo", "printf", "set", "export", "cd", "exit",
    "return", "read", "true", "false", ":", ".", "source", "local", "shift", "trap", "wait",
    "umask", "unset", "eval", "break", "continue", "function", "esc", "exec", "command",
];

/// The programs a command runs: its first word, and for `sh -c`/`bash -c` the first word of
/// each simple command of the script.
pub fn programs(argv: &[String]) -> Vec<String> {
    let Some(first) = argv.first() else {
        return Vec::new();
    };
    let base = first.rsplit('/').next().unwrap_or(first);
    let mut out = vec![first.clone()];
    // tini runs the command after `--`.
    if base == "tini" && argv.get(1).is_some_and(|a| a == "--") {
        out.extend(programs(&argv[2..]));
        return out;
    }
    if matches!(base, "sh" | "bash" | "ash")
        && let Some(i) = argv.iter().position(|a| a == "-c")
        && let Some(script) = argv.get(i + 1)
    {
        out.extend(script_programs(script));
    }
    out
}

/// The simple commands of a script, as lists of words (quotes kept, so a quoted word is
/// recognisable): line continuations joined, here-document bodies left out, and `\n`, `;`,
/// `&`, `|`, `(`, `)` and backquotes outside quotes ending a command.
fn simple_commands(script: &str) -> Vec<Vec<String>> {
    let joined = script.replace("\\\n", " ");
    let mut text = String::new();
    let mut heredoc: Option<String> = None;
    for line in joined.lines() {
        if let Some(end) = &heredoc {
            if line.trim() == end {
                heredoc = None;
            }
            continue;
        }
        if let Some(i) = line.find("<<") {
            let word: String = line[i + 2..]
                .trim_start_matches('-')
                .trim()
                .chars()
                .take_while(|c| !c.is_whitespace())
                .filter(|c| *c != '\'' && *c != '"')
                .collect();
            if !word.is_empty() {
                heredoc = Some(word);
            }
        }
        text.push_str(line);
        text.push('\n');
    }
    let mut commands = vec![Vec::new()];
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let end_word = |word: &mut String, commands: &mut Vec<Vec<String>>| {
        if !word.is_empty() {
            commands.last_mut().expect("one").push(std::mem::take(word));
        }
    };
    let mut previous = ' ';
    for c in text.chars() {
        // `>&2` is a redirection, not a background `&`.
        let redirection = c == '&' && matches!(previous, '>' | '<');
        previous = c;
        match (quote, c) {
            (None, '&') if redirection => word.push(c),
            (Some(q), c) if c == q => {
                quote = None;
                word.push(c);
            }
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.push(c);
            }
            (None, '\n' | ';' | '&' | '|' | '(' | ')' | '`') => {
                end_word(&mut word, &mut commands);
                commands.push(Vec::new());
            }
            (None, c) if c.is_whitespace() => end_word(&mut word, &mut commands),
            (None, c) => word.push(c),
        }
    }
    end_word(&mut word, &mut commands);
    commands.retain(|c| !c.is_empty());
    commands
}

fn script_programs(script: &str) -> Vec<String> {
    let commands = simple_commands(script);
    // Functions the script defines are its own words (`name() {`, or `name` then `(` `)`).
    let defined: HashSet<String> = commands
        .iter()
        .filter_map(|c| c.first())
        .filter_map(|w| w.strip_suffix("()").or(Some(w.as_str())))
        .filter(|w| script.contains(&format!("{w}()")) || script.contains(&format!("{w} ()")))
        .map(str::to_owned)
        .collect();
    let mut out = Vec::new();
    for words in commands {
        let mut words = words.iter().map(String::as_str).peekable();
        while let Some(w) = words.peek() {
            let is_assignment = w.contains('=') && !w.starts_with('=') && !w.starts_with('-');
            let prefix = matches!(
                *w,
                "then" | "do" | "else" | "elif" | "if" | "while" | "until" | "!" | "exec" | "{"
            );
            if is_assignment || prefix {
                words.next();
                continue;
            }
            break;
        }
        let Some(w) = words.next() else { continue };
        let not_a_program = w.starts_with(['#', '$', '"', '\'', '-'])
            || w.contains(['<', '>', '*', '?'])
            || w.bytes().all(|b| b.is_ascii_digit())
            || w.contains("()")
            || SHELL_WORDS.contains(&w)
            || defined.contains(w);
        if !not_a_program {
            out.push(w.to_owned());
        }
    }
    out
}

/// Every check of this module, adding to `p`.
pub(super) fn check(m: &Manifest, p: &mut Problems<'_>) {
    if m.provenance.is_empty() {
        p.add(
            "provenance",
            "every service records where its facts come from: one [[provenance]] per image",
        );
    }
    let mut repos = HashSet::new();
    for (i, e) in m.provenance.iter().enumerate() {
        let f = |x: &str| format!("provenance[{i}].{x}");
        if !repos.insert(repository_of(&e.image)) {
            p.add(
                f("image"),
                format!("the image '{}' has two provenance entries", e.image),
            );
        }
        if !m
            .containers
            .iter()
            .any(|c| without_digest(&c.image) == without_digest(&e.image))
        {
            p.add(
                f("image"),
                format!("no container runs the image '{}'", e.image),
            );
        }
        if !e.repository.starts_with("https://") {
            p.add(f("repository"), "must be an https:// address");
        }
        if e.tag.trim().is_empty() {
            p.add(
                f("tag"),
                "is empty: name the tag or commit the files were read at",
            );
        }
        if e.files.is_empty() || e.files.iter().any(|x| x.trim().is_empty()) {
            p.add(f("files"), "list the files read (Dockerfile, entrypoint…)");
        }
        if let Err(problem) = check_date(&e.read_on) {
            p.add(f("read_on"), problem);
        }
        for h in &e.hostnames {
            let named = m.containers.iter().any(|c| c.name == h.name);
            let replaced = h.unless.as_ref().is_some_and(|var| {
                m.containers
                    .iter()
                    .filter(|c| repository_of(&c.image) == repository_of(&e.image))
                    .all(|c| c.environment.contains_key(var))
            });
            if !named && !replaced {
                p.add(
                    f("hostnames"),
                    format!(
                        "the image looks up the host '{}', which no container of this service is{}",
                        h.name,
                        h.unless
                            .as_ref()
                            .map(|v| format!(" (or set {v} in its environment)"))
                            .unwrap_or_default()
                    ),
                );
            }
        }
    }
    for (i, c) in m.containers.iter().enumerate() {
        let entry = m
            .provenance
            .iter()
            .find(|e| repository_of(&e.image) == repository_of(&c.image));
        let Some(entry) = entry else {
            if !m.provenance.is_empty() {
                p.add(
                    format!("containers[{i}].image"),
                    format!("the image '{}' has no [[provenance]] entry", c.image),
                );
            }
            continue;
        };
        if without_digest(&entry.image) != without_digest(&c.image) {
            p.add(
                format!("containers[{i}].image"),
                format!(
                    "'{}' differs from the image its provenance was read for, '{}'",
                    c.image, entry.image
                ),
            );
        }
        for (field, argv) in commands_in(m, c, i) {
            for prog in programs(&argv) {
                if !entry.binaries.iter().any(|b| b == &prog) {
                    p.add(
                        field.clone(),
                        format!(
                            "runs '{prog}', which the provenance of '{}' does not list among the image's programs (binaries)",
                            entry.image
                        ),
                    );
                }
            }
        }
    }
}

/// Host names in environment values that should name a container of the service: the host
/// of a URL (`http://web:8000`, `postgresql://u:p@db/x`) and the values of `*_HOST`,
/// `*_HOSTNAME` and `*_HOSTS` variables, when they are bare names (no dot, no placeholder).
pub fn hosts_in(key: &str, value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(i) = rest.find("://") {
        let after = &rest[i + 3..];
        let authority = after.split(['/', '?', '#']).next().unwrap_or("");
        let host = authority.rsplit('@').next().unwrap_or("");
        out.push(host.split(':').next().unwrap_or("").to_owned());
        rest = after;
    }
    if key.ends_with("_HOST") || key.ends_with("_HOSTNAME") || key.ends_with("_HOSTS") {
        out.extend(
            value
                .split([',', ' '])
                .map(|h| h.split(':').next().unwrap_or("").to_owned()),
        );
    }
    out.retain(|h| {
        !h.is_empty()
            && !h.contains('.')
            && !h.contains('{')
            && !h.contains('$')
            && h != "localhost"
            && !h.bytes().all(|b| b.is_ascii_digit())
    });
    out
}

/// Every bare host name in an environment names a container of the service.
pub(super) fn check_hosts(m: &Manifest, p: &mut Problems<'_>) {
    let mut envs: Vec<(String, &std::collections::BTreeMap<String, String>)> = m
        .containers
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("containers[{i}].environment"), &c.environment))
        .collect();
    envs.extend(
        super::steps::all_steps(m)
            .into_iter()
            .map(|(f, s)| (format!("{f}.environment"), &s.environment)),
    );
    for (field, env) in envs {
        for (key, value) in env {
            for host in hosts_in(key, value) {
                if !m.containers.iter().any(|c| c.name == host) {
                    p.add(
                        format!("{field}.{key}"),
                        format!("names the host '{host}', which is no container of this service"),
                    );
                }
            }
        }
    }
}

/// Every command the manifest runs inside container `c` (index `i`), with its field.
fn commands_in(m: &Manifest, c: &Container, i: usize) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    if let Some(e) = &c.entrypoint {
        out.push((format!("containers[{i}].entrypoint"), e.clone()));
    }
    if let Some(h) = &c.health {
        out.push((format!("containers[{i}].health.command"), h.command.clone()));
    }
    if let Some(b) = &m.backup {
        for (list, cmds) in [("pre", &b.pre), ("post", &b.post), ("restore", &b.restore)] {
            for (j, cmd) in cmds.iter().enumerate() {
                if cmd.container == c.name {
                    out.push((format!("backup.{list}[{j}].command"), cmd.command.clone()));
                }
            }
        }
    }
    for (field, step) in super::steps::all_steps(m) {
        if step.container == c.name {
            out.push((format!("{field}.command"), step.command.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn programs_of_commands_and_scripts() {
        assert_eq!(programs(&argv(&["/healthcheck.sh"])), ["/healthcheck.sh"]);
        assert_eq!(
            programs(&argv(&[
                "sh",
                "-c",
                "set -e\nX=1 pg_dump -U \"$U\" > /d.tmp && mv /d.tmp /d; if [ -s f ]; then exec radicale --x; fi"
            ])),
            ["sh", "pg_dump", "mv", "radicale"]
        );
        assert_eq!(
            programs(&argv(&["bash", "-c", "esc() { printf x; }\nv=$(esc a)"])),
            ["bash"]
        );
        // Quotes, continuations, here-documents and redirections are not programs.
        assert_eq!(
            programs(&argv(&[
                "sh",
                "-c",
                "t=$(printf '%s' \"$T\" | sed 's/&/\\&amp;/g; s/</x/g')\ncat > f <<'PY'\nimport os\nPY\nexec radicale --a \\\n  --b\nexec 3<>/dev/tcp/x/1"
            ])),
            ["sh", "sed", "cat", "radicale"]
        );
    }

    #[test]
    fn hosts_named_in_environments() {
        assert_eq!(
            hosts_in("HYPERKITTY_URL", "http://web:8000/hyperkitty"),
            ["web"]
        );
        assert_eq!(
            hosts_in("DATABASE_URL", "postgresql://u:{{secret.p}}@db/mailman"),
            ["db"]
        );
        assert_eq!(
            hosts_in("DJANGO_ALLOWED_HOSTS", "{{app.domain}},web"),
            ["web"]
        );
        assert_eq!(hosts_in("DB_HOST", "db"), ["db"]);
        assert!(hosts_in("SMTP_HOST", "{{setting.smtp_host}}").is_empty());
        assert!(hosts_in("X", "https://example.org/a").is_empty());
        assert!(hosts_in("TITLE", "db").is_empty());
    }

    #[test]
    fn repositories_and_dates() {
        assert_eq!(
            repository_of("docker.io/library/nginx:1.30.4-alpine"),
            "docker.io/library/nginx"
        );
        assert_eq!(repository_of("localhost:5000/x"), "localhost:5000/x");
        assert_eq!(
            repository_of(&format!("ghcr.io/a/b:1@sha256:{}", "0".repeat(64))),
            "ghcr.io/a/b"
        );
        assert!(check_date("2026-08-21").is_ok());
        assert!(check_date("2026-13-01").is_err());
        assert!(check_date("26-08-21").is_err());
        assert!(check_date("2999-01-01").unwrap_err().contains("future"));
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }
}
