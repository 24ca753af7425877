//! The command line: the only code that knows clap, the terminal and the process.
//!
//! [`main`] parses the arguments ([`args`]) into resolved [`Settings`] ([`settings`]),
//! dispatches to one command ([`commands`]), and renders any error once, through the one
//! output layer ([`output`]), with its exit code ([`exit_status`]). [`context`] holds what
//! commands share to run the pipeline: the runtime, the client, credentials, the read side
//! (load, observe, decide); [`signals`] turns Ctrl-C and SIGTERM into a stop request.

pub(crate) mod args;
pub(crate) mod commands;
pub(crate) mod context;
pub(crate) mod exit_status;
pub(crate) mod output;
pub(crate) mod progress;
pub(crate) mod settings;
pub(crate) mod signals;

use clap::Parser;

pub use args::{Cli, Command};
pub use exit_status::ExitStatus;
pub use settings::Settings;

use crate::config::ConfigError;
use crate::state::StateError;
use crate::support::stop::Interrupted;

/// A file-size limit (`ulimit -f`, a CI runner's quota) makes a write past it fail with EFBIG
/// instead of killing the process with SIGXFSZ halfway through an append: flexform then
/// keeps what it could not write (an audit entry waits in the state) and says so.
fn ignore_file_size_signal() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to SIG_IGN, once, before any thread starts.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// Runs flexform with the process arguments and returns the exit status.
pub fn main() -> ExitStatus {
    ignore_file_size_signal();
    #[cfg(feature = "failpoints")]
    let _failpoints = crash_at_failpoints();
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
    let settings = match Settings::resolve(&cli.global, &cli.before, &cli.command) {
        Ok(settings) => settings,
        Err(message) => {
            let err = <Cli as clap::CommandFactory>::command()
                .error(clap::error::ErrorKind::ArgumentConflict, message);
            let _ = err.print();
            return ExitStatus::Failure;
        }
    };
    init_logging(&settings);
    run_and_report(cli.command, &settings)
}

/// With the `failpoints` feature: reads `FAILPOINTS`, and makes any panic abort the process
/// at once (no unwinding, no destructors, no final writes), as a crash or SIGKILL would.
#[cfg(feature = "failpoints")]
fn crash_at_failpoints() -> fail::FailScenario<'static> {
    if std::env::var_os("FAILPOINTS").is_some_and(|v| !v.is_empty()) {
        std::panic::set_hook(Box::new(|info| {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "flexform: crashing at {info}");
            std::process::abort();
        }));
    }
    fail::FailScenario::setup()
}

/// Sends log lines to stderr: warnings by default, requests with -v, everything with -vv.
/// Nothing logged ever includes credentials: the Authorization header is never logged.
fn init_logging(settings: &Settings) {
    let filter = settings.out.log_filter(settings.verbose);
    let _ = tracing_subscriber::fmt()
        .with_writer(|| output::LogWriter)
        .log_internal_errors(false)
        .with_ansi(settings.color_stderr)
        .with_target(false)
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .try_init();
}

/// Runs one command and reports its error, if any: the exit status either way.
pub fn run_and_report(command: Command, settings: &Settings) -> ExitStatus {
    match run(command, settings) {
        Ok(status) => status,
        Err(err) if is_interrupted(&err) => {
            settings.out.status(format!("{err}"));
            ExitStatus::Interrupted
        }
        Err(err) => {
            report(&err, settings);
            ExitStatus::Failure
        }
    }
}

/// Whether the command ended because of Ctrl-C or SIGTERM (exit 130, not an error).
fn is_interrupted(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.is::<Interrupted>()
            || matches!(
                cause.downcast_ref::<StateError>(),
                Some(StateError::LockWaitStopped { .. })
            )
    })
}

/// Runs one command with resolved settings.
fn run(command: Command, settings: &Settings) -> anyhow::Result<ExitStatus> {
    match command {
        Command::Validate(_) => commands::validate::run(settings),
        Command::Schema { kind } => commands::schema::run(settings, kind),
        Command::Plan(args) => commands::plan::run(settings, &args),
        Command::Drift(args) => commands::drift::run(settings, &args),
        Command::Apply(args) => commands::apply::run(settings, &args),
        Command::Import(args) => commands::import::run(settings, &args),
        Command::State(command) => commands::state::run(settings, &command),
        Command::ForceUnlock { lock_id, .. } => commands::state::force_unlock(settings, &lock_id),
        Command::Show(args) => commands::show::run(settings, &args),
        Command::History(args) => commands::history::run(settings, &args),
        Command::Report(args) => commands::report::run(settings, &args),
        Command::Sim(args) => commands::sim::run(settings, &args),
        Command::Demo(args) => commands::demo::run(settings, &args, run_and_report),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "flexform", &mut script);
            settings.out.data(String::from_utf8_lossy(&script));
            Ok(ExitStatus::Success)
        }
    }
}

/// Prints an error once, on stderr, in the richest form its type allows.
fn report(err: &anyhow::Error, settings: &Settings) {
    // The library's errors keep the configuration's as their source: found wherever it is.
    if let Some(config_error) = err.chain().find_map(|c| c.downcast_ref::<ConfigError>()) {
        match config_error.snippets(settings.color_stderr) {
            Some(text) => settings.out.raw_stderr(text, true),
            None => {
                settings.out.error(config_error);
                if let Some(help) = config_error.help() {
                    settings.out.help(help);
                }
            }
        }
        return;
    }
    settings.out.error_chain(err);
}
