//! The committed JSON Schemas match what the binary generates, and the examples satisfy them.

mod common;

use common::{repo_root, run_in, stdout};

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

fn config_validator() -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(&generated("config")).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

#[test]
fn examples_validate_against_the_schema() {
    let validator = config_validator();
    for file in ["examples/quickstart.yaml", "examples/multi-account.yaml"] {
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
