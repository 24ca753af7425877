//! The boundaries ARCHITECTURE.md states, checked on the source: which stage may use which
//! (`use crate::…` and paths), and that only the command line knows clap, anyhow, the process
//! environment and the terminal. A test, so that a change that crosses a boundary fails
//! `cargo test` and has to change ARCHITECTURE.md with the rule.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The stages, bottom up, and what each may use besides itself (`failpoint` is the crash-point
/// macro, usable everywhere). A stage never uses one above it.
const MAY_USE: &[(&str, &[&str])] = &[
    ("support", &[]),
    ("domain", &[]),
    ("config", &["domain", "support"]),
    ("client", &["config", "domain", "support"]),
    ("state", &["config", "domain", "support"]),
    (
        "observe",
        &["client", "config", "domain", "state", "support"],
    ),
    (
        "plan",
        &["config", "domain", "observe", "state", "support", "render"],
    ),
    (
        "apply",
        &["client", "config", "domain", "plan", "state", "support"],
    ),
    (
        "ops",
        &[
            "apply", "client", "config", "domain", "observe", "plan", "state", "support",
        ],
    ),
    (
        "render",
        &[
            "apply", "ops", "plan", "state", "domain", "config", "support",
        ],
    ),
    ("sim", &["config", "domain", "support"]),
];

/// What only `src/cli` (and `main.rs`) may name: the argument parser, the binary's error type,
/// the process's variables, and printing.
const CLI_ONLY: &[&str] = &[
    "clap::",
    "anyhow",
    "std::env::var",
    "env::var(",
    "env::var_os(",
    "env::vars",
    "std::env::set_var",
    "std::process::exit",
    "println!",
    "eprintln!",
    "print!(",
    "eprint!(",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, with its text up to its unit tests (`#[cfg(test)]`): tests
/// may use what the code may not (a temporary directory, `PATH` to find ssh-keygen).
fn sources(dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("src is readable").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("a source file is UTF-8");
            let code = match text.find("#[cfg(test)]") {
                Some(at) => text[..at].to_owned(),
                None => text,
            };
            out.insert(path, code);
        }
    }
}

/// The code of `text` without its comments (`//` to the end of the line), so that a doc link
/// to another stage is not a use of it.
fn code_only(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The stages `code` names as `crate::STAGE`.
fn stages_used(code: &str) -> Vec<String> {
    let mut used = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !used.contains(&name) {
            used.push(name);
        }
    }
    used
}

#[test]
fn each_stage_uses_only_the_stages_below_it() {
    let root = src();
    let mut files = BTreeMap::new();
    sources(&root, &mut files);
    let mut broken = Vec::new();
    for (path, text) in &files {
        let relative = path.strip_prefix(&root).expect("under src");
        let stage = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .unwrap_or_default()
            .trim_end_matches(".rs");
        let Some((_, allowed)) = MAY_USE.iter().find(|(name, _)| *name == stage) else {
            continue; // cli, lib.rs, main.rs: the top.
        };
        for used in stages_used(&code_only(text)) {
            if used != stage && used != "failpoint" && !allowed.contains(&used.as_str()) {
                broken.push(format!("{} uses crate::{used}", relative.display()));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "uses across a boundary (see ARCHITECTURE.md):\n{}",
        broken.join("\n")
    );
}

#[test]
fn only_the_command_line_knows_clap_anyhow_the_environment_and_printing() {
    let root = src();
    let mut files = BTreeMap::new();
    sources(&root, &mut files);
    let mut broken = Vec::new();
    for (path, text) in &files {
        let relative = path.strip_prefix(&root).expect("under src");
        if relative.starts_with("cli") || relative == Path::new("main.rs") {
            continue;
        }
        // This file names them to look for them.
        if relative == Path::new("architecture.rs") {
            continue;
        }
        let code = code_only(text);
        for word in CLI_ONLY {
            if code.contains(word) {
                broken.push(format!("{} names `{word}`", relative.display()));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "only src/cli may name these (see ARCHITECTURE.md):\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_checks_see_what_they_look_for() {
    // A check that finds nothing because it reads nothing would pass forever.
    let mut files = BTreeMap::new();
    sources(&src(), &mut files);
    assert!(files.len() > 50, "{} files", files.len());
    let cli = files
        .iter()
        .find(|(p, _)| p.ends_with("cli/args.rs"))
        .expect("cli/args.rs");
    assert!(cli.1.contains("clap::"));
    assert_eq!(
        stages_used(&code_only(
            "use crate::state::State; // crate::cli\nlet x = crate::plan::plan();"
        )),
        vec!["state".to_owned(), "plan".to_owned()]
    );
    assert_eq!(code_only("let a = 1; // crate::cli"), "let a = 1; ");
}
