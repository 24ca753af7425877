//! `flexform validate` as a user runs it: valid examples pass, and every kind of mistake is
//! reported with the file, the exact line and column, and the offending source line.

use crate::common::{account, ConfigBuilder, Test};

/// Writes `text` as flexform.yaml in a fresh project, runs `validate`, and returns (code,
/// stdout, stderr).
fn validate(text: &str) -> (i32, String, String) {
    let t = Test::new();
    t.write("flexform.yaml", text);
    let out = t.run_blocking(&["validate"]);
    (out.code.unwrap(), out.stdout, out.stderr)
}

/// Asserts one error at `line:col` with `message` in it, followed by the snippet of that line.
fn assert_error_at(stderr: &str, line: usize, col: usize, message: &str, source_line: &str) {
    let header = format!("flexform.yaml:{line}:{col}: error: ");
    let found = stderr
        .lines()
        .position(|l| l.starts_with(&header) && l.contains(message));
    let Some(index) = found else {
        panic!("no error `{header}…{message}` in:\n{stderr}");
    };
    let snippet = format!("{line} | {source_line}");
    assert!(
        stderr
            .lines()
            .skip(index)
            .take(4)
            .any(|l| l.trim_start() == snippet.trim_start()),
        "no snippet `{snippet}` under the error in:\n{stderr}"
    );
}

#[test]
fn both_examples_are_valid() {
    for (file, summary) in [
        (
            "examples/quickstart.yaml",
            "1 instance, 0 credentials profiles: valid",
        ),
        (
            "examples/multi-account.yaml",
            "3 instances, 2 credentials profiles: valid",
        ),
        (
            "examples/configuration.yaml",
            "2 instances, 0 credentials profiles: valid",
        ),
        (
            "examples/s3-state.yaml",
            "1 instance, 0 credentials profiles: valid",
        ),
    ] {
        let out = Test::in_repo().run_blocking(&["validate", "--config", file]);
        out.assert_exit(0);
        assert_eq!(out.stdout.trim(), format!("{file}: {summary}"));
    }
}

#[test]
fn config_option_is_accepted_after_and_before_the_subcommand_and_from_env() {
    Test::in_repo()
        .run_blocking(&["-c", "examples/quickstart.yaml", "validate"])
        .assert_exit(0);
    Test::in_repo()
        .env("FLEXFORM_CONFIG", "examples/quickstart.yaml")
        .run_blocking(&["validate"])
        .assert_exit(0);
}

#[test]
fn a_postgres_backend_needs_its_url_variable_and_workspace() {
    let (code, _, err) =
        validate("version: 1\nstate:\n  backend: postgres\n  url_env: DB_URL\ninstances: {}\n");
    assert_eq!(code, 1);
    assert_error_at(
        &err,
        2,
        1,
        "missing field `workspace` for `backend: postgres`",
        "state:",
    );
    let (code, _, err) = validate("version: 1\nstate:\n  workspace: w\ninstances: {}\n");
    assert_eq!(code, 1);
    assert_error_at(
        &err,
        3,
        14,
        "`workspace` only applies to `backend: postgres`",
        "  workspace: w",
    );
    let (code, _, err) = validate("version: 1\nstate:\n  backend: sqlite\ninstances: {}\n");
    assert_eq!(code, 1);
    assert!(
        err.contains("flexform.yaml:3:12: error:") && err.contains("sqlite"),
        "{err}"
    );
}

#[test]
fn an_s3_backend_needs_its_bucket_and_key_and_each_field_is_checked_where_it_stands() {
    let (code, _, err) =
        validate("version: 1\nstate:\n  backend: s3\n  bucket: acme\ninstances: {}\n");
    assert_eq!(code, 1);
    assert_error_at(
        &err,
        2,
        1,
        "missing field `key` for `backend: s3`",
        "state:",
    );
    let (code, _, err) = validate(
        "version: 1\nstate:\n  backend: s3\n  bucket: Acme_Bucket\n  key: /a//b\n  endpoint: s3.example.test\n  lock_lease: forever\n  workspace: w\ninstances: {}\n",
    );
    assert_eq!(code, 1);
    assert_error_at(
        &err,
        4,
        11,
        "invalid bucket name \"Acme_Bucket\"",
        "  bucket: Acme_Bucket",
    );
    assert_error_at(&err, 5, 8, "invalid key \"/a//b\"", "  key: /a//b");
    assert_error_at(
        &err,
        6,
        13,
        "invalid endpoint \"s3.example.test\"",
        "  endpoint: s3.example.test",
    );
    assert_error_at(
        &err,
        7,
        15,
        "invalid lock_lease \"forever\"",
        "  lock_lease: forever",
    );
    assert_error_at(
        &err,
        8,
        14,
        "`workspace` only applies to `backend: postgres`",
        "  workspace: w",
    );
    let (code, _, err) = validate(
        "version: 1\nstate:\n  backend: postgres\n  url_env: DB\n  workspace: w\n  bucket: acme\ninstances: {}\n",
    );
    assert_eq!(code, 1);
    assert_error_at(
        &err,
        6,
        11,
        "`bucket` only applies to `backend: s3`",
        "  bucket: acme",
    );
    let (code, out, err) = validate(
        "version: 1\nstate:\n  backend: s3\n  bucket: acme-flexform\n  key: emea/flexform.state.json\n  region: eu-west-1\n  endpoint: https://s3.example.test\n  lock_lease: 45s\ninstances: {}\n",
    );
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn quoted_values_are_strings_not_booleans_or_numbers() {
    let sid: &str = &account(1);
    let text = format!(
        "version: 1\ninstances:\n  a:\n    account_sid: {sid}\n    conversations:\n      default: \"true\"\n"
    );
    let (code, _, err) = validate(&text);
    assert_eq!(code, 1);
    assert_error_at(
        &err,
        6,
        16,
        "expected a boolean, found the quoted string \"true\"",
        "      default: \"true\"",
    );
    let (code, _, err) = validate("version: \"1\"\ninstances: {}\n");
    assert_eq!(code, 1);
    assert_error_at(&err, 1, 10, "expected an integer", "version: \"1\"");
}

#[test]
fn a_second_document_is_an_error_not_ignored() {
    let sid: &str = &account(1);
    let text = format!(
        "version: 1\ninstances: {{}}\n---\nversion: 1\ninstances:\n  a:\n    account_sid: {sid}\n"
    );
    let (code, _, err) = validate(&text);
    assert_eq!(code, 1);
    assert_error_at(&err, 3, 1, "a second YAML document", "---");
}

#[test]
fn a_byte_order_mark_is_not_part_of_the_first_key() {
    let (code, out, err) = validate("\u{feff}version: 1\ninstances: {}\n");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("valid"));
}

#[test]
fn accounts_differing_only_in_case_are_the_same_account() {
    // Hex letters, so that the case can differ.
    let sid: &str = &account(0xabcdef);
    let upper = sid.to_uppercase();
    assert_ne!(upper, sid);
    let text = format!(
        "version: 1\ninstances:\n  a:\n    account_sid: {sid}\n  b:\n    account_sid: {upper}\n"
    );
    let (code, _, err) = validate(&text);
    assert_eq!(code, 1);
    assert_error_at(
        &err,
        6,
        18,
        "duplicate account",
        &format!("    account_sid: {upper}"),
    );
}

#[test]
fn empty_instances_map_is_valid() {
    let (code, out, err) = validate("version: 1\ninstances: {}\n");
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim(),
        "flexform.yaml: 0 instances, 0 credentials profiles: valid"
    );
}

#[test]
fn unknown_key_is_reported_at_the_key() {
    let sid: &str = &account(1);
    let text = format!(
        "version: 1\ninstances:\n  support:\n    account_sid: {sid}\n    conversatons:\n      default: true\n"
    );
    let (code, _, err) = validate(&text);
    assert_eq!(code, 1);
    assert_error_at(
        &err,
        5,
        5,
        "unknown field `conversatons`",
        "    conversatons:",
    );
    assert!(err.contains("did you mean `conversations`?"), "{err}");
}

#[test]
fn unknown_top_level_key_is_reported() {
    let (code, _, err) = validate("version: 1\ninstance:\n  a: {}\n");
    assert_eq!(code, 1);
    assert_error_at(&err, 2, 1, "unknown field `instance`", "instance:");
    assert!(err.contains("did you mean `instances`?"), "{err}");
}

#[test]
fn wrong_type_is_reported_at_the_value() {
    let sid: &str = &account(1);
    let text = format!(
        "# comment\nversion: 1\ninstances:\n  support:\n    account_sid: {sid}\n    conversations:\n      default: maybe\n"
    );
    let (code, _, err) = validate(&text);
    assert_eq!(code, 1);
    assert_error_at(
        &err,
        7,
        16,
        "invalid type: expected a boolean, found \"maybe\"",
        "      default: maybe",
    );
}

#[test]
fn bad_sid_is_reported_at_the_value() {
    let (code, _, err) = validate("version: 1\ninstances:\n  support:\n    account_sid: AC123\n");
    assert_eq!(code, 1);
    assert_error_at(&err, 4, 18, "invalid account SID", "    account_sid: AC123");
}

#[test]
fn missing_account_sid_is_reported_at_the_instance() {
    let (code, _, err) = validate("version: 1\ninstances:\n  support:\n    credentials: x\n");
    assert_eq!(code, 1);
    assert_error_at(&err, 3, 3, "missing field `account_sid`", "  support:");
}

#[test]
fn duplicate_instance_name_is_reported_at_the_second() {
    let (sid, other): (&str, &str) = (&account(1), &account(2));
    let text = format!(
        "version: 1\ninstances:\n  support:\n    account_sid: {sid}\n  support:\n    account_sid: {other}\n"
    );
    let (code, _, err) = validate(&text);
    assert_eq!(code, 1);
    assert_error_at(
        &err,
        5,
        3,
        "duplicate key `support` (first defined on line 3)",
        "  support:",
    );
}

#[test]
fn duplicate_account_is_reported_at_the_second_value() {
    let sid: &str = &account(1);
    let text = format!(
        "version: 1\ninstances:\n  a:\n    account_sid: {sid}\n  b:\n    account_sid: {sid}\n"
    );
    let (code, _, err) = validate(&text);
    assert_eq!(code, 1);
    assert_error_at(
        &err,
        6,
        18,
        "duplicate account: instances `a` (line 4) and `b`",
        &format!("    account_sid: {sid}"),
    );
}

#[test]
fn unknown_profile_is_reported_at_the_reference() {
    let sid: &str = &account(1);
    let text = format!(
        "version: 1\ncredentials:\n  emea:\n    key_env: K\n    secret_env: S\ninstances:\n  a:\n    account_sid: {sid}\n    credentials: emae\n"
    );
    let (code, _, err) = validate(&text);
    assert_eq!(code, 1);
    assert_error_at(
        &err,
        9,
        18,
        "unknown credentials profile `emae`",
        "    credentials: emae",
    );
    assert!(err.contains("did you mean `emea`?"), "{err}");
}

#[test]
fn yaml_syntax_error_is_reported_with_its_line() {
    let sid: &str = &account(1);
    let text = format!("version: 1\ninstances:\n  a:\n    account_sid: \"{sid}\n");
    let (code, _, err) = validate(&text);
    assert_eq!(code, 1);
    assert_error_at(
        &err,
        4,
        18,
        "YAML syntax error",
        &format!("    account_sid: \"{sid}"),
    );
}

#[test]
fn unsupported_version_is_reported() {
    let (code, _, err) = validate("version: 2\ninstances: {}\n");
    assert_eq!(code, 1);
    assert_error_at(&err, 1, 10, "unsupported version 2", "version: 2");
}

#[test]
fn all_errors_in_a_file_are_reported_not_only_the_first() {
    let sid: &str = &account(1);
    let text = format!(
        "version: 1\ninstances:\n  a:\n    account_sid: AC1\n  b:\n    account_sid: {sid}\n    conversations: {{default: maybe}}\n  Bad:\n    account_sid: {sid}\n"
    );
    let (code, _, err) = validate(&text);
    assert_eq!(code, 1);
    assert_error_at(&err, 4, 18, "invalid account SID", "    account_sid: AC1");
    assert_error_at(
        &err,
        7,
        30,
        "expected a boolean, found \"maybe\"",
        "    conversations: {default: maybe}",
    );
    assert_error_at(&err, 8, 3, "invalid instance name \"Bad\"", "  Bad:");
    // `b` has a type error, yet still counts in the checks across instances.
    assert_error_at(
        &err,
        9,
        18,
        "duplicate account: instances `b` (line 6) and `Bad` both name",
        &format!("    account_sid: {sid}"),
    );
    assert!(
        err.contains("flexform.yaml: 4 errors; nothing was changed"),
        "{err}"
    );
}

/// Semantic errors (undeclared profiles, duplicate accounts) come with the type errors in one
/// run, wherever the document parsed; a broken profile is reported once, not also as
/// undeclared where an instance names it.
#[test]
fn semantic_errors_are_reported_together_with_type_errors() {
    let sid: &str = &account(1);
    let text = format!(
        "version: 1\ncredentials:\n  broken:\n    key_env: 5\ninstances:\n  a:\n    account_sid: {sid}\n    credentials: nope\n    conversations:\n      default: maybe\n  b:\n    account_sid: {sid}\n    credentials: broken\n"
    );
    let (code, _, err) = validate(&text);
    assert_eq!(code, 1);
    assert_error_at(
        &err,
        8,
        18,
        "unknown credentials profile `nope` in instance `a`",
        "    credentials: nope",
    );
    assert_error_at(
        &err,
        10,
        16,
        "expected a boolean, found \"maybe\"",
        "      default: maybe",
    );
    assert_error_at(
        &err,
        12,
        18,
        "duplicate account: instances `a` (line 7) and `b` both name",
        &format!("    account_sid: {sid}"),
    );
    assert!(
        !err.contains("unknown credentials profile `broken`"),
        "{err}"
    );
    assert!(
        err.contains("flexform.yaml: 4 errors; nothing was changed"),
        "{err}"
    );
}

#[test]
fn missing_file_is_a_clear_error() {
    let out = Test::new().run_blocking(&["validate"]);
    out.assert_exit(1);
    let err = &out.stderr;
    assert!(
        err.contains("cannot read configuration file flexform.yaml"),
        "{err}"
    );
    assert!(err.contains("--config"), "{err}");
}

#[test]
fn validate_touches_no_state() {
    let t = Test::new().config(&ConfigBuilder::new().instance("a", &account(1)));
    t.run_blocking(&["validate"]).assert_exit(0);
    assert_eq!(t.files().len(), 1, "validate wrote files");
}

#[test]
fn help_describes_every_option() {
    let out = Test::new().run_blocking(&["--help"]);
    let help = &out.stdout;
    for flag in ["--color", "--verbose", "--quiet"] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}

/// Each subcommand's `--help` lists the workspace options it uses and none it ignores.
#[test]
fn each_subcommand_help_shows_only_the_options_it_uses() {
    let uses: &[(&[&str], &[&str])] = &[
        (&["validate"], &["--config"]),
        (&["plan"], &["--config", "--state", "--endpoint"]),
        (&["apply"], &["--config", "--state", "--endpoint"]),
        (&["drift"], &["--config", "--state", "--endpoint"]),
        (&["import"], &["--config", "--state", "--endpoint"]),
        (&["report"], &["--config", "--state", "--endpoint"]),
        (&["show"], &["--config", "--state"]),
        (&["history"], &["--config", "--state"]),
        (&["history", "verify"], &["--config", "--state"]),
        (&["force-unlock"], &["--config", "--state"]),
        (&["state", "list"], &["--config", "--state"]),
        (&["state", "push"], &["--config", "--state"]),
        (&["state", "mv"], &["--config", "--state"]),
        (&["demo"], &["--config"]),
        (&["sim"], &[]),
        (&["schema"], &[]),
    ];
    for (command, flags) in uses {
        let mut args = command.to_vec();
        args.push("--help");
        let out = Test::new().run_blocking(&args);
        out.assert_exit(0);
        let help = &out.stdout;
        for flag in ["--config", "--state", "--endpoint"] {
            assert_eq!(
                help.contains(&format!("{flag} <")),
                flags.contains(&flag),
                "`flexform {} --help` and {flag}:\n{help}",
                command.join(" ")
            );
        }
        for flag in ["--color", "--verbose", "--quiet"] {
            assert!(help.contains(flag), "{command:?} lacks {flag}");
        }
    }
    // Written before the subcommand, as older flexform documented: accepted where used,
    // refused where it would be ignored.
    let t = Test::new();
    t.write(
        "x.yaml",
        &ConfigBuilder::new().instance("a", &account(1)).yaml(),
    );
    t.run_blocking(&["--config", "x.yaml", "validate"])
        .assert_exit(0);
    t.run_blocking(&["--endpoint", "http://127.0.0.1:9", "schema"])
        .assert_exit(1)
        .assert_stderr_contains("does not use --endpoint");
}

/// A YAML syntax error points at the offending character, not at the indentation before it
/// or the start of the scalar it interrupted.
#[test]
fn yaml_syntax_errors_point_at_the_offending_character() {
    let sid: &str = &account(1);
    // A tab used for indentation: the caret goes under the tab.
    let (code, _, err) = validate(&format!(
        "version: 1\ninstances:\n  a:\n    account_sid: {sid}\n\tb: 1\n"
    ));
    assert_eq!(code, 1);
    assert!(
        err.starts_with("flexform.yaml:5:1: error: YAML syntax error:") && err.contains("tab"),
        "{err}"
    );
    // An unclosed flow mapping: the caret goes where the `}` is missing.
    let (code, _, err) = validate("version: 1\ninstances:\n  a: {account_sid: x\n");
    assert_eq!(code, 1);
    assert!(
        err.starts_with("flexform.yaml:3:21: error: YAML syntax error:"),
        "{err}"
    );
}

#[test]
fn flex_configuration_names_and_types_come_from_twilios_schema() {
    let sid: &str = &account(1);
    let text = format!(
        "version: 1\ninstances:\n  a:\n    account_sid: {sid}\n    configuration:\n      ui_langauge: en\n      status: ok\n      flex_service_instance_sid: IS123\n      call_recording_enabled: \"yes\"\n      ui_version: 2.0\n      ui_attributes: dark\n      crm_type: null\n      ui_language: en-GB\n      crm_attributes:\n        nested:\n          gone: null\n"
    );
    let (code, _, err) = validate(&text);
    assert_eq!(code, 1, "{err}");
    assert_error_at(
        &err,
        6,
        7,
        "unknown Flex configuration property `ui_langauge`",
        "      ui_langauge: en",
    );
    assert!(err.contains("did you mean `ui_language`?"), "{err}");
    assert_error_at(&err, 7, 7, "`status` is read-only", "      status: ok");
    assert_error_at(
        &err,
        8,
        7,
        "`flex_service_instance_sid` is read-only",
        "      flex_service_instance_sid: IS123",
    );
    assert_error_at(
        &err,
        9,
        31,
        "invalid type for `call_recording_enabled`: expected a boolean",
        "      call_recording_enabled: \"yes\"",
    );
    assert_error_at(
        &err,
        10,
        19,
        "expected a string, found the number 2.0",
        "      ui_version: 2.0",
    );
    assert!(err.contains("quote it: `ui_version: \"2.0\"`"), "{err}");
    assert_error_at(
        &err,
        11,
        22,
        "expected a JSON object",
        "      ui_attributes: dark",
    );
    assert_error_at(&err, 12, 17, "found null", "      crm_type: null");
    assert!(err.contains("7 errors"), "{err}");

    // The same, well-typed, is valid; `null` inside a JSON-typed property removes a key.
    let good = format!(
        "version: 1\ninstances:\n  a:\n    account_sid: {sid}\n    configuration:\n      ui_language: en-GB\n      call_recording_enabled: true\n      ui_version: \"2.0\"\n      ui_attributes:\n        logLevel: debug\n        old: null\n      serverless_service_sids: [ZS0123456789abcdef0123456789abcdef]\n"
    );
    let (code, out, err) = validate(&good);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("valid"), "{out}");
}

#[test]
fn a_configuration_key_with_a_dot_is_refused_where_it_is() {
    let sid: &str = &account(1);
    let text = format!(
        "version: 1\ninstances:\n  a:\n    account_sid: {sid}\n    configuration:\n      ui_attributes:\n        theme:\n          feature.flag: true\n"
    );
    let (code, _, err) = validate(&text);
    assert_eq!(code, 1, "{err}");
    assert_error_at(
        &err,
        8,
        11,
        "the key `feature.flag` contains a `.`",
        "          feature.flag: true",
    );
}

/// An instance `a` whose `plugins:` section is `plugins` (lines from 6 on, indented by 6).
fn with_plugins(plugins: &str) -> String {
    let sid: &str = &account(1);
    format!("version: 1\ninstances:\n  a:\n    account_sid: {sid}\n    plugins:\n{plugins}")
}

#[test]
fn an_empty_plugins_map_is_refused_saying_how_to_leave_plugins_alone() {
    let sid: &str = &account(1);
    let (code, _, err) = validate(&format!(
        "version: 1\ninstances:\n  a:\n    account_sid: {sid}\n    plugins: {{}}\n"
    ));
    assert_eq!(code, 1);
    assert_error_at(
        &err,
        5,
        14,
        "`plugins` declares no plugin",
        "    plugins: {}",
    );
    assert!(
        err.contains("to leave the instance's plugins alone, remove the `plugins:` key (flexform then sends no Plugins API request)"),
        "{err}"
    );
    // `plugins:` with nothing under it is the same mistake, reported at the key.
    let (code, _, err) = validate(&with_plugins(""));
    assert_eq!(code, 1);
    assert_error_at(&err, 5, 5, "`plugins` declares no plugin", "    plugins:");
    assert!(err.contains("flexform.yaml: 1 error;"), "{err}");
}

#[test]
fn plugins_must_be_a_mapping_of_names_to_mappings() {
    let sid: &str = &account(1);
    let (code, _, err) = validate(&format!(
        "version: 1\ninstances:\n  a:\n    account_sid: {sid}\n    plugins: [plugin-a]\n"
    ));
    assert_eq!(code, 1);
    assert_error_at(
        &err,
        5,
        14,
        "invalid type: expected a mapping of plugin unique names to plugins in `plugins`, found a sequence",
        "    plugins: [plugin-a]",
    );
    let (code, _, err) = validate(&with_plugins(
        "      plugin-a: \"1.0.0\"\n      plugin-b:\n",
    ));
    assert_eq!(code, 1);
    assert_error_at(
        &err,
        6,
        17,
        "invalid type for plugin `plugin-a`: expected a mapping with `version` and `url`, found the quoted string \"1.0.0\"",
        "      plugin-a: \"1.0.0\"",
    );
    assert_error_at(
        &err,
        7,
        7,
        "invalid type for plugin `plugin-b`: expected a mapping with `version` and `url`, found null",
        "      plugin-b:",
    );
}

#[test]
fn an_unknown_plugin_key_is_reported_with_the_nearest_one() {
    let (code, _, err) = validate(&with_plugins(
        "      plugin-a:\n        version: \"1.0.0\"\n        url: https://assets.example.com/a.js\n        privte: false\n",
    ));
    assert_eq!(code, 1);
    assert_error_at(
        &err,
        9,
        9,
        "unknown field `privte`, expected one of `version`, `url`, `private`, `changelog`",
        "        privte: false",
    );
    assert!(err.contains("did you mean `private`?"), "{err}");
}

#[test]
fn a_plugin_without_version_or_url_is_reported_at_its_name() {
    let (code, _, err) = validate(&with_plugins(
        "      plugin-a:\n        url: https://assets.example.com/a.js\n      plugin-b:\n        version: \"1.0.0\"\n",
    ));
    assert_eq!(code, 1);
    assert_error_at(
        &err,
        6,
        7,
        "missing field `version` in plugin `plugin-a`",
        "      plugin-a:",
    );
    assert_error_at(
        &err,
        8,
        7,
        "missing field `url` in plugin `plugin-b`",
        "      plugin-b:",
    );
    assert!(err.contains("flexform.yaml: 2 errors;"), "{err}");
}

#[test]
fn a_plugin_unique_name_is_letters_digits_dashes_underscores_and_dots() {
    let long = "p".repeat(65);
    let body = "{version: \"1.0.0\", url: https://assets.example.com/a.js}";
    let (code, _, err) = validate(&with_plugins(&format!(
        "      my plugin: {body}\n      {long}: {body}\n      \"\": {body}\n      ok_name.v2-x: {body}\n"
    )));
    assert_eq!(code, 1);
    assert_error_at(
        &err,
        6,
        7,
        "invalid plugin name \"my plugin\": ' ' is not allowed; a unique name is 1 to 64 letters, digits, `-`, `_` and `.`",
        &format!("      my plugin: {body}"),
    );
    assert_error_at(
        &err,
        7,
        7,
        "invalid plugin name \"ppp",
        &format!("      {long}: {body}"),
    );
    assert!(err.contains("it has 65 characters"), "{err}");
    assert_error_at(
        &err,
        8,
        7,
        "invalid plugin name \"\": it is empty",
        &format!("      \"\": {body}"),
    );
    assert!(err.contains("flexform.yaml: 3 errors;"), "{err}");
}

#[test]
fn a_plugin_version_is_a_quoted_semantic_version() {
    let (code, _, err) = validate(&with_plugins(
        "      plugin-a:\n        version: 1.2\n        url: https://assets.example.com/a.js\n      plugin-b:\n        version: \"1.2\"\n        url: https://assets.example.com/b.js\n      plugin-c:\n        version: latest\n        url: https://assets.example.com/c.js\n",
    ));
    assert_eq!(code, 1);
    assert_error_at(
        &err,
        7,
        18,
        "invalid type for `version` of plugin `plugin-a`: expected a version string, found the number 1.2",
        "        version: 1.2",
    );
    assert!(
        err.contains("quote a full version: `version: \"1.2.0\"`"),
        "{err}"
    );
    assert_error_at(
        &err,
        10,
        18,
        "invalid `version` of plugin `plugin-b`: \"1.2\" is not a semantic version",
        "        version: \"1.2\"",
    );
    assert!(err.contains("did you mean `version: \"1.2.0\"`?"), "{err}");
    assert_error_at(
        &err,
        13,
        18,
        "invalid `version` of plugin `plugin-c`: \"latest\" is not a semantic version",
        "        version: latest",
    );
    assert!(err.contains("write MAJOR.MINOR.PATCH"), "{err}");
}

#[test]
fn a_plugin_url_is_an_absolute_https_url_with_a_host() {
    let (code, _, err) = validate(&with_plugins(
        "      plugin-a:\n        version: \"1.0.0\"\n        url: http://assets.example.com/a.js\n      plugin-b:\n        version: \"1.0.0\"\n        url: assets/b.js\n      plugin-c:\n        version: \"1.0.0\"\n        url: \"https://\"\n",
    ));
    assert_eq!(code, 1);
    assert_error_at(
        &err,
        8,
        14,
        "invalid `url` of plugin `plugin-a`: \"http://assets.example.com/a.js\" is not an https URL (its scheme is `http`)",
        "        url: http://assets.example.com/a.js",
    );
    assert_error_at(
        &err,
        11,
        14,
        "invalid `url` of plugin `plugin-b`: \"assets/b.js\" is not an absolute URL",
        "        url: assets/b.js",
    );
    assert_error_at(
        &err,
        14,
        14,
        "invalid `url` of plugin `plugin-c`: \"https://\" is not an absolute URL (empty host)",
        "        url: \"https://\"",
    );
}

#[test]
fn a_plugin_private_is_a_boolean_and_its_changelog_a_string() {
    let (code, _, err) = validate(&with_plugins(
        "      plugin-a:\n        version: \"1.0.0\"\n        url: https://assets.example.com/a.js\n        private: \"true\"\n        changelog: 42\n",
    ));
    assert_eq!(code, 1);
    assert_error_at(
        &err,
        9,
        18,
        "invalid type for `private` of plugin `plugin-a`: expected a boolean, found the quoted string \"true\"",
        "        private: \"true\"",
    );
    assert_error_at(
        &err,
        10,
        20,
        "invalid type for `changelog` of plugin `plugin-a`: expected a string, found the number 42",
        "        changelog: 42",
    );
    assert!(err.contains("quote it: `changelog: \"42\"`"), "{err}");
}

/// Plugin errors come with every other error of the file, the instance's own included.
#[test]
fn plugin_errors_are_reported_with_every_other_error() {
    let sid: &str = &account(1);
    let text = format!("version: 1\ninstances:\n  a:\n    account_sid: AC1\n    plugins:\n      plugin-a:\n        version: 1\n        url: http://assets.example.com/a.js\n        verison: \"1.0.0\"\n  b:\n    account_sid: {sid}\n    conversations: {{default: maybe}}\n");
    let (code, _, err) = validate(&text);
    assert_eq!(code, 1);
    // The entry's account SID does not read, and its plugins are checked all the same.
    assert_error_at(&err, 4, 18, "invalid account SID", "    account_sid: AC1");
    assert_error_at(&err, 7, 18, "found the number 1", "        version: 1");
    assert!(err.contains("`version: \"1.0.0\"`"), "{err}");
    assert_error_at(
        &err,
        8,
        14,
        "is not an https URL",
        "        url: http://assets.example.com/a.js",
    );
    assert_error_at(
        &err,
        9,
        9,
        "unknown field `verison`",
        "        verison: \"1.0.0\"",
    );
    assert_error_at(
        &err,
        12,
        30,
        "expected a boolean, found \"maybe\"",
        "    conversations: {default: maybe}",
    );
    assert!(err.contains("flexform.yaml: 5 errors;"), "{err}");
}

#[test]
fn the_plugins_example_is_valid() {
    let out = Test::in_repo().run_blocking(&["validate", "--config", "examples/plugins.yaml"]);
    out.assert_exit(0);
    assert_eq!(
        out.stdout.trim(),
        "examples/plugins.yaml: 2 instances, 0 credentials profiles: valid"
    );
}
