//! The CI recipes in examples/ci are valid for their platforms (checked against GitHub's and
//! GitLab's published schemas, vendored in tests/fixtures/schemastore), and every `flexform`
//! command line in them is accepted by the real command-line parser, so they cannot drift from
//! the real flags.

use crate::common::{self, Test};
use clap::Parser;
use flexform::cli::Cli;

/// Every string in a YAML document.
fn strings(value: &serde_yaml::Value, out: &mut Vec<String>) {
    match value {
        serde_yaml::Value::String(s) => out.push(s.clone()),
        serde_yaml::Value::Sequence(items) => items.iter().for_each(|v| strings(v, out)),
        serde_yaml::Value::Mapping(map) => map.iter().for_each(|(k, v)| {
            strings(k, out);
            strings(v, out);
        }),
        serde_yaml::Value::Tagged(tagged) => strings(&tagged.value, out),
        _ => {}
    }
}

/// The `flexform …` commands in shell text: each line split at `&&`, `||`, `;` and `|`,
/// redirections dropped.
fn flexform_commands(script: &str) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    for line in script.lines() {
        let line = line.trim().trim_start_matches("- ");
        for segment in line
            .split("&&")
            .flat_map(|s| s.split("||"))
            .flat_map(|s| s.split(';'))
            .flat_map(|s| s.split('|'))
        {
            let segment = segment.trim();
            if !segment.starts_with("flexform ") {
                continue;
            }
            let command = segment.split('>').next().unwrap_or(segment);
            commands.push(shell_words::split(command).expect("shell words"));
        }
    }
    commands
}

fn check(file: &str) -> usize {
    let text = std::fs::read_to_string(common::repo_root().join(file)).unwrap();
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut all = Vec::new();
    strings(&doc, &mut all);
    let mut count = 0;
    for script in all {
        for words in flexform_commands(&script) {
            if let Err(e) = Cli::try_parse_from(&words) {
                panic!("{file}: `{}` is rejected by the CLI:\n{e}", words.join(" "));
            }
            count += 1;
        }
    }
    count
}

#[test]
fn github_actions_recipe_uses_real_commands() {
    let count = check("examples/ci/github-actions.yml");
    assert!(
        count >= 5,
        "expected validate, plan, show, apply and drift; found {count} commands"
    );
}

#[test]
fn gitlab_recipe_uses_real_commands() {
    let count = check("examples/ci/gitlab-ci.yml");
    assert!(
        count >= 5,
        "expected validate, plan, show, apply and drift; found {count} commands"
    );
}

#[test]
fn a_wrong_flag_would_be_caught() {
    // The check above is only worth something if the parser rejects unknown flags.
    let words = shell_words::split("flexform plan --detailed-exit-code").unwrap();
    assert!(Cli::try_parse_from(&words).is_err());
    assert_eq!(
        flexform_commands("flexform drift --json > drift.json || true").len(),
        1
    );
}

#[test]
fn completions_are_generated_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = Test::new().run_blocking(&["completions", shell]);
        out.assert_exit(0);
        let text = &out.stdout;
        assert!(text.contains("flexform"), "{shell}: {text}");
        assert!(
            text.contains("detailed-exitcode"),
            "{shell} completion lacks plan flags"
        );
    }
}

/// What the platform's published schema says is wrong with `yaml`, one line per error.
fn platform_errors(yaml: &str, schema_file: &str) -> Vec<String> {
    let path = common::repo_root()
        .join("tests/fixtures/schemastore")
        .join(schema_file);
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the platform schema compiles");
    let doc: serde_json::Value = serde_yaml::from_str(yaml).expect("the recipe is YAML");
    validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

fn recipe(file: &str) -> String {
    std::fs::read_to_string(common::repo_root().join(file)).unwrap()
}

#[test]
fn the_gitlab_recipe_is_valid_for_gitlab() {
    let errors = platform_errors(&recipe("examples/ci/gitlab-ci.yml"), "gitlab-ci.json");
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn the_github_recipe_is_valid_for_github() {
    let errors = platform_errors(
        &recipe("examples/ci/github-actions.yml"),
        "github-workflows.json",
    );
    assert!(errors.is_empty(), "{errors:#?}");
}

/// The two mistakes the GitLab recipe once had: `variables` under `default`, and a script line
/// whose `: ` made it a mapping instead of a string. The platform check catches each.
#[test]
fn the_platform_check_catches_what_gitlab_would_reject() {
    let good = recipe("examples/ci/gitlab-ci.yml");
    let variables_under_default = good.replace(
        "default:\n",
        "default:\n  variables:\n    NO_COLOR: \"1\"\n",
    );
    assert_ne!(variables_under_default, good);
    assert!(!platform_errors(&variables_under_default, "gitlab-ci.json").is_empty());
    let unquoted = good.replace(
        "    - 'git commit -m \"flexform: record applied state [skip ci]\" || exit 0'",
        "    - git commit -m \"flexform: record applied state\" || exit 0",
    );
    assert_ne!(unquoted, good);
    assert!(!platform_errors(&unquoted, "gitlab-ci.json").is_empty());
}

/// The GitHub recipe works under whatever file name it is saved as: a step that names a
/// workflow file (to download the reviewed plan) names the recipe's own, or none (the current
/// workflow). The README says the same.
#[test]
fn the_github_recipe_does_not_depend_on_its_file_name() {
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&recipe("examples/ci/github-actions.yml")).unwrap();
    let mut named = Vec::new();
    for (_, job) in doc["jobs"].as_mapping().unwrap() {
        for step in job["steps"].as_sequence().into_iter().flatten() {
            if let Some(workflow) = step["with"]["workflow"].as_str() {
                named.push(workflow.to_owned());
            }
        }
    }
    assert!(
        named.iter().all(|w| w == "github-actions.yml"),
        "steps name workflow files {named:?}"
    );
    let readme = recipe("README.md");
    assert!(
        !readme.contains("flexform.yml`"),
        "the README names a workflow file the recipe does not use"
    );
}
