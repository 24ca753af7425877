//! `Settings`: the global flags resolved once (paths, colour, verbosity) for every command.

use std::io::IsTerminal;
use std::path::PathBuf;

use super::args::{ColorChoice, GlobalArgs};
use super::output::Printer;

/// Global options after defaults and the environment have been applied.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The desired-state file.
    pub config_path: PathBuf,
    /// Whether `--config`/`FLEXFORM_CONFIG` named it (rather than the default).
    pub config_explicit: bool,
    /// The state file.
    pub state_path: PathBuf,
    /// Whether `--state`/`FLEXFORM_STATE` named the state file explicitly.
    pub state_explicit: bool,
    /// Flex API base URL.
    pub endpoint: String,
    /// Colour on stdout.
    pub color_stdout: bool,
    /// Colour on stderr.
    pub color_stderr: bool,
    /// Whether stderr is a terminal (progress bars, prompts).
    pub stderr_is_terminal: bool,
    /// Whether stdin is a terminal (confirmation prompts).
    pub stdin_is_terminal: bool,
    /// `-v` count.
    pub verbose: u8,
    /// `-q`.
    pub quiet: bool,
    /// Where every message goes.
    pub out: Printer,
}

impl Settings {
    /// Resolves the global flags.
    pub fn resolve(args: &GlobalArgs) -> Self {
        let config_path = args
            .config
            .clone()
            .unwrap_or_else(|| PathBuf::from("flexform.yaml"));
        let state_path = match &args.state {
            Some(p) => p.clone(),
            None => config_path
                .parent()
                .map(|dir| dir.join("flexform.state.json"))
                .unwrap_or_else(|| PathBuf::from("flexform.state.json")),
        };
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let decide = |is_terminal: bool| match args.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_terminal && !no_color,
        };
        let stdout_tty = std::io::stdout().is_terminal();
        let stderr_tty = std::io::stderr().is_terminal();
        Self {
            config_explicit: args.config.is_some(),
            config_path,
            state_path,
            state_explicit: args.state.is_some(),
            endpoint: args.endpoint.clone(),
            color_stdout: decide(stdout_tty),
            color_stderr: decide(stderr_tty),
            stderr_is_terminal: stderr_tty,
            stdin_is_terminal: std::io::stdin().is_terminal(),
            verbose: args.verbose,
            quiet: args.quiet,
            out: Printer::new(args.quiet, decide(stderr_tty)),
        }
    }
}
