//! `flexform demo` walks the whole cycle offline and leaves a consistent state and history.

mod common;

use common::{stderr, stdout};

#[test]
fn demo_runs_every_step_and_leaves_state_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("demo");
    let out = common::flexform()
        .args(["demo", "--ready-after", "300ms", "--dir"])
        .arg(&work)
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{text}\nstderr:\n{}",
        stderr(&out)
    );
    for step in 1..=6 {
        assert!(
            text.contains(&format!("==> Step {step}:")),
            "step {step} missing:\n{text}"
        );
    }
    for line in [
        "$ flexform validate",
        "$ flexform plan",
        "$ flexform apply --auto-approve",
        "$ flexform plan --detailed-exitcode",
        "$ flexform drift",
        "Demo complete",
    ] {
        assert!(text.contains(line), "`{line}` missing:\n{text}");
    }
    assert!(
        text.contains("(exit 2)"),
        "the drift step must show exit 2:\n{text}"
    );

    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join("flexform.state.json")).unwrap()).unwrap();
    let instance = &state["instances"]["support"];
    assert_eq!(instance["status"], "ready", "{state:#}");
    assert!(instance["flex_instance_sid"]
        .as_str()
        .unwrap()
        .starts_with("GO"));
    // Two applies, each one change of the file (its updates journaled, then folded in).
    assert_eq!(state["serial"].as_u64(), Some(2), "{state:#}");
    assert!(!work.join("flexform.state.json.journal").exists());

    let history = std::fs::read_to_string(work.join("flexform.state.json.history.jsonl")).unwrap();
    let entries: Vec<serde_json::Value> = history
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        entries.len(),
        2,
        "two applies, two history lines:\n{history}"
    );
    for entry in &entries {
        assert_eq!(entry["command"], "apply");
        assert_eq!(entry["changes"][0]["address"], "flex_instance.support");
        assert_eq!(entry["changes"][0]["outcome"], "ok");
    }
    let first_sid = entries[0]["changes"][0]["flex_instance_sid"]
        .as_str()
        .unwrap();
    let second_sid = entries[1]["changes"][0]["flex_instance_sid"]
        .as_str()
        .unwrap();
    assert_ne!(first_sid, second_sid, "the healed instance is a new one");
    assert_eq!(instance["flex_instance_sid"], second_sid);
    assert!(work.join("flexform.state.json.backup").exists());
}

#[test]
fn demo_uses_the_given_configuration_even_with_named_profiles() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("demo");
    let out = common::flexform()
        .current_dir(common::repo_root())
        .args([
            "demo",
            "--ready-after",
            "200ms",
            "-c",
            "examples/multi-account.yaml",
            "--dir",
        ])
        .arg(&work)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join("flexform.state.json")).unwrap()).unwrap();
    let names: Vec<&String> = state["instances"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["sales", "support-amer", "support-emea"]);
}
