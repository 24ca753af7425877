//! `Settings`: the global flags resolved once (paths, colour, verbosity) for every command.

use std::io::IsTerminal;
use std::path::PathBuf;

use super::args::{BeforeArgs, ColorChoice, Command, GlobalArgs};
use super::output::Printer;
use crate::ops::Workspace;
use crate::support::env::Env;

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
    /// Where every message goes; the one place `-q` is honoured.
    pub out: Printer,
    /// The process's environment variables: read here, handed to the library as a value.
    pub env: Env,
}

impl Settings {
    /// Resolves the global flags and the workspace options `command` uses; those given
    /// before the subcommand (`before`) count when the subcommand does not repeat them, and
    /// are refused for a command that does not use them.
    pub fn resolve(
        args: &GlobalArgs,
        before: &BeforeArgs,
        command: &Command,
    ) -> Result<Self, String> {
        let uses = command.uses();
        let merge = |used: Option<Option<PathBuf>>, given: &Option<PathBuf>, flag: &str| match (
            used, given,
        ) {
            (None, Some(_)) => Err(format!(
                "this command does not use {flag}; see its --help for the options it takes"
            )),
            (None, None) => Ok(None),
            (Some(own), given) => Ok(own.or_else(|| given.clone())),
        };
        let config = merge(uses.config, &before.config, "--config")?;
        let state = merge(uses.state, &before.state, "--state")?;
        let endpoint =
            match (uses.endpoint, &before.endpoint) {
                (None, Some(_)) => return Err(
                    "this command does not use --endpoint; see its --help for the options it takes"
                        .to_owned(),
                ),
                (None, None) => None,
                (Some(own), given) => own.or_else(|| given.clone()),
            };
        let config_path = config
            .clone()
            .unwrap_or_else(|| PathBuf::from("flexform.yaml"));
        let state_path = match &state {
            Some(p) => p.clone(),
            None => config_path
                .parent()
                .map(|dir| dir.join("flexform.state.json"))
                .unwrap_or_else(|| PathBuf::from("flexform.state.json")),
        };
        let env = Env::new(|name| std::env::var(name).ok());
        let no_color = env.non_empty("NO_COLOR").is_some();
        let decide = |is_terminal: bool| match args.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_terminal && !no_color,
        };
        let stdout_tty = std::io::stdout().is_terminal();
        let stderr_tty = std::io::stderr().is_terminal();
        Ok(Self {
            config_explicit: config.is_some(),
            config_path,
            state_path,
            state_explicit: state.is_some(),
            endpoint: endpoint.unwrap_or_else(|| crate::client::DEFAULT_ENDPOINT.to_owned()),
            color_stdout: decide(stdout_tty),
            color_stderr: decide(stderr_tty),
            stderr_is_terminal: stderr_tty,
            stdin_is_terminal: std::io::stdin().is_terminal(),
            verbose: args.verbose,
            out: Printer::new(args.quiet, decide(stderr_tty)).with_terminal(stderr_tty),
            env,
        })
    }

    /// Where the library works: the paths, the endpoint and the environment.
    pub fn workspace(&self) -> Workspace {
        Workspace {
            config_path: self.config_path.clone(),
            state_path: self.state_path.clone(),
            state_explicit: self.state_explicit,
            endpoint: self.endpoint.clone(),
            env: self.env.clone(),
        }
    }
}
