//! `flexform demo`: the whole cycle against the built-in simulator, offline, in one command.
//!
//! Each step is the command line a user would type, parsed by the real parser and run by the
//! real command functions; the demo only checks that each step behaved as described.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Parser;

use crate::cli::args::{Cli, Command, DemoArgs, SchemaKind};
use crate::cli::context;
use crate::cli::exit_status::ExitStatus;
use crate::cli::settings::Settings;
use crate::domain::sid::InstanceSid;
use crate::sim::{self, SimConfig};
use crate::state::State;
use crate::support::env::Env;
use crate::support::text::quote_list;

mod plugins;

/// How the demo runs each step: the same function `main` runs a command with (passed in, so
/// that this module does not depend on the dispatcher that depends on it).
pub type Runner = fn(Command, &Settings) -> ExitStatus;

/// The configuration the demo applies when the user gives none.
const QUICKSTART: &str = include_str!("../../../examples/quickstart.yaml");

/// Runs the demo.
pub fn run(settings: &Settings, args: &DemoArgs, runner: Runner) -> anyhow::Result<ExitStatus> {
    let (dir, _temp) = match &args.dir {
        Some(dir) => {
            prepare_dir(dir, args.force)?;
            (dir.clone(), None)
        }
        None => {
            let temp = tempfile::tempdir().context("cannot create a temporary folder")?;
            (temp.path().to_owned(), Some(temp))
        }
    };
    let config_text = if settings.config_explicit {
        std::fs::read_to_string(&settings.config_path)
            .with_context(|| format!("cannot read {}", settings.config_path.display()))?
    } else {
        QUICKSTART.to_owned()
    };
    let env = stand_in_env(settings, &config_text)?;
    let (config_text, config_path) = write_files(&dir, &config_text)?;
    let configured = crate::config::Config::parse(&config_text).ok();
    let state_path = dir.join("flexform.state.json");

    let runtime = context::runtime()?;
    let sim = runtime
        .block_on(sim::spawn(SimConfig {
            ready_after: args.ready_after,
            ..SimConfig::default()
        }))
        .context("cannot start the simulator")?;
    let endpoint = sim.url();
    settings.out.data_line(format!(
        "flexform demo: a simulated Flex API at {endpoint}; working in {}",
        dir.display()
    ));
    settings
        .out
        .data_line("(no credentials and no network needed: the simulator stands in for Twilio)\n");

    let demo = Demo {
        settings,
        env,
        runner,
        sim: &sim,
        config_path: &config_path,
        state_path: &state_path,
        endpoint: &endpoint,
    };
    demo.run_steps(&config_text, configured)?;

    runtime.block_on(sim.shutdown());
    settings
        .out
        .data_line("Demo complete: every step behaved as described (exit codes, the plan's actions, the configuration diff, the plugins released, the drift found, the SIDs recorded).");
    if args.dir.is_some() {
        settings.out.data_line(format!(
            "The configuration, state and history are in {}: try `flexform show --state {}`.",
            dir.display(),
            state_path.display()
        ));
    }
    Ok(ExitStatus::Success)
}

/// The user's environment with the demo's own credentials where it leaves them unset: the
/// simulator accepts any non-empty pair, so every profile `config_text` names gets a stand-in.
/// Refuses a configuration that keeps its state in PostgreSQL: the demo's stays in its folder.
fn stand_in_env(settings: &Settings, config_text: &str) -> anyhow::Result<Env> {
    let mut stand_ins = vec![
        (
            "TWILIO_API_KEY".to_owned(),
            "SKdemo0000000000000000000000000000".to_owned(),
        ),
        ("TWILIO_API_SECRET".to_owned(), "demo-secret".to_owned()),
    ];
    if let Ok(config) = crate::config::Config::parse(config_text) {
        let postgres = config
            .state
            .as_ref()
            .is_some_and(|s| s.backend == crate::config::BackendKind::Postgres);
        if postgres {
            bail!(
                "the demo keeps its state in a local file; remove the `state:` section from {} (or run the demo without --config)",
                settings.config_path.display()
            );
        }
        for profile in config.credentials.values() {
            stand_ins.push((profile.key_env.clone(), "SKdemo".to_owned()));
            stand_ins.push((profile.secret_env.clone(), "demo-secret".to_owned()));
        }
    }
    Ok(settings.env.with_defaults(stand_ins))
}

/// Writes the JSON Schema and the configuration into `dir`; the configuration's text as
/// written (its editor's schema hint pointing beside it) and its path.
fn write_files(dir: &Path, config_text: &str) -> anyhow::Result<(String, PathBuf)> {
    // The editor's schema hint must resolve in the demo folder: the schema goes beside it.
    let config_text = config_text.replace(
        "$schema=../schemas/flexform.schema.json",
        "$schema=flexform.schema.json",
    );
    let schema_path = dir.join("flexform.schema.json");
    std::fs::write(&schema_path, super::schema::schema_text(SchemaKind::Config))
        .with_context(|| format!("cannot write {}", schema_path.display()))?;
    let config_path = dir.join("flexform.yaml");
    std::fs::write(&config_path, &config_text)
        .with_context(|| format!("cannot write {}", config_path.display()))?;
    Ok((config_text, config_path))
}

struct Demo<'a> {
    settings: &'a Settings,
    /// The user's environment with the demo's stand-in credentials.
    env: Env,
    runner: Runner,
    /// The simulator every step talks to.
    sim: &'a sim::SimHandle,
    config_path: &'a PathBuf,
    state_path: &'a PathBuf,
    endpoint: &'a str,
}

impl Demo<'_> {
    /// The twelve steps, in order; `configured` is `config_text` parsed, if it parses.
    fn run_steps(
        &self,
        config_text: &str,
        configured: Option<crate::config::Config>,
    ) -> anyhow::Result<()> {
        self.heading(1, "check the configuration offline");
        self.step("flexform validate", ExitStatus::Success)?;
        let Some(configured) = configured else {
            bail!("step 1 failed: the configuration did not parse, yet validate passed");
        };
        let names: Vec<&str> = configured.instances.keys().map(String::as_str).collect();

        self.heading(2, "see what would change, and save the plan for review");
        self.plan_for_review(&names)?;

        self.heading(
            3,
            "apply exactly the reviewed plan, and wait until it is ready",
        );
        self.step("flexform apply plan.json", ExitStatus::Success)?;
        self.check_state(&names, 3)?;

        self.heading(4, "nothing left to do: exit 0");
        self.expect_no_changes(4)?;

        let edit = self.edit_configuration(config_text, &configured)?;
        let state = self.apply_edit(&edit, &names)?;
        let (name, deleted) = self.delete_outside(&state)?;
        self.heal(&names, &name, &deleted, &edit)?;
        self.plugin_steps(&edit)
    }

    /// Step 2: plans into plan.json and checks that the plan creates exactly `names`.
    fn plan_for_review(&self, names: &[&str]) -> anyhow::Result<()> {
        self.step("flexform plan --out plan.json", ExitStatus::Success)?;
        let dir = self.config_path.parent().unwrap_or(Path::new("."));
        let plan = crate::plan::PlanDocument::load(&dir.join("plan.json"))?;
        let creates: Vec<&str> = plan
            .resource_changes
            .iter()
            .filter(|c| c.action == crate::plan::Action::Create)
            .map(|c| c.name.as_str())
            .collect();
        if creates != names
            || plan.resource_changes.len() != names.len()
            || !plan.diagnostics.is_empty()
        {
            bail!(
                "step 2 failed: the plan should create exactly {} and say nothing else; it proposes {} with {} diagnostics",
                quote_list(names),
                plan.resource_changes
                    .iter()
                    .map(|c| format!("{} {}", c.action, c.address))
                    .collect::<Vec<_>>()
                    .join(", "),
                plan.diagnostics.len()
            );
        }
        Ok(())
    }

    /// Runs `flexform plan --detailed-exitcode` and checks that it has nothing to do.
    fn expect_no_changes(&self, step: usize) -> anyhow::Result<()> {
        let printed = self.step("flexform plan --detailed-exitcode", ExitStatus::Success)?;
        if !printed.contains("No changes.") {
            bail!("step {step} failed: the plan should say \"No changes.\"");
        }
        Ok(())
    }

    /// Step 5: edits one Flex configuration value in flexform.yaml and checks that the plan
    /// shows the field-level diff.
    fn edit_configuration(
        &self,
        config_text: &str,
        configured: &crate::config::Config,
    ) -> anyhow::Result<ConfigEdit> {
        let Some(edit) = ConfigEdit::new(config_text, configured, |account| {
            self.sim.configuration(account)
        })?
        else {
            bail!("step 5 failed: the configuration declares no instance");
        };
        self.heading(
            5,
            &format!(
                "change a Flex configuration value in flexform.yaml (flex_instance.{}: {LOG_LEVEL} = {}); the plan shows the field-level diff",
                edit.name, edit.after
            ),
        );
        std::fs::write(self.config_path, &edit.text)
            .with_context(|| format!("cannot write {}", self.config_path.display()))?;
        let out = &self.settings.out;
        out.data_line("(edited flexform.yaml)");
        for line in &edit.shown {
            out.data_line(line);
        }
        out.data_line("");
        let printed = self.step("flexform plan", ExitStatus::Success)?;
        let diff = edit.diff_line();
        let header = format!("# flex_instance.{} will be updated in-place", edit.name);
        if !printed.contains(&diff)
            || !printed.contains(&header)
            || !printed.contains("0 to create, 0 to adopt, 1 to update,")
            || !printed.contains("Drift: 0.")
        {
            bail!(
                "step 5 failed: the plan should update only flex_instance.{}, showing `{diff}`",
                edit.name
            );
        }
        Ok(edit)
    }

    /// Step 6: applies the edit in place, checks the simulator and the state, then that
    /// nothing is left to do; the state after it.
    fn apply_edit(&self, edit: &ConfigEdit, names: &[&str]) -> anyhow::Result<State> {
        self.heading(
            6,
            "apply updates the Flex configuration in place (the other keys kept); nothing left to do",
        );
        let printed = self.step("flexform apply --auto-approve", ExitStatus::Success)?;
        if !printed.contains("1 updated") {
            bail!("step 6 failed: apply should report \"1 updated\"");
        }
        edit.check_applied(self.sim, 6)?;
        let state = self.check_state(names, 6)?;
        let digest = state.instances[edit.name.as_str()]
            .configuration
            .as_ref()
            .and_then(|c| c.0.get(LOG_LEVEL));
        if digest != Some(&crate::config::flex::value_sha256(&edit.after)) {
            bail!(
                "step 6 failed: the state should record the digest of {LOG_LEVEL} = {} for {}",
                edit.after,
                edit.name
            );
        }
        self.expect_no_changes(6)?;
        Ok(state)
    }

    /// Step 7: deletes the first instance `state` records behind flexform's back and checks
    /// that drift reports it; its name and its SID.
    fn delete_outside(&self, state: &State) -> anyhow::Result<(String, InstanceSid)> {
        let (name, record) = state.instances.iter().next().expect("checked above");
        let deleted = record.flex_instance_sid.clone();
        self.heading(
            7,
            &format!("someone deletes {deleted} ({name}) outside flexform; drift notices (exit 2)"),
        );
        if !self.sim.delete_instance(deleted.as_str()) {
            bail!("step 7 failed: the simulator did not know {deleted}");
        }
        let printed = self.step("flexform drift", ExitStatus::Changes)?;
        let finding = format!("drift flex_instance.{name} (deleted_outside)");
        if !printed.contains(&finding) || !printed.starts_with("Drift: 1 of ") {
            bail!("step 7 failed: drift should report exactly one finding, `{finding}`");
        }
        Ok((name.clone(), deleted))
    }

    /// Step 8: apply replaces the instance `name` whose SID `deleted` was deleted, configured
    /// as declared, and drift is clean again.
    fn heal(
        &self,
        names: &[&str],
        name: &str,
        deleted: &InstanceSid,
        edit: &ConfigEdit,
    ) -> anyhow::Result<()> {
        self.heading(
            8,
            "apply heals it (a new instance, configured as declared); drift is clean again",
        );
        self.step("flexform apply --auto-approve", ExitStatus::Success)?;
        let healed = self.check_state(names, 8)?;
        if healed.instances[name].flex_instance_sid == *deleted {
            bail!("step 8 failed: {name} still records the deleted {deleted}");
        }
        edit.check_applied(self.sim, 8)?;
        let printed = self.step("flexform drift", ExitStatus::Success)?;
        if !printed.starts_with("No drift:") {
            bail!("step 8 failed: drift should say \"No drift\"");
        }
        Ok(())
    }

    fn heading(&self, number: usize, text: &str) {
        self.settings
            .out
            .data_line(format!("==> Step {number}: {text}"));
    }

    /// Checks that the state records each of `names` as ready, with the SID the simulator
    /// holds for its account.
    fn check_state(&self, names: &[&str], step: usize) -> anyhow::Result<State> {
        let state = State::load(self.state_path)?
            .with_context(|| format!("step {step} failed: apply wrote no state"))?;
        let live = self.sim.instances();
        for name in names {
            let Some(record) = state.instances.get(*name) else {
                bail!("step {step} failed: the state does not record {name}");
            };
            let at_twilio = live
                .iter()
                .find(|i| i.account_sid == record.account_sid.as_str())
                .map(|i| i.flex_instance_sid.as_str());
            if record.status.as_str() != "ready"
                || at_twilio != Some(record.flex_instance_sid.as_str())
            {
                bail!(
                    "step {step} failed: {name} records {} ({}), the simulator holds {}",
                    record.flex_instance_sid,
                    record.status,
                    at_twilio.unwrap_or("no instance")
                );
            }
        }
        Ok(state)
    }

    /// Runs `line` as a user would type it (in the demo folder), checks its exit status, and
    /// returns what it printed on stdout, without colours.
    fn step(&self, line: &str, expected: ExitStatus) -> anyhow::Result<String> {
        self.settings.out.data_line(format!("$ {line}"));
        let dir = self
            .config_path
            .parent()
            .unwrap_or(std::path::Path::new("."));
        let mut words: Vec<String> = line
            .split_whitespace()
            .map(|w| {
                // A file argument lives in the demo folder.
                if w.ends_with(".json") {
                    dir.join(w).display().to_string()
                } else {
                    w.to_owned()
                }
            })
            .collect();
        words.extend([
            "--config".to_owned(),
            self.config_path.display().to_string(),
        ]);
        if !line.starts_with("flexform validate") {
            words.extend([
                "--state".to_owned(),
                self.state_path.display().to_string(),
                "--endpoint".to_owned(),
                self.endpoint.to_owned(),
            ]);
        }
        let cli = Cli::try_parse_from(&words).with_context(|| format!("`{line}` did not parse"))?;
        let mut settings = Settings::resolve(&cli.global, &cli.before, &cli.command)
            .map_err(|e| anyhow::anyhow!("`{line}`: {e}"))?;
        settings.color_stdout = self.settings.color_stdout;
        settings.color_stderr = self.settings.color_stderr;
        settings.stderr_is_terminal = self.settings.stderr_is_terminal;
        settings.env = self.env.clone();
        let (status, printed) =
            crate::cli::output::copy_stdout(|| (self.runner)(cli.command, &settings));
        self.settings
            .out
            .data_line(format!("(exit {})\n", status.code()));
        if status != expected {
            bail!(
                "demo failed: `{line}` exited {} where {} was expected",
                status.code(),
                expected.code()
            );
        }
        Ok(without_colors(&printed))
    }
}

/// `text` without its terminal colours (`--color always`), to be read as words.
fn without_colors(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // A CSI sequence: ESC [ parameters, then one final letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

/// The Flex configuration path the demo changes in step 5.
const LOG_LEVEL: &str = "ui_attributes.logLevel";

/// The change the demo makes to flexform.yaml in step 5: one instance's
/// `ui_attributes.logLevel`, set to a value it does not have at Twilio.
struct ConfigEdit {
    /// The instance changed.
    name: String,
    /// Its account.
    account: String,
    /// The value observed before the edit (`Null`: absent).
    before: serde_json::Value,
    /// The value declared by the edit.
    after: serde_json::Value,
    /// The whole `ui_attributes` observed before the edit: every other key must survive.
    observed: serde_json::Map<String, serde_json::Value>,
    /// The new text of flexform.yaml.
    text: String,
    /// The edit as shown to the user.
    shown: Vec<String>,
}

impl ConfigEdit {
    /// Plans the edit of `text` (which parsed as `config`): on the first instance that declares
    /// a `logLevel` in its `ui_attributes`, else on the first instance; `None` when there is no
    /// instance. The line is edited in place when that is unambiguous, keeping the comments;
    /// otherwise the file is rewritten from the parsed document, as JSON (which is YAML),
    /// keeping its header comment.
    /// Either way the result must parse as `config` with only that value changed. `observe`
    /// gives an account's whole Flex configuration as it is now.
    fn new(
        text: &str,
        config: &crate::config::Config,
        observe: impl Fn(&str) -> Option<serde_json::Value>,
    ) -> anyhow::Result<Option<Self>> {
        let Some((name, spec)) = config
            .instances
            .iter()
            .find(|(_, spec)| declared_level(spec).is_some_and(|v| v.is_string()))
            .or_else(|| config.instances.iter().next())
        else {
            return Ok(None);
        };
        let account = spec.account_sid.as_str().to_owned();
        let observed = observe(&account)
            .and_then(|c| c.get("ui_attributes").and_then(|a| a.as_object()).cloned())
            .unwrap_or_default();
        let before = observed
            .get("logLevel")
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        let after = serde_json::Value::from(if before == "debug" { "info" } else { "debug" });

        let expected = with_log_level(config, name, &after);
        let means_expected = |candidate: &str| {
            crate::config::Config::parse(candidate).is_ok_and(|parsed| parsed == expected)
        };
        let in_place = declared_level(spec)
            .and_then(|_| edited_in_place(text, &after))
            .filter(|(candidate, _)| means_expected(candidate));
        let (text, shown) = match in_place {
            Some(edited) => edited,
            None => {
                let candidate = rewritten(text, &expected)?;
                if !means_expected(&candidate) {
                    bail!("step 5 failed: the edited configuration does not read back as written");
                }
                let shown = vec![format!(
                    "  instances.{name}.configuration.{LOG_LEVEL}: {after} (the file rewritten from its parsed form, as JSON, which YAML reads)"
                )];
                (candidate, shown)
            }
        };
        Ok(Some(Self {
            name: name.clone(),
            account,
            before,
            after,
            observed,
            text,
            shown,
        }))
    }

    /// The line the plan must show for the edit.
    fn diff_line(&self) -> String {
        if self.before.is_null() {
            format!("+ {LOG_LEVEL} = {}", self.after)
        } else {
            format!("~ {LOG_LEVEL} = {} -> {}", self.before, self.after)
        }
    }

    /// Checks that the simulator holds the declared value, and every other key of
    /// `ui_attributes` as it was observed before the edit.
    fn check_applied(&self, sim: &sim::SimHandle, step: usize) -> anyhow::Result<()> {
        let now = sim
            .configuration(&self.account)
            .and_then(|c| c.get("ui_attributes").and_then(|a| a.as_object()).cloned())
            .unwrap_or_default();
        if now.get("logLevel") != Some(&self.after) {
            bail!(
                "step {step} failed: {} has {LOG_LEVEL} = {} at the simulator, {} was declared",
                self.name,
                now.get("logLevel").unwrap_or(&serde_json::Value::Null),
                self.after
            );
        }
        if let Some((key, _)) = self
            .observed
            .iter()
            .find(|(key, value)| *key != "logLevel" && now.get(*key) != Some(*value))
        {
            bail!(
                "step {step} failed: ui_attributes.{key} of {} changed, though flexform.yaml does not declare it",
                self.name
            );
        }
        Ok(())
    }
}

/// The `ui_attributes.logLevel` an instance declares, if any.
fn declared_level(spec: &crate::config::InstanceSpec) -> Option<serde_json::Value> {
    spec.declared_configuration()
        .and_then(|c| c.get("ui_attributes"))
        .and_then(|a| a.get("logLevel"))
        .cloned()
}

/// `config` with the instance `name` declaring `ui_attributes.logLevel` = `after`.
fn with_log_level(
    config: &crate::config::Config,
    name: &str,
    after: &serde_json::Value,
) -> crate::config::Config {
    let mut expected = config.clone();
    let attributes = expected
        .instances
        .get_mut(name)
        .expect("found above")
        .configuration
        .get_or_insert_with(Default::default)
        .0
        .entry("ui_attributes".to_owned())
        .or_insert_with(|| serde_json::json!({}));
    match attributes.as_object_mut() {
        Some(keys) => {
            keys.insert("logLevel".to_owned(), after.clone());
        }
        None => *attributes = serde_json::json!({ "logLevel": after }),
    }
    expected
}

/// `text` with its one `logLevel:` line set to `after` (keeping its indent and comment), and
/// the change as shown to the user; `None` unless the file has exactly one such line.
fn edited_in_place(text: &str, after: &serde_json::Value) -> Option<(String, Vec<String>)> {
    let level_lines: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, line)| line.trim_start().starts_with("logLevel:"))
        .map(|(i, _)| i)
        .collect();
    let [index] = level_lines.as_slice() else {
        return None;
    };
    let lines: Vec<&str> = text.lines().collect();
    let old = lines[*index];
    let indent = &old[..old.len() - old.trim_start().len()];
    let comment = old.find(" #").map(|at| &old[at..]).unwrap_or_default();
    let new = format!(
        "{indent}logLevel: {}{comment}",
        after.as_str().expect("text")
    );
    let mut edited: Vec<&str> = lines.clone();
    edited[*index] = &new;
    let mut candidate = edited.join("\n");
    if text.ends_with('\n') {
        candidate.push('\n');
    }
    Some((candidate, vec![format!("- {old}"), format!("+ {new}")]))
}

/// `expected` written whole: the header comment of `text` (the editor's schema hint), then the
/// document as JSON, which is YAML too.
fn rewritten(text: &str, expected: &crate::config::Config) -> anyhow::Result<String> {
    let header: String = text
        .lines()
        .take_while(|line| line.starts_with('#') || line.trim().is_empty())
        .map(|line| format!("{line}\n"))
        .collect();
    let document =
        serde_json::to_string_pretty(expected).context("cannot write the edited configuration")?;
    Ok(format!("{header}{document}\n"))
}

/// Makes `dir` an empty folder for the demo: created if missing; a used one is refused unless
/// `force`, which clears it, but only of files a demo makes (`flexform.*`, `plan.json`).
fn prepare_dir(dir: &Path, force: bool) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        entries.push(entry?.path());
    }
    if entries.is_empty() {
        return Ok(());
    }
    if !force {
        bail!(
            "{} is not empty (a previous demo?): the demo starts from an empty folder, since an old state would meet a fresh simulator. Use another --dir, or add --force to clear it",
            dir.display()
        );
    }
    let is_demo_file = |path: &Path| {
        path.is_file()
            && path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("flexform.") || n == "plan.json")
    };
    if let Some(other) = entries.iter().find(|p| !is_demo_file(p)) {
        bail!(
            "--force clears only the files a demo makes (flexform.*, plan.json), and {} also holds {}; nothing was removed. Use another --dir",
            dir.display(),
            other.display()
        );
    }
    for path in entries {
        std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn edit(text: &str, observed: serde_json::Value) -> Option<ConfigEdit> {
        let config = crate::config::Config::parse(text).unwrap();
        ConfigEdit::new(text, &config, |_| Some(observed.clone())).unwrap()
    }

    #[test]
    fn the_quickstart_is_edited_in_place_keeping_its_comments() {
        let edit = edit(
            QUICKSTART,
            json!({"ui_attributes": {"logLevel": "info", "colorTheme": {"baseName": "GreyLight"}}}),
        )
        .unwrap();
        assert_eq!(edit.name, "support");
        assert_eq!(
            edit.text,
            QUICKSTART.replace("logLevel: info", "logLevel: debug")
        );
        assert_eq!(
            edit.shown,
            ["-         logLevel: info", "+         logLevel: debug"]
        );
        assert_eq!(
            edit.diff_line(),
            r#"~ ui_attributes.logLevel = "info" -> "debug""#
        );
        // The keys it does not declare are the ones checked after apply.
        assert!(edit.observed.contains_key("colorTheme"));
    }

    #[test]
    fn a_value_already_debug_becomes_info() {
        let edit = edit(QUICKSTART, json!({"ui_attributes": {"logLevel": "debug"}})).unwrap();
        assert!(
            edit.text.contains("        logLevel: info\n"),
            "{}",
            edit.text
        );
        assert_eq!(
            edit.diff_line(),
            r#"~ ui_attributes.logLevel = "debug" -> "info""#
        );
    }

    #[test]
    fn without_a_line_to_edit_the_file_is_rewritten_and_means_the_same_plus_the_edit() {
        let text = "# yaml-language-server: $schema=flexform.schema.json\n# notes\nversion: 1\ninstances:\n  b:\n    account_sid: AC00000000000000000000000000000002\n  a:\n    account_sid: AC00000000000000000000000000000001 # first\n    configuration:\n      ui_language: fr\n";
        let edit = edit(text, json!({"ui_language": "fr"})).unwrap();
        assert_eq!(edit.name, "a", "the first instance in name order");
        assert!(edit
            .text
            .starts_with("# yaml-language-server: $schema=flexform.schema.json\n# notes\n{"));
        let parsed = crate::config::Config::parse(&edit.text).unwrap();
        let declared = parsed.instances["a"].declared_configuration().unwrap();
        assert_eq!(
            serde_json::Value::Object(declared.clone().into_iter().collect()),
            json!({"ui_language": "fr", "ui_attributes": {"logLevel": "debug"}})
        );
        assert!(parsed.instances["b"].configuration.is_none());
        assert_eq!(edit.diff_line(), r#"+ ui_attributes.logLevel = "debug""#);
    }

    #[test]
    fn the_log_level_line_of_another_instance_is_not_edited() {
        let text = "version: 1\ninstances:\n  a:\n    account_sid: AC00000000000000000000000000000001\n    configuration:\n      ui_attributes: {logLevel: warn}\n  b:\n    account_sid: AC00000000000000000000000000000002\n    configuration:\n      ui_attributes:\n        logLevel: warn\n";
        let edit = edit(text, json!({"ui_attributes": {"logLevel": "warn"}})).unwrap();
        assert_eq!(edit.name, "a");
        // One `logLevel:` line, but it is b's: editing it would change the wrong instance.
        let parsed = crate::config::Config::parse(&edit.text).unwrap();
        let level = |name: &str| {
            parsed.instances[name].declared_configuration().unwrap()["ui_attributes"]["logLevel"]
                .clone()
        };
        assert_eq!(level("a"), "debug");
        assert_eq!(level("b"), "warn");
    }

    #[test]
    fn colors_are_removed_before_the_plan_is_read() {
        assert_eq!(
            without_colors("  # \u{1b}[1mflex_instance.support\u{1b}[0m will be updated"),
            "  # flex_instance.support will be updated"
        );
    }

    #[test]
    fn no_instance_no_edit() {
        assert!(edit("version: 1\ninstances: {}\n", json!({})).is_none());
    }
}
