//! The command line: flags as clap parses them, before they are resolved into settings.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Declarative provisioning of Twilio Flex instances: declare in YAML which accounts must have
/// a Flex instance, `plan` to see the difference, `apply` to create what is missing.
#[derive(Debug, Parser)]
#[command(name = "flexform", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Options that every command accepts.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// `--config`, `--state` and `--endpoint` written before the subcommand, as older
    /// flexform documented (hidden: each subcommand lists the ones it uses).
    #[command(flatten)]
    pub before: BeforeArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts, before or after the subcommand.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
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

/// The workspace options given before the subcommand (`flexform -c x.yaml plan`): accepted
/// for the commands that use them, refused for the others.
#[derive(Debug, Clone, Default, Args)]
pub struct BeforeArgs {
    /// Desired-state file.
    #[arg(short = 'c', long = "config", hide = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// State file.
    #[arg(short = 's', long = "state", hide = true, value_name = "PATH")]
    pub state: Option<PathBuf>,
    /// Base URL of the Flex API.
    #[arg(long = "endpoint", hide = true, value_name = "URL")]
    pub endpoint: Option<String>,
}

/// The configuration file, for commands that read only it.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigArgs {
    /// Desired-state file [default: flexform.yaml].
    #[arg(short = 'c', long, env = "FLEXFORM_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
}

/// The configuration and the state, for commands that read or write the state.
#[derive(Debug, Clone, Default, Args)]
pub struct WorkspaceArgs {
    /// Desired-state file [default: flexform.yaml].
    #[arg(short = 'c', long, env = "FLEXFORM_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// State file [default: flexform.state.json beside the config file].
    #[arg(short = 's', long, env = "FLEXFORM_STATE", value_name = "PATH")]
    pub state: Option<PathBuf>,
}

/// The API endpoint, for commands that talk to the Flex API.
#[derive(Debug, Clone, Args)]
pub struct EndpointArgs {
    /// Base URL of the Flex API (point it at `flexform sim` to work offline)
    /// [default: https://flex-api.twilio.com].
    #[arg(long, env = "FLEXFORM_ENDPOINT", value_name = "URL")]
    pub endpoint: Option<String>,
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
    Validate(ConfigArgs),
    /// Print a JSON Schema: of the configuration file, the state file, or a saved plan.
    Schema {
        /// Which document.
        #[arg(value_enum, default_value_t = SchemaKind::Config)]
        kind: SchemaKind,
    },
    /// Show what apply would do: observe every account, compare with the configuration and
    /// the state. Read-only: never creates anything, never writes the state.
    Plan(PlanArgs),
    /// Check recorded instances against reality (deleted, failed, reconfigured or their plugins
    /// released outside flexform).
    /// Read-only. Exit 0: no drift, 2: drift, 1: error.
    Drift(DriftArgs),
    /// Create the Flex instances that are missing, set their declared Flex configuration,
    /// release their declared plugins, and record every SID in the state.
    Apply(ApplyArgs),
    /// Record an existing instance in the state under NAME (it must be in the configuration).
    Import(ImportArgs),
    /// Inspect or edit the state: list, show, rm, mv, pull, push.
    #[command(subcommand)]
    State(StateCommand),
    /// Clear stale lock info left by a killed run (on S3: delete the lock object with that ID);
    /// refuses while a process holds the lock.
    ForceUnlock {
        /// The lock ID printed by the blocked command.
        lock_id: String,
        /// Where the configuration and state are.
        #[command(flatten)]
        workspace: WorkspaceArgs,
    },
    /// The audit trail, newest first; `history verify` checks that it was not edited.
    History(HistoryArgs),
    /// One read-only audit report of the estate, observed now: each instance with its account,
    /// SID, status, who created it and when, its last change, drift, and whether the trail
    /// verifies.
    Report(ReportArgs),
    /// Render a saved plan (`flexform show plan.json`), or the state when no file is given.
    Show(ShowArgs),
    /// Run a local simulator of the Flex Instances, Configuration and Plugins API, to try
    /// flexform offline and in tests.
    Sim(SimArgs),
    /// Walk through validate, plan, apply, a configuration change, drift and healing, and a
    /// plugins release, against the built-in simulator: no credentials, no network.
    Demo(DemoArgs),
    /// Print a shell completion script.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Options of `flexform demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// A configuration to demo instead of the quickstart (its `state:` section must be local).
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Clear a used --dir before starting (the demo starts from an empty folder).
    #[arg(long, requires = "dir")]
    pub force: bool,
    /// Work in this folder and keep it afterwards (default: a temporary folder, removed).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// How long simulated instances take to become ready.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub ready_after: Duration,
}

/// How to print a plan or a drift report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Terraform-like text for people.
    Human,
    /// One JSON document (schema: `flexform schema plan`).
    Json,
    /// A Markdown summary for pull-request comments.
    Markdown,
}

/// Output format flags shared by plan, drift and show.
#[derive(Debug, Clone, Args)]
pub struct FormatArgs {
    /// Print JSON (the same as --format json).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Output format.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<OutputFormat>,
}

impl FormatArgs {
    /// The chosen format.
    pub fn resolve(&self) -> OutputFormat {
        if self.json {
            OutputFormat::Json
        } else {
            self.format.unwrap_or(OutputFormat::Human)
        }
    }
}

/// Network settings of commands that talk to the Flex API.
#[derive(Debug, Clone, Args)]
pub struct NetArgs {
    /// Most requests in flight at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1000), value_name = "N")]
    pub parallelism: u16,
    /// Time allowed to connect.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub connect_timeout: Duration,
    /// Time allowed for a whole request.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub request_timeout: Duration,
    /// Attempts per read request, the first included (creates are never repeated blindly).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=20), value_name = "N")]
    pub max_attempts: u32,
}

impl From<&NetArgs> for crate::ops::Network {
    fn from(net: &NetArgs) -> Self {
        Self {
            parallelism: net.parallelism,
            connect_timeout: net.connect_timeout,
            request_timeout: net.request_timeout,
            max_attempts: net.max_attempts,
        }
    }
}

/// Options of `flexform plan`.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// Where the configuration and state are.
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
    /// Where the Flex API is.
    #[command(flatten)]
    pub api: EndpointArgs,
    /// Only this instance (`flex_instance.NAME` or `NAME`; repeatable): a partial plan, as
    /// Terraform's `-target`, for the day one account must be fixed while another is broken.
    #[arg(long = "target", value_name = "ADDRESS")]
    pub targets: Vec<String>,
    /// Output format.
    #[command(flatten)]
    pub format: FormatArgs,
    /// Save the plan to FILE for `flexform apply FILE` (JSON, no secrets).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 0 when there is nothing to change and no drift, 2 when there is, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Network settings.
    #[command(flatten)]
    pub net: NetArgs,
}

/// Options of `flexform apply`.
#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    /// Where the configuration and state are.
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
    /// Where the Flex API is.
    #[command(flatten)]
    pub api: EndpointArgs,
    /// Only this instance (`flex_instance.NAME` or `NAME`; repeatable): a partial plan, as
    /// Terraform's `-target`, for the day one account must be fixed while another is broken.
    /// Not with PLANFILE: a saved plan already says what it covers.
    #[arg(long = "target", value_name = "ADDRESS", conflicts_with = "plan_file")]
    pub targets: Vec<String>,
    /// A plan saved by `flexform plan --out`: carry out exactly that plan, without asking.
    #[arg(value_name = "PLANFILE")]
    pub plan_file: Option<PathBuf>,
    /// Do not ask for confirmation (needed when stdin is not a terminal).
    #[arg(long)]
    pub auto_approve: bool,
    /// Return once instances are created, without waiting for them to be ready.
    #[arg(long)]
    pub no_wait: bool,
    /// How long to wait for new instances to become ready.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub wait_timeout: Duration,
    /// How long to wait for the state lock (0s: fail at once if another run holds it).
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub lock_timeout: Duration,
    /// Print events as JSON Lines on stdout instead of text.
    #[arg(long)]
    pub json: bool,
    /// Longest time one instance's create may spend on ambiguous answers (5xx, timeouts):
    /// waiting, looking by discovery, sending again. Then apply gives up on it (exit 1) and the
    /// next run looks again.
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub create_budget: Duration,
    /// After a create answered with a 5xx, how long to wait before looking by discovery
    /// whether it took effect anyway.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub settle_period: Duration,
    /// Network settings.
    #[command(flatten)]
    pub net: NetArgs,
}

/// Options of `flexform import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// Where the configuration and state are.
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
    /// Where the Flex API is.
    #[command(flatten)]
    pub api: EndpointArgs,
    /// The instance name in the configuration (or `flex_instance.NAME`).
    #[arg(value_parser = instance_address)]
    pub name: String,
    /// The existing instance's SID (GO…).
    pub sid: String,
    /// How long to wait for the state lock.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub lock_timeout: Duration,
    /// Network settings.
    #[command(flatten)]
    pub net: NetArgs,
}

/// `flexform state` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum StateCommand {
    /// One line per instance: name, account, SID, status (tab-separated), or JSON.
    List {
        /// One JSON document: the records by name (the state's `instances`).
        #[arg(long)]
        json: bool,
        /// Where the configuration and state are.
        #[command(flatten)]
        workspace: WorkspaceArgs,
    },
    /// One instance's record as JSON.
    Show {
        /// The instance name (or `flex_instance.NAME`).
        #[arg(value_parser = instance_address)]
        name: String,
        /// Where the configuration and state are.
        #[command(flatten)]
        workspace: WorkspaceArgs,
    },
    /// Print the whole state as JSON (from either backend).
    Pull {
        /// Where the configuration and state are.
        #[command(flatten)]
        workspace: WorkspaceArgs,
    },
    /// Replace the state with FILE (refused if its lineage differs or it is not newer, unless
    /// --force). With `pull`, moves a state between a local file, postgres and s3.
    Push {
        /// A state file.
        file: PathBuf,
        /// Replace even a state of another lineage or a newer serial.
        #[arg(long)]
        force: bool,
        /// Where the configuration and state are.
        #[command(flatten)]
        workspace: WorkspaceArgs,

        /// How long to wait for the state lock.
        #[arg(long, default_value = "0s", value_parser = humantime::parse_duration, value_name = "DURATION")]
        lock_timeout: Duration,
    },
    /// Record an instance under a new name (a rename), as `terraform state mv`: refused when
    /// NEW is already recorded.
    Mv {
        /// The name (or `flex_instance.NAME`) it is recorded under.
        #[arg(value_parser = instance_address)]
        old: String,
        /// The new name (or `flex_instance.NAME`).
        #[arg(value_parser = instance_address)]
        new: String,
        /// Where the configuration and state are.
        #[command(flatten)]
        workspace: WorkspaceArgs,

        /// How long to wait for the state lock.
        #[arg(long, default_value = "0s", value_parser = humantime::parse_duration, value_name = "DURATION")]
        lock_timeout: Duration,
    },
    /// Forget an instance (the instance itself is untouched).
    Rm {
        /// The instance name (or `flex_instance.NAME`).
        #[arg(value_parser = instance_address)]
        name: String,
        /// Where the configuration and state are.
        #[command(flatten)]
        workspace: WorkspaceArgs,

        /// How long to wait for the state lock.
        #[arg(long, default_value = "0s", value_parser = humantime::parse_duration, value_name = "DURATION")]
        lock_timeout: Duration,
    },
}

/// How to print a drift report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DriftFormat {
    /// Text for people.
    Human,
    /// One JSON document (schema: `flexform schema plan`).
    Json,
    /// A Markdown summary.
    Markdown,
    /// JUnit XML, one test case per instance, for CI test reports.
    Junit,
}

/// Options of `flexform history`.
#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// Where the configuration and state are.
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
    /// `verify`: check the trail's hash chain against the state (exit 0: intact, 1: broken).
    #[command(subcommand)]
    pub command: Option<HistoryCommand>,
    /// Only entries that changed this instance (`NAME` or `flex_instance.NAME`), and of
    /// each only this instance's changes.
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
    /// Only entries since this time (RFC 3339) or this long ago (`30d`, `12h`).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = HistoryFormat::Human, value_name = "FORMAT")]
    pub format: HistoryFormat,
}

/// Options of `flexform report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Where the configuration and state are.
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
    /// Where the Flex API is.
    #[command(flatten)]
    pub api: EndpointArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Markdown, value_name = "FORMAT")]
    pub format: ReportFormat,
    /// Network settings.
    #[command(flatten)]
    pub net: NetArgs,
}

/// How to print the audit report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// A Markdown document to file.
    Markdown,
    /// One JSON document.
    Json,
    /// CSV, one row per instance.
    Csv,
}

/// `flexform history` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum HistoryCommand {
    /// Check the trail against itself and the state, trusting nothing that can be checked:
    /// exit 0 when it is intact, 1 listing every problem (an edited, deleted, reordered, cut,
    /// extended or unreadable line, an entry the state keeps unwritten, serials without an
    /// entry, a missing anchor or trail, and, with --allowed-signers, an unsigned or wrongly
    /// signed entry).
    Verify {
        /// Where the configuration and state are.
        #[command(flatten)]
        workspace: WorkspaceArgs,
        /// Require every entry to carry an SSH signature (namespace flexform-history) by a key
        /// of this file, in ssh-keygen's allowed-signers format (`principals [options] key`).
        #[arg(long, value_name = "FILE")]
        allowed_signers: Option<std::path::PathBuf>,
        /// With --allowed-signers: only entries whose run ended at this serial or later must
        /// be signed (for a trail that began unsigned).
        #[arg(
            long,
            value_name = "SERIAL",
            requires = "allowed_signers",
            default_value_t = 0
        )]
        signed_since: u64,
    },
}

/// How to print the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HistoryFormat {
    /// Text for people.
    Human,
    /// One JSON document (schema: `flexform schema history`).
    Json,
    /// A Markdown table, with each pipeline run as a link.
    Markdown,
    /// CSV, one row per change.
    Csv,
}

/// Options of `flexform drift`.
#[derive(Debug, Clone, Args)]
pub struct DriftArgs {
    /// Where the configuration and state are.
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
    /// Where the Flex API is.
    #[command(flatten)]
    pub api: EndpointArgs,
    /// Only this instance (`flex_instance.NAME` or `NAME`; repeatable): a partial plan, as
    /// Terraform's `-target`, for the day one account must be fixed while another is broken.
    #[arg(long = "target", value_name = "ADDRESS")]
    pub targets: Vec<String>,
    /// Print JSON (the same as --format json).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Output format.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<DriftFormat>,
    /// Network settings.
    #[command(flatten)]
    pub net: NetArgs,
}

/// Options of `flexform show`.
#[derive(Debug, Clone, Args)]
pub struct ShowArgs {
    /// Where the configuration and state are.
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
    /// A plan saved by `flexform plan --out`; without it, the state is shown.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Output format.
    #[command(flatten)]
    pub format: FormatArgs,
}

/// An instance given as `NAME` or as its address `flex_instance.NAME`, as every command
/// takes it: the name.
pub fn instance_address(text: &str) -> Result<String, String> {
    Ok(text
        .strip_prefix("flex_instance.")
        .unwrap_or(text)
        .to_owned())
}

/// Options of `flexform sim`.
#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8787", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// How long a new instance stays `creation-in-progress` before it turns `ready`.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub ready_after: Duration,
    /// Delay added to every answer.
    #[arg(long, default_value = "0ms", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub latency: Duration,
    /// Share of requests answered with 503 (0.0 to 1.0); POSTs failed this way create nothing.
    #[arg(long, default_value_t = 0.0, value_name = "RATIO")]
    pub fail_rate: f64,
    /// Share of instance creates answered with 503 (Twilio 20503) without creating (0.0 to
    /// 1.0).
    #[arg(long, default_value_t = 0.0, value_name = "RATIO")]
    pub create_fail_rate: f64,
    /// Requests per second beyond which requests are answered 429 with Retry-After.
    #[arg(long, value_name = "RPS")]
    pub rate_limit: Option<f64>,
    /// Accept only this username in Basic auth (else any non-empty pair).
    #[arg(long, requires = "secret", value_name = "KEY")]
    pub key: Option<String>,
    /// Accept only this password in Basic auth, with --key; prefer the environment variable
    /// (set without --key, it is ignored with a warning).
    #[arg(
        long,
        env = "FLEXFORM_SIM_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub secret: Option<String>,
    /// Seed for SIDs and fault injection, for reproducible runs.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Keep simulated accounts in this file across restarts.
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// Serve HTTPS with this certificate chain (PEM), to try trust and proxy set-ups offline.
    #[arg(long, requires = "tls_key", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
}

/// The workspace options a command uses (outer `None`: not used), with their values.
#[derive(Debug, Clone, Default)]
pub struct Uses {
    /// `--config`.
    pub config: Option<Option<PathBuf>>,
    /// `--state`.
    pub state: Option<Option<PathBuf>>,
    /// `--endpoint`.
    pub endpoint: Option<Option<String>>,
}

impl Uses {
    fn workspace(w: &WorkspaceArgs) -> Self {
        Self {
            config: Some(w.config.clone()),
            state: Some(w.state.clone()),
            endpoint: None,
        }
    }

    fn api(w: &WorkspaceArgs, api: &EndpointArgs) -> Self {
        Self {
            endpoint: Some(api.endpoint.clone()),
            ..Self::workspace(w)
        }
    }
}

impl Command {
    /// Which of `--config`, `--state` and `--endpoint` this command uses, with their values.
    pub fn uses(&self) -> Uses {
        match self {
            Command::Validate(c) => Uses {
                config: Some(c.config.clone()),
                ..Uses::default()
            },
            Command::Demo(d) => Uses {
                config: Some(d.config.config.clone()),
                ..Uses::default()
            },
            Command::Plan(a) => Uses::api(&a.workspace, &a.api),
            Command::Apply(a) => Uses::api(&a.workspace, &a.api),
            Command::Drift(a) => Uses::api(&a.workspace, &a.api),
            Command::Import(a) => Uses::api(&a.workspace, &a.api),
            Command::Report(a) => Uses::api(&a.workspace, &a.api),
            Command::Show(a) => Uses::workspace(&a.workspace),
            Command::History(a) => {
                let parent = &a.workspace;
                match &a.command {
                    // `history --config x verify` and `history verify --config x` both work.
                    Some(HistoryCommand::Verify { workspace: w, .. }) => Uses {
                        config: Some(w.config.clone().or_else(|| parent.config.clone())),
                        state: Some(w.state.clone().or_else(|| parent.state.clone())),
                        endpoint: None,
                    },
                    None => Uses::workspace(parent),
                }
            }
            Command::ForceUnlock { workspace, .. } => Uses::workspace(workspace),
            Command::State(command) => Uses::workspace(command.workspace()),
            Command::Schema { .. } | Command::Sim(_) | Command::Completions { .. } => {
                Uses::default()
            }
        }
    }
}

impl StateCommand {
    /// The workspace options of any `state` subcommand.
    pub fn workspace(&self) -> &WorkspaceArgs {
        match self {
            StateCommand::List { workspace, .. }
            | StateCommand::Show { workspace, .. }
            | StateCommand::Pull { workspace }
            | StateCommand::Push { workspace, .. }
            | StateCommand::Mv { workspace, .. }
            | StateCommand::Rm { workspace, .. } => workspace,
        }
    }
}

/// Documents that have a JSON Schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaKind {
    /// The desired-state file (flexform.yaml).
    Config,
    /// The state file (flexform.state.json).
    State,
    /// A saved plan and `plan --json` output.
    Plan,
    /// `flexform history --format json` output.
    History,
}
