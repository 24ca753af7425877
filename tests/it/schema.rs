//! The committed JSON Schemas match what the binary generates, and the examples satisfy them.

use crate::common::{account, repo_root, Test};

/// What `flexform schema KIND` prints.
fn generated(kind: &str) -> String {
    let out = Test::in_repo().run_blocking(&["schema", kind]);
    out.assert_exit(0);
    out.stdout
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
        "examples/s3-state.yaml",
        "examples/plugins.yaml",
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
    let sid = account(1);
    for bad in [
        "version: 2\ninstances: {}\n".to_owned(),
        "version: 1\ninstances:\n  a:\n    account_sid: AC1\n".to_owned(),
        format!("version: 1\ninstances:\n  a:\n    account_sid: {sid}\n    typo: 1\n"),
        format!("version: 1\ninstances:\n  Bad:\n    account_sid: {sid}\n"),
        format!("version: 1\ninstances:\n  a:\n    account_sid: {sid}\n    plugins: {{}}\n"),
        "version: 1\nstate:\n  backend: s3\n  bucket: Bad_Bucket\n  key: k\ninstances: {}\n".to_owned(),
        format!("version: 1\ninstances:\n  a:\n    account_sid: {sid}\n    plugins:\n      p:\n        version: 1.2\n        url: https://x.example/p.js\n"),
        format!("version: 1\ninstances:\n  a:\n    account_sid: {sid}\n    plugins:\n      p:\n        version: \"1.2.0\"\n        url: http://x.example/p.js\n"),
        format!("version: 1\ninstances:\n  a:\n    account_sid: {sid}\n    plugins:\n      \"p q\":\n        version: \"1.2.0\"\n        url: https://x.example/p.js\n"),
    ] {
        let doc: serde_json::Value = serde_yaml::from_str(&bad).unwrap();
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
            let account = account(i);
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
    let t = Test::new();
    t.write("plan.json", &plan.to_string());
    let mut child = t.spawn(&["show", "plan.json"]);
    let mut first = String::new();
    BufReader::new(child.take_stdout())
        .read_line(&mut first)
        .unwrap();
    // The reader is dropped here, closing the pipe long before the ~1 MB of output is written.
    let out = child.output_blocking();
    assert!(first.starts_with("Saved plan "), "{first}");
    assert!(!out.stderr.contains("panicked"), "{out:?}");
    out.assert_exit(0);
}
