//! `flexform demo` walks the whole cycle offline and leaves a consistent state and history.

use crate::common::{self, Outcome, Test};

/// `flexform demo ARGS --dir DIR` from `t`'s folder.
fn demo(t: &Test, args: &[&str], dir: &std::path::Path) -> Outcome {
    let mut all = vec!["demo"];
    all.extend_from_slice(args);
    all.extend(["--dir", dir.to_str().expect("a UTF-8 path")]);
    t.run_blocking(&all)
}

#[test]
fn demo_runs_every_step_and_leaves_state_and_history() {
    let t = Test::new();
    let work = t.path("demo");
    let out = demo(&t, &["--ready-after", "300ms"], &work);
    out.assert_exit(0);
    let text = &out.stdout;
    for step in 1..=8 {
        assert!(
            text.contains(&format!("==> Step {step}:")),
            "step {step} missing:\n{text}"
        );
    }
    for line in [
        "$ flexform validate",
        "$ flexform plan --out plan.json",
        "$ flexform apply plan.json",
        "$ flexform apply --auto-approve",
        "$ flexform plan --detailed-exitcode",
        "$ flexform drift",
        // Step 5: a configuration value edited in flexform.yaml, the field-level plan.
        "-         logLevel: info\n+         logLevel: debug\n",
        "$ flexform plan\n",
        "  # flex_instance.support will be updated in-place (its Flex configuration differs)",
        "      ~ ui_attributes.logLevel = \"info\" -> \"debug\"\n",
        "Plan: 0 to create, 0 to adopt, 1 to update, 0 unchanged. Drift: 0.",
        // Step 6: applied in place.
        "Apply complete! Resources: 0 created, 0 adopted, 1 updated, 0 failed.",
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
    // The managed configuration is recorded as the digests of the values applied: the edited
    // one, and the one the quickstart declares from the start.
    let digest = |v: serde_json::Value| flexform::config::flex::value_sha256(&v);
    assert_eq!(
        instance["configuration"],
        serde_json::json!({
            "ui_attributes.logLevel": digest(serde_json::json!("debug")),
            "ui_language": digest(serde_json::json!("en-US")),
        }),
        "{state:#}"
    );
    // Three applies, each one change of the file (its updates journaled, then folded in).
    assert_eq!(state["serial"].as_u64(), Some(3), "{state:#}");
    assert!(!work.join("flexform.state.json.journal").exists());

    let history = std::fs::read_to_string(work.join("flexform.state.json.history.jsonl")).unwrap();
    let entries: Vec<serde_json::Value> = history
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        entries.len(),
        3,
        "three applies, three history lines:\n{history}"
    );
    for entry in &entries {
        assert_eq!(entry["command"], "apply");
        assert_eq!(entry["changes"][0]["address"], "flex_instance.support");
        assert_eq!(entry["changes"][0]["outcome"], "ok");
    }
    let first_sid = entries[0]["changes"][0]["flex_instance_sid"]
        .as_str()
        .unwrap();
    // The create, the configuration update (one path, same instance), the heal.
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["changes"][0]["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["create", "update", "create"], "{history}");
    assert_eq!(
        entries[1]["changes"][0]["configuration"],
        serde_json::json!(["ui_attributes.logLevel"]),
        "{history}"
    );
    assert_eq!(entries[1]["changes"][0]["flex_instance_sid"], first_sid);
    let second_sid = entries[2]["changes"][0]["flex_instance_sid"]
        .as_str()
        .unwrap();
    assert_ne!(first_sid, second_sid, "the healed instance is a new one");
    assert_eq!(instance["flex_instance_sid"], second_sid);
    assert!(work.join("flexform.state.json.backup").exists());

    // The copied configuration's `$schema` comment resolves in the demo folder; the step 5
    // edit changed that one line, comments kept.
    let config = std::fs::read_to_string(work.join("flexform.yaml")).unwrap();
    assert!(
        config.starts_with("# yaml-language-server: $schema=flexform.schema.json\n"),
        "{config}"
    );
    let quickstart =
        std::fs::read_to_string(common::repo_root().join("examples/quickstart.yaml")).unwrap();
    assert_eq!(
        config,
        quickstart
            .replace("$schema=../schemas/", "$schema=")
            .replace("logLevel: info", "logLevel: debug")
    );
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join("flexform.schema.json")).unwrap()).unwrap();
    assert_eq!(schema["title"], "flexform configuration");

    // Run again in the same folder: refused, since the old state would meet a fresh
    // simulator; nothing in the folder changes.
    let before: Vec<_> = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            (path.clone(), std::fs::read(&path).unwrap())
        })
        .collect();
    let again = demo(&t, &["--ready-after", "300ms"], &work);
    again.assert_exit(1);
    assert!(
        again.stderr.contains("is not empty") && again.stderr.contains("--force"),
        "{}",
        again.stderr
    );
    for (path, bytes) in &before {
        assert_eq!(&std::fs::read(path).unwrap(), bytes, "{}", path.display());
    }
    // With --force it starts from an empty folder, and every step holds again.
    demo(&t, &["--ready-after", "300ms", "--force"], &work).assert_exit(0);
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join("flexform.state.json")).unwrap()).unwrap();
    assert_eq!(
        state["serial"].as_u64(),
        Some(3),
        "a fresh state: {state:#}"
    );
    let history = std::fs::read_to_string(work.join("flexform.state.json.history.jsonl")).unwrap();
    assert_eq!(history.lines().count(), 3, "a fresh trail:\n{history}");
}

/// `--force` clears only what a demo makes: a folder holding anything else is left alone.
#[test]
fn demo_force_does_not_clear_a_folder_of_other_files() {
    let t = Test::new();
    t.write("notes.txt", "mine");
    let out = demo(&t, &["--force"], t.dir());
    out.assert_exit(1).assert_stderr_contains("notes.txt");
    assert_eq!(
        std::fs::read_to_string(t.path("notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn demo_uses_the_given_configuration_even_with_named_profiles() {
    let t = Test::new();
    let work = t.path("demo");
    // `-c` relative to the repository, where the example is.
    let args = [
        "--ready-after",
        "200ms",
        "-c",
        "examples/multi-account.yaml",
    ];
    let out = demo(&Test::in_repo(), &args, &work);
    out.assert_exit(0);
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join("flexform.state.json")).unwrap()).unwrap();
    let names: Vec<&String> = state["instances"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["sales", "support-amer", "support-emea"]);
    // No instance there declares a `logLevel` line to edit: the configuration step gives the
    // first instance one, and the plan shows it as a field-level update.
    let text = &out.stdout;
    assert!(
        text.contains("  # flex_instance.sales will be updated in-place")
            && text.contains("      ~ ui_attributes.logLevel = \"info\" -> \"debug\"\n")
            && text.contains("0 to create, 0 to adopt, 1 to update, 2 unchanged"),
        "{text}"
    );
    assert_eq!(
        state["instances"]["sales"]["configuration"]["ui_attributes.logLevel"],
        flexform::config::flex::value_sha256(&serde_json::json!("debug")),
        "{state:#}"
    );
}

/// In a terminal the commands print in colour; the demo reads their output without it.
#[test]
fn demo_checks_each_step_with_colors_on() {
    let t = Test::new();
    let out = demo(
        &t,
        &["--color", "always", "--ready-after", "200ms"],
        &t.path("demo"),
    );
    out.assert_exit(0);
    let text = &out.stdout;
    assert!(text.contains("\u{1b}["), "colours were on:\n{text}");
    assert!(text.contains("Demo complete"), "{text}");
}
