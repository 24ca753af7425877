//! `run`: parses the command line, dispatches to a command, and renders any error once.

use std::io::Write;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::commands;
use crate::config_error::ConfigError;
use crate::exit_status::ExitStatus;
use crate::settings::Settings;

/// Runs flexform with the process arguments and returns the exit status.
pub fn main() -> ExitStatus {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitStatus::Failure
            } else {
                ExitStatus::Success
            };
        }
    };
    let settings = Settings::resolve(&cli.global);
    init_logging(&settings);
    match run(cli.command, &settings) {
        Ok(status) => status,
        Err(err) => {
            report(&err, &settings);
            ExitStatus::Failure
        }
    }
}

/// Sends log lines to stderr: warnings by default, requests with -v, everything with -vv.
/// Nothing logged ever includes credentials: the Authorization header is never logged.
fn init_logging(settings: &Settings) {
    let filter = match (settings.quiet, settings.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "warn,flexform=debug",
        (false, _) => "debug,flexform=trace",
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(settings.color_stderr)
        .with_target(false)
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .try_init();
}

/// Runs one command with resolved settings.
pub fn run(command: Command, settings: &Settings) -> anyhow::Result<ExitStatus> {
    match command {
        Command::Validate => commands::validate::run(settings),
        Command::Schema { kind } => commands::schema::run(kind),
        Command::Plan(args) => commands::plan::run(settings, &args),
        Command::Drift(args) => commands::drift::run(settings, &args),
        Command::Apply(args) => commands::apply::run(settings, &args),
        Command::Import(args) => commands::import::run(settings, &args),
        Command::State(command) => commands::state::run(settings, &command),
        Command::ForceUnlock { lock_id } => commands::state::force_unlock(settings, &lock_id),
        Command::Show(args) => commands::show::run(settings, &args),
        Command::Sim(args) => commands::sim::run(&args),
        Command::Demo(args) => commands::demo::run(settings, &args),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "flexform", &mut std::io::stdout());
            Ok(ExitStatus::Success)
        }
    }
}

/// Prints an error once, on stderr, in the richest form its type allows.
pub fn report(err: &anyhow::Error, settings: &Settings) {
    let mut stderr = std::io::stderr().lock();
    if let Some(config_error) = err.downcast_ref::<ConfigError>() {
        let _ = write!(stderr, "{}", config_error.render(settings.color_stderr));
        return;
    }
    let _ = writeln!(stderr, "error: {err:#}");
}
