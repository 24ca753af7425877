//! The committed JSON Schemas match what the binary generates, and the examples satisfy them.

use crate::common::{self, repo_root, run_in, stdout};

fn generated(kind: &str) -> String {
    let out = run_in(repo_root(), &["schema", kind]);
    assert_eq!(out.status.code(), Some(0));
    stdout(&out)
}

#[test]
fn committed_config_schema_is_current() {
    let committed =
        std::fs::read_to_string(repo_root().join("schemas/flexform.schema.json")).unwrap();
    assert_eq!(
        committed,
        generated("config"),
        "schemas/flexform.schema.json is stale: run `cargo run -- schema config > schemas/flexform.schema.json`"
    );
}

#[test]
fn committed_history_schema_is_current() {
    let committed =
        std::fs::read_to_string(repo_root().join("schemas/flexform.history.schema.json")).unwrap();
    assert_eq!(
        committed,
        generated("history"),
        "schemas/flexform.history.schema.json is stale: run `cargo run -- schema history > schemas/flexform.history.schema.json`"
    );
}

fn config_validator() -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(&generated("config")).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

#[test]
fn examples_validate_against_the_schema() {
    let validator = config_validator();
    for file in [
        "examples/quickstart.yaml",
        "examples/multi-account.yaml",
        "examples/shared-state.yaml",
    ] {
        let text = std::fs::read_to_string(repo_root().join(file)).unwrap();
        let doc: serde_json::Value = serde_yaml::from_str(&text).unwrap();
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{file}: {errors:?}");
    }
}

#[test]
fn schema_rejects_what_validate_rejects() {
    let validator = config_validator();
    for bad in [
        "version: 2\ninstances: {}\n",
        "version: 1\ninstances:\n  a:\n    account_sid: AC1\n",
        "version: 1\ninstances:\n  a:\n    account_sid: AC0123456789abcdef0123456789abcdef\n    typo: 1\n",
        "version: 1\ninstances:\n  Bad:\n    account_sid: AC0123456789abcdef0123456789abcdef\n",
    ] {
        let doc: serde_json::Value = serde_yaml::from_str(bad).unwrap();
        assert!(!validator.is_valid(&doc), "schema accepted:\n{bad}");
    }
}

#[test]
fn a_closed_stdout_is_not_a_panic() {
    // `flexform show plan.json | head -1` on a plan larger than a pipe's buffer: the reader
    // goes away early; flexform must end quietly, not panic.
    use std::io::{BufRead, BufReader};
    let changes: Vec<serde_json::Value> = (0..3000)
        .map(|i| {
            let account = format!("AC{i:032x}");
            serde_json::json!({
                "address": format!("flex_instance.i{i}"), "name": format!("i{i}"),
                "account_sid": account, "action": "create", "reason": "no instance on the account",
                "before": null,
                "after": {"account_sid": account, "conversations_default": null,
                          "flex_instance_sid": null, "status": null}
            })
        })
        .collect();
    let plan = serde_json::json!({
        "format_version": 2, "flexform_version": "0.1.0", "state_lineage": null,
        "state_serial": 0, "config_canonical_sha256": "0", "created_at": "2026-11-24T00:00:00Z",
        "resource_changes": changes, "diagnostics": [],
        "summary": {"create": 3000, "adopt": 0, "unchanged": 0, "drift": 0}
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plan.json");
    std::fs::write(&file, plan.to_string()).unwrap();
    let mut child = common::flexform()
        .arg("show")
        .arg(&file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is dropped here, closing the pipe long before the ~1 MB of output is written.
    let out = child.wait_with_output().unwrap();
    assert!(first.starts_with("Saved plan "), "{first}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
}
