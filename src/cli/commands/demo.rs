//! `flexform demo`: the whole cycle against the built-in simulator, offline, in one command.
//!
//! Each step is the command line a user would type, parsed by the real parser and run by the
//! real command functions; the demo only checks that each step behaved as described.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Parser;

use crate::cli::args::{Cli, Command, DemoArgs};
use crate::cli::context;
use crate::cli::exit_status::ExitStatus;
use crate::cli::settings::Settings;
use crate::sim::{self, SimConfig};
use crate::state::State;

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
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
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
    let config_path = dir.join("flexform.yaml");
    std::fs::write(&config_path, config_text)
        .with_context(|| format!("cannot write {}", config_path.display()))?;
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
    demo.heading(2, "see what would change");
    demo.step("flexform plan", ExitStatus::Success)?;
    demo.heading(3, "create what is missing, and wait until it is ready");
    demo.step("flexform apply --auto-approve", ExitStatus::Success)?;
    let state = State::load(&state_path)?.context("apply wrote no state")?;
    if state.instances.is_empty()
        || state
            .instances
            .values()
            .any(|r| r.status.as_str() != "ready")
    {
        bail!("step 3 failed: the state does not record every instance as ready");
    }
    demo.heading(4, "nothing left to do: exit 0");
    demo.step("flexform plan --detailed-exitcode", ExitStatus::Success)?;

    let (name, record) = state.instances.iter().next().expect("checked above");
    demo.heading(
        5,
        &format!(
            "someone deletes {} ({name}) outside flexform; drift notices (exit 2)",
            record.flex_instance_sid
        ),
    );
    if !sim.delete_instance(record.flex_instance_sid.as_str()) {
        bail!(
            "step 5 failed: the simulator did not know {}",
            record.flex_instance_sid
        );
    }
    demo.step("flexform drift", ExitStatus::Changes)?;
    demo.heading(6, "apply heals it; drift is clean again");
    demo.step("flexform apply --auto-approve", ExitStatus::Success)?;
    demo.step("flexform drift", ExitStatus::Success)?;

    runtime.block_on(sim.shutdown());
    settings
        .out
        .data_line("Demo complete: every step behaved as described.");
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

    /// Runs `line` as a user would type it and checks its exit status.
    fn step(&self, line: &str, expected: ExitStatus) -> anyhow::Result<()> {
        self.settings.out.data_line(format!("$ {line}"));
        let mut words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        words.extend([
            "--config".to_owned(),
            self.config_path.display().to_string(),
            "--state".to_owned(),
            self.state_path.display().to_string(),
            "--endpoint".to_owned(),
            self.endpoint.to_owned(),
        ]);
        let cli = Cli::try_parse_from(&words).with_context(|| format!("`{line}` did not parse"))?;
        let mut settings = Settings::resolve(&cli.global);
        settings.color_stdout = self.settings.color_stdout;
        settings.color_stderr = self.settings.color_stderr;
        settings.stderr_is_terminal = self.settings.stderr_is_terminal;
        let status = (self.runner)(cli.command, &settings);
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
        Ok(())
    }
}
