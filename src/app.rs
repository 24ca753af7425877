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
    match run(cli.command, &settings) {
        Ok(status) => status,
        Err(err) => {
            report(&err, &settings);
            ExitStatus::Failure
        }
    }
}

/// Runs one command with resolved settings.
pub fn run(command: Command, settings: &Settings) -> anyhow::Result<ExitStatus> {
    match command {
        Command::Validate => commands::validate::run(settings),
        Command::Schema { kind } => commands::schema::run(kind),
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
