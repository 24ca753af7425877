//! The output contract: stdout holds only the document asked for, every error is on stderr,
//! and a reader that closes a stream never changes what flexform does.

use std::time::Duration;

use crate::common::{account, ConfigBuilder, Outcome, Test, KEY};
use flexform::sim::SimConfig;

/// A loopback port nothing listens on.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// Asserts that stdout is a human plan with no diagnostic prefixes of the output layer, and
/// that stderr holds an `error:` line naming `address` and `why`.
#[track_caller]
fn assert_plan_on_stdout_error_on_stderr(outcome: &Outcome, address: &str, why: &str) {
    outcome.assert_exit(1);
    assert!(
        !outcome.stdout.lines().any(|l| l.starts_with("error:")),
        "an error line reached stdout: {outcome:?}"
    );
    outcome.assert_stdout_contains(&format!("# {address} could not be observed: "));
    outcome.assert_stdout_contains("Plan failed: 1 error");
    let line = outcome
        .stderr
        .lines()
        .find(|l| l.starts_with(&format!("error: {address}: ")))
        .unwrap_or_else(|| panic!("no error line for {address} on stderr: {outcome:?}"));
    assert!(line.contains(why), "{line:?} does not say {why:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_endpoint_is_an_error_on_stderr_and_stdout_holds_only_the_plan() {
    let t = Test::new()
        .endpoint(&closed_port_url())
        .config(&ConfigBuilder::new().instance("a", &account(1)));
    let human = t.run_read_only(&["plan", "--max-attempts", "1"]).await;
    assert_plan_on_stdout_error_on_stderr(&human, "flex_instance.a", "connect");

    let json = t
        .run_read_only(&["plan", "--json", "--max-attempts", "1"])
        .await;
    json.assert_exit(1);
    let document = json.json();
    assert_eq!(document["diagnostics"][0]["kind"], "observe_failed");
    json.assert_stderr_contains("error: flex_instance.a: could not observe");

    let drift = t
        .run_read_only(&["drift", "--json", "--max-attempts", "1"])
        .await;
    // Nothing is recorded, so drift observes nothing and the document is all of stdout.
    drift.assert_exit(0);
    drift.json();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_401_is_an_error_on_stderr_with_its_twilio_code_and_stdout_holds_only_the_plan() {
    let t = Test::with_sim(SimConfig {
        credentials: Some((KEY.to_owned(), "the-right-secret".to_owned())),
        ..SimConfig::default()
    })
    .await
    .config(&ConfigBuilder::new().instance("a", &account(1)));
    let human = t.run_read_only(&["plan"]).await;
    assert_plan_on_stdout_error_on_stderr(&human, "flex_instance.a", "401");
    assert!(
        !human.stderr.contains("test-secret-value") && !human.stdout.contains("test-secret-value"),
        "the secret leaked: {human:?}"
    );

    let json = t.run_read_only(&["plan", "--json"]).await;
    json.assert_exit(1);
    let document = json.json();
    let message = document["diagnostics"][0]["message"].as_str().unwrap();
    assert!(message.contains("401"), "{message}");
    json.assert_stderr_contains("error: flex_instance.a: could not observe");
    assert_eq!(t.sim().stats().creates, 0);
}

/// `flexform apply 2>&1 | head -1`: the reader goes away after the first line, and every
/// later line (progress, summary) meets a closed pipe.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn apply_whose_output_reader_goes_away_completes_and_records_every_sid() {
    let t = Test::with_sim_ready_after(Duration::from_millis(300))
        .await
        .config(
            &ConfigBuilder::new()
                .instance("a", &account(1))
                .instance("b", &account(2))
                .instance("c", &account(3)),
        );
    let script = r#"set -o pipefail; "$0" "$@" 2>&1 | head -1; exit "${PIPESTATUS[0]}""#;
    let cmd = t.command(&[]);
    let program = cmd.get_program().to_owned();
    let mut shell = std::process::Command::new("bash");
    shell
        .arg("-c")
        .arg(script)
        .arg(program)
        .args(["apply", "--auto-approve", "--endpoint", &t.url()])
        .current_dir(t.dir())
        .envs(
            cmd.get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .env_remove("NO_COLOR")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (key, value) in cmd.get_envs() {
        if value.is_none() {
            shell.env_remove(key);
        }
    }
    let outcome = Outcome::from(
        tokio::task::spawn_blocking(move || shell.output().unwrap())
            .await
            .unwrap(),
    );
    outcome.assert_exit(0);
    assert_eq!(
        outcome.stdout.lines().count(),
        1,
        "head passed one line: {outcome:?}"
    );
    assert!(!outcome.stderr.contains("panicked"), "{outcome:?}");
    let state = t.state();
    for (name, n) in [("a", 1), ("b", 2), ("c", 3)] {
        let record = &state.instances[name];
        assert_eq!(record.flex_instance_sid.as_str(), t.sim_sid(&account(n)));
        assert_eq!(record.status.as_str(), "ready");
    }
    assert!(state.pending.is_empty());
    assert!(
        !t.path("flexform.state.json.journal").exists(),
        "the journal was folded into the state"
    );
    assert_eq!(t.history().len(), 1, "the run is in the audit trail");
}

/// The same with only stderr closed by its reader (stdout still read to the end).
#[tokio::test(flavor = "multi_thread")]
async fn apply_with_stderr_closed_early_completes_with_the_same_exit_code() {
    use std::io::BufRead;
    let t = Test::with_sim_ready_after(Duration::from_millis(300))
        .await
        .config(
            &ConfigBuilder::new()
                .instance("a", &account(1))
                .instance("b", &account(2)),
        );
    let mut child = t.spawn(&["apply", "--auto-approve"]);
    let stderr = child.take_stderr();
    let first = tokio::task::spawn_blocking(move || {
        let mut first = String::new();
        std::io::BufReader::new(stderr)
            .read_line(&mut first)
            .unwrap();
        first
        // The reader is dropped here: every later line meets a closed stderr.
    })
    .await
    .unwrap();
    assert!(first.starts_with("Applying: 2 to create"), "{first:?}");
    let outcome = child.output().await;
    outcome.assert_exit(0);
    outcome.assert_stdout_contains(
        "Apply complete! Resources: 2 created (ready), 0 adopted, 0 failed.",
    );
    let state = t.state();
    assert_eq!(state.instances.len(), 2, "{state:?}");
    assert!(state
        .instances
        .values()
        .all(|r| r.status.as_str() == "ready"));
    assert!(!t.path("flexform.state.json.journal").exists());
}

/// Errors about the files users hand flexform read as one sentence, name the right file with
/// a 1-based line and column, and suggest what fits that file.
#[test]
fn file_errors_read_as_one_sentence_pointing_at_the_right_file() {
    // No project and no credentials.
    let t = Test::new()
        .env_remove("TWILIO_API_KEY")
        .env_remove("TWILIO_API_SECRET");
    let run = |args: &[&str]| {
        let out = t.run_blocking(args);
        (out.code, out.stderr)
    };
    // A missing plan file: said once, with how to make one.
    let (code, err) = run(&["show", "nonexist"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err.trim_end(),
        "error: plan file nonexist does not exist; save a plan with `flexform plan --out nonexist`"
    );
    // A corrupt input to `state push`: the input is named, not a backup of it to restore.
    t.write("bad.json", "{\"format_version\": 1, \"oops\n");
    let (code, err) = run(&["state", "push", "bad.json"]);
    assert_eq!(code, Some(1));
    assert!(
        err.starts_with("error: bad.json:2:1 ")
            && err.contains("is not a valid flexform state")
            && err.contains("nothing was pushed")
            && !err.contains(".backup"),
        "{err}"
    );
    // A corrupt state: 1-based column, the position said once.
    t.write(
        "flexform.state.json",
        "{\n  \"format_version\": 1,\n  \"lineage\": 5\n}\n",
    );
    let (code, err) = run(&["state", "list"]);
    assert_eq!(code, Some(1));
    assert!(
        err.starts_with("error: state file flexform.state.json:3:14 is corrupt: invalid type: integer `5`, expected a string; it was not changed"),
        "{err}"
    );
    assert!(!err.contains("at line"), "{err}");
    t.write("flexform.state.json", "{\n");
    let (_, err) = run(&["state", "list"]);
    assert!(!err.contains(":0 "), "columns count from 1: {err}");
}

/// `drift --json` with a recorded instance that cannot be observed (nothing listens at the
/// endpoint, or the credentials are refused): one JSON document on stdout, the error on
/// stderr, exit 1.
#[tokio::test(flavor = "multi_thread")]
async fn drift_json_of_an_unobservable_recorded_instance_is_one_document_and_exit_1() {
    let sim = Test::with_sim_ready_after(Duration::ZERO)
        .await
        .config(&ConfigBuilder::new().instance("a", &account(1)));
    sim.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    let recorded = sim.state_bytes();
    // The same project, pointed at an endpoint where nothing listens.
    let t = Test::new()
        .endpoint(&closed_port_url())
        .config(&ConfigBuilder::new().instance("a", &account(1)));
    std::fs::write(t.state_path(), &recorded).unwrap();
    let drift = t
        .run_read_only(&["drift", "--json", "--max-attempts", "1"])
        .await;
    drift.assert_exit(1);
    let document = drift.json();
    assert_eq!(document["diagnostics"][0]["kind"], "observe_failed");
    drift.assert_stderr_contains("error: flex_instance.a: could not observe");
    // And with credentials the API refuses.
    let t = Test::with_sim(SimConfig {
        credentials: Some((KEY.to_owned(), "the-right-secret".to_owned())),
        ..SimConfig::default()
    })
    .await
    .config(&ConfigBuilder::new().instance("a", &account(1)));
    std::fs::write(t.state_path(), &recorded).unwrap();
    let drift = t.run_read_only(&["drift", "--json"]).await;
    drift.assert_exit(1);
    let message = drift.json()["diagnostics"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("401"), "{message}");
}

/// `--quiet` hides notes, warnings and progress, never errors; `--color always` paints every
/// message prefix, a configuration error's too.
#[tokio::test(flavor = "multi_thread")]
async fn quiet_keeps_only_errors_and_color_paints_every_prefix() {
    let t = Test::with_sim_ready_after(Duration::ZERO)
        .await
        .config(&ConfigBuilder::new().instance("a", &account(1)));
    t.run(&["plan", "--out", "p.json"]).await.assert_exit(0);
    let loud = t.run(&["apply", "p.json"]).await;
    loud.assert_exit(0);
    assert!(!loud.stderr.is_empty(), "{loud:?}");
    t.write_config(
        &ConfigBuilder::new()
            .instance("a", &account(1))
            .instance("b", &account(2)),
    );
    t.run(&["plan", "--out", "q.json"]).await.assert_exit(0);
    let quiet = t.run(&["apply", "-q", "q.json"]).await;
    quiet.assert_exit(0);
    assert_eq!(quiet.stderr, "", "{quiet:?}");
    assert!(!quiet.stdout.is_empty(), "the document is still printed");

    let missing = t.run(&["validate", "-q", "--config", "missing.yaml"]).await;
    missing.assert_exit(1);
    missing.assert_stderr_contains("error: cannot read configuration file");
    missing.assert_stderr_contains("  help: create the file");
    let painted = t
        .run(&["validate", "--color", "always", "--config", "missing.yaml"])
        .await;
    painted.assert_exit(1);
    painted.assert_stderr_contains("\x1b[1;31merror\x1b[0m: cannot read configuration file");
}
