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
    for step in 1..=12 {
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
        // Step 9: a plugin declared in flexform.yaml, the plan's plugins release.
        "+     plugins:                   # the active release holds exactly these\n+       plugin-hello:\n+         version: \"1.0.0\"\n",
        "      ~ plugins release (the account's first release)\n          + plugin-hello 1.0.0 (new plugin, new version)\n",
        "Plan: 0 to create, 0 to adopt, 1 to release, 0 unchanged. Drift: 0.",
        // Step 11: a release from Twilio's CLI (the simulator's control) is drift.
        "someone releases plugin-hello 0.9.0 with Twilio's CLI",
        "drift flex_instance.support (release_changed): its Flex plugins were released outside flexform",
        // Step 12: apply releases the declared version again.
        "          ~ plugin-hello 0.9.0 -> 1.0.0 (existing version)\n",
        "Demo complete",
    ] {
        assert!(text.contains(line), "`{line}` missing:\n{text}");
    }
    assert_eq!(
        text.matches("\n(exit 2)\n").count(),
        2,
        "the drift steps (7 and 11) must show exit 2:\n{text}"
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
    // The plugin released, as declared, by the last apply (the heal of step 12).
    let plugins = &instance["plugins"];
    assert_eq!(
        plugins["plugins"]["plugin-hello"]["version"], "1.0.0",
        "{state:#}"
    );
    assert!(plugins["release_sid"].as_str().unwrap().starts_with("FK"));
    // Five applies, each one change of the file (its updates journaled, then folded in).
    assert_eq!(state["serial"].as_u64(), Some(5), "{state:#}");
    assert!(!work.join("flexform.state.json.journal").exists());

    let history = std::fs::read_to_string(work.join("flexform.state.json.history.jsonl")).unwrap();
    let entries: Vec<serde_json::Value> = history
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        entries.len(),
        5,
        "five applies, five history lines:\n{history}"
    );
    for entry in &entries {
        assert_eq!(entry["command"], "apply");
        assert_eq!(entry["changes"][0]["address"], "flex_instance.support");
    }
    let outcomes: Vec<&str> = entries
        .iter()
        .map(|e| e["changes"][0]["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes[..3], ["ok", "ok", "ok"], "{history}");
    assert!(
        outcomes[3].starts_with("ok; plugins released: plugin-hello 1.0.0 added (FK")
            && outcomes[4].starts_with("ok; plugins released: plugin-hello 0.9.0 -> 1.0.0 (FK"),
        "{history}"
    );
    let first_sid = entries[0]["changes"][0]["flex_instance_sid"]
        .as_str()
        .unwrap();
    // The create, the configuration update (one path, same instance), the heal, the plugins
    // release and its heal.
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["changes"][0]["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["create", "update", "create", "update", "update"],
        "{history}"
    );
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
    assert_eq!(entries[4]["changes"][0]["flex_instance_sid"], second_sid);
    assert!(work.join("flexform.state.json.backup").exists());

    // The copied configuration's `$schema` comment resolves in the demo folder; the step 5
    // edit changed that one line, the step 9 one added a `plugins:` section after the
    // account, comments kept.
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
            .replace(
                "    account_sid: AC0123456789abcdef0123456789abcdef\n",
                "    account_sid: AC0123456789abcdef0123456789abcdef\n    plugins:                   # the active release holds exactly these\n      plugin-hello:\n        version: \"1.0.0\"\n        url: https://assets.example.test/plugin-hello/1.0.0/bundle.js\n"
            )
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
        Some(5),
        "a fresh state: {state:#}"
    );
    let history = std::fs::read_to_string(work.join("flexform.state.json.history.jsonl")).unwrap();
    assert_eq!(history.lines().count(), 5, "a fresh trail:\n{history}");
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
    // The plugin step declares its plugin on the same instance (the file is JSON by then).
    assert!(
        text.contains("  instances.sales.plugins.plugin-hello: version 1.0.0 (the file rewritten")
            && text.contains("drift flex_instance.sales (release_changed)"),
        "{text}"
    );
    assert_eq!(
        state["instances"]["sales"]["plugins"]["plugins"]["plugin-hello"]["version"], "1.0.0",
        "{state:#}"
    );
}

/// A configuration that declares plugins from the start: the first apply releases them, and
/// the plugin step adds its own on the instance it changes (one without plugins) only.
#[test]
fn demo_runs_with_a_configuration_declaring_plugins() {
    let t = Test::new();
    let work = t.path("demo");
    let args = ["--ready-after", "200ms", "-c", "examples/plugins.yaml"];
    let out = demo(&Test::in_repo(), &args, &work);
    out.assert_exit(0);
    assert!(
        out.stdout
            .contains("          + plugin-crm-panel 2.4.1 (created if missing)\n"),
        "{}",
        out.stdout
    );
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join("flexform.state.json")).unwrap()).unwrap();
    let versions = |name: &str| {
        let plugins = state["instances"][name]["plugins"]["plugins"].as_object();
        let mut held: Vec<String> = plugins
            .into_iter()
            .flatten()
            .map(|(n, p)| format!("{n} {}", p["version"].as_str().unwrap()))
            .collect();
        held.sort();
        held
    };
    assert_eq!(
        versions("support-emea"),
        ["plugin-crm-panel 2.4.1", "plugin-wallboard 1.0.0"],
        "{state:#}"
    );
    assert_eq!(versions("sales-us"), ["plugin-hello 1.0.0"], "{state:#}");
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
