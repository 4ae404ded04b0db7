//! Collects the files that parallel work adds without editing a shared list:
//! - `migrations/NNNN_name.sql`, applied in file-name order;
//! - `i18n/<lang>/*.toml`, one message-catalog file per domain and language.
//!
//! The result is `$OUT_DIR/generated.rs`, included by `store` and `i18n`.

use std::fmt::Write;
use std::path::Path;

/// The files of `root/dir` ending in `.ext`, as paths relative to `root`, sorted.
fn files(root: &Path, dir: &str, ext: &str) -> Vec<String> {
    let dir = &root.join(dir);
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .map(|p| {
            p.strip_prefix(root)
                .expect("listed under the package")
                .display()
                .to_string()
        })
        .collect();
    out.sort();
    out
}

fn main() {
    // Read at run time: the compiled build script is shared by every clone using the shared
    // target directory, and `env!` would bake in the directory of the clone that compiled it.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest_dir);
    let mut code = String::new();
    let list = |name: &str, paths: Vec<String>, code: &mut String| {
        writeln!(code, "pub const {name}: &[&str] = &[").unwrap();
        // The package's directory as the crate is compiled, not as this script ran: the
        // script's output is shared by every clone using the shared target directory.
        for p in paths {
            writeln!(
                code,
                "    include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/\", {p:?})),"
            )
            .unwrap();
        }
        writeln!(code, "];").unwrap();
    };
    list("MIGRATIONS", files(root, "migrations", "sql"), &mut code);
    list("CATALOG_FR", files(root, "i18n/fr", "toml"), &mut code);
    list("CATALOG_EN", files(root, "i18n/en", "toml"), &mut code);
    // Relative paths: cargo resolves them against the package root of each build. Absolute
    // ones would tie a shared target directory to the clone that built it first, and another
    // clone would keep that clone's (older) list of files.
    for dir in ["migrations", "i18n/fr", "i18n/en"] {
        println!("cargo:rerun-if-changed={dir}");
    }
    std::fs::write(
        Path::new(&std::env::var("OUT_DIR").unwrap()).join("generated.rs"),
        code,
    )
    .unwrap();
}
