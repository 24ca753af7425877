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
use crate::sim::{self, SimConfig};
use crate::state::State;
use crate::support::text::quote_list;

/// How the demo runs each step: the same function `main` runs a command with (passed in, so
/// that this module does not depend on the dispatcher that depends on it).
pub type Runner = fn(Command, &Settings) -> ExitStatus;

/// The configuration the demo applies when the user gives none.
const QUICKSTART: &str = include_str!("../../../examples/quickstart.yaml");

/// Runs the demo.
pub fn run(settings: &Settings, args: &DemoArgs, runner: Runner) -> anyhow::Result<ExitStatus> {
    // The demo's own credentials: the simulator accepts any non-empty pair. Set before any
    // thread is started, so that no other thread reads the environment meanwhile.
    for (key, value) in [
        ("TWILIO_API_KEY", "SKdemo0000000000000000000000000000"),
        ("TWILIO_API_SECRET", "demo-secret"),
    ] {
        if std::env::var_os(key).is_none() {
            // SAFETY: single-threaded at this point (no runtime or simulator started yet).
            #[allow(unused_unsafe)]
            unsafe {
                std::env::set_var(key, value)
            };
        }
    }
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
    // The demo's simulator accepts any credentials: give every profile the configuration names
    // a stand-in. The state stays in the demo folder.
    if let Ok(config) = crate::config::Config::parse(&config_text) {
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
            for (var, value) in [
                (&profile.key_env, "SKdemo"),
                (&profile.secret_env, "demo-secret"),
            ] {
                if std::env::var_os(var).is_none() {
                    // SAFETY: still single-threaded, as above.
                    #[allow(unused_unsafe)]
                    unsafe {
                        std::env::set_var(var, value)
                    };
                }
            }
        }
    }
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
        runner,
        config_path: &config_path,
        state_path: &state_path,
        endpoint: &endpoint,
    };
    demo.heading(1, "check the configuration offline");
    demo.step("flexform validate", ExitStatus::Success)?;
    let Some(configured) = configured else {
        bail!("step 1 failed: the configuration did not parse, yet validate passed");
    };
    let names: Vec<&str> = configured.instances.keys().map(String::as_str).collect();

    demo.heading(2, "see what would change, and save the plan for review");
    demo.step("flexform plan --out plan.json", ExitStatus::Success)?;
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
            quote_list(&names),
            plan.resource_changes
                .iter()
                .map(|c| format!("{} {}", c.action, c.address))
                .collect::<Vec<_>>()
                .join(", "),
            plan.diagnostics.len()
        );
    }

    demo.heading(
        3,
        "apply exactly the reviewed plan, and wait until it is ready",
    );
    demo.step("flexform apply plan.json", ExitStatus::Success)?;
    let state = demo.check_state(&sim, &names, 3)?;

    demo.heading(4, "nothing left to do: exit 0");
    let printed = demo.step("flexform plan --detailed-exitcode", ExitStatus::Success)?;
    if !printed.contains("No changes.") {
        bail!("step 4 failed: the plan should say \"No changes.\"");
    }

    let (name, record) = state.instances.iter().next().expect("checked above");
    let deleted = record.flex_instance_sid.clone();
    demo.heading(
        5,
        &format!("someone deletes {deleted} ({name}) outside flexform; drift notices (exit 2)"),
    );
    if !sim.delete_instance(deleted.as_str()) {
        bail!("step 5 failed: the simulator did not know {deleted}");
    }
    let printed = demo.step("flexform drift", ExitStatus::Changes)?;
    let finding = format!("drift flex_instance.{name} (deleted_outside)");
    if !printed.contains(&finding) || !printed.starts_with("Drift: 1 of ") {
        bail!("step 5 failed: drift should report exactly one finding, `{finding}`");
    }

    demo.heading(6, "apply heals it; drift is clean again");
    demo.step("flexform apply --auto-approve", ExitStatus::Success)?;
    let healed = demo.check_state(&sim, &names, 6)?;
    if healed.instances[name.as_str()].flex_instance_sid == deleted {
        bail!("step 6 failed: {name} still records the deleted {deleted}");
    }
    let printed = demo.step("flexform drift", ExitStatus::Success)?;
    if !printed.starts_with("No drift:") {
        bail!("step 6 failed: drift should say \"No drift\"");
    }

    runtime.block_on(sim.shutdown());
    settings
        .out
        .data_line("Demo complete: every step behaved as described (exit codes, the plan's actions, the drift found, the SIDs recorded).");
    if args.dir.is_some() {
        settings.out.data_line(format!(
            "The configuration, state and history are in {}: try `flexform show --state {}`.",
            dir.display(),
            state_path.display()
        ));
    }
    Ok(ExitStatus::Success)
}

struct Demo<'a> {
    settings: &'a Settings,
    runner: Runner,
    config_path: &'a PathBuf,
    state_path: &'a PathBuf,
    endpoint: &'a str,
}

impl Demo<'_> {
    fn heading(&self, number: usize, text: &str) {
        self.settings
            .out
            .data_line(format!("==> Step {number}: {text}"));
    }

    /// Checks that the state records each of `names` as ready, with the SID the simulator
    /// holds for its account.
    fn check_state(
        &self,
        sim: &sim::SimHandle,
        names: &[&str],
        step: usize,
    ) -> anyhow::Result<State> {
        let state = State::load(self.state_path)?
            .with_context(|| format!("step {step} failed: apply wrote no state"))?;
        let live = sim.instances();
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
    /// returns what it printed on stdout.
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
        Ok(printed)
    }
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
