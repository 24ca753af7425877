//! The command line: flags as clap parses them, before they are resolved into settings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Declarative provisioning of Twilio Flex instances: declare in YAML which accounts must have
/// a Flex instance, `plan` to see the difference, `apply` to create what is missing.
#[derive(Debug, Parser)]
#[command(name = "flexform", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Options that every command accepts.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options accepted before or after the subcommand.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Desired-state file.
    #[arg(
        short = 'c',
        long,
        global = true,
        env = "FLEXFORM_CONFIG",
        default_value = "flexform.yaml",
        value_name = "PATH"
    )]
    pub config: PathBuf,

    /// State file [default: flexform.state.json beside the config file].
    #[arg(
        short = 's',
        long,
        global = true,
        env = "FLEXFORM_STATE",
        value_name = "PATH"
    )]
    pub state: Option<PathBuf>,

    /// Base URL of the Flex API (point it at `flexform sim` to work offline).
    #[arg(
        long,
        global = true,
        env = "FLEXFORM_ENDPOINT",
        default_value = "https://flex-api.twilio.com",
        value_name = "URL"
    )]
    pub endpoint: String,

    /// When to colour output: `auto` colours a terminal unless NO_COLOR is set.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// More detail on stderr (-v: requests, -vv: everything). Never shows secrets.
    #[arg(short = 'v', long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only errors on stderr.
    #[arg(short = 'q', long, global = true)]
    pub quiet: bool,
}

/// When to use colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when the stream is a terminal and NO_COLOR is not set.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the configuration file offline: syntax, types, SIDs, names, profiles.
    Validate,
    /// Print a JSON Schema: of the configuration file, the state file, or a saved plan.
    Schema {
        /// Which document.
        #[arg(value_enum, default_value_t = SchemaKind::Config)]
        kind: SchemaKind,
    },
}

/// Documents that have a JSON Schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaKind {
    /// The desired-state file (flexform.yaml).
    Config,
}
