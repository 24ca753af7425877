//! Plan against a workspace: load the configuration and the state, choose what `--target`
//! and the scope select (with every name sharing an account with a target), resolve
//! credentials, observe and decide. Nothing is written and nothing is sent but reads.

use std::collections::{BTreeMap, BTreeSet};

use super::{Network, OpsError, Progress, Workspace};
use crate::client::{ClientConfig, FlexClient, RetryPolicy};
use crate::config::credentials::{self, Credentials};
use crate::config::{Config, InstanceSpec, LoadedConfig};
use crate::observe::Clocks;
use crate::plan::{self, Plan, PlanDocument};
use crate::state::{State, StateLocation};
use crate::support::env::Env;

/// Everything a plan was made from, and the plan.
#[derive(Debug)]
pub struct Planned {
    /// The configuration.
    pub config: LoadedConfig,
    /// The state as read (`None`: no state file yet).
    pub state: Option<State>,
    /// Credentials by instance name.
    pub credentials: BTreeMap<String, Credentials>,
    /// The client used to observe (reused by apply).
    pub client: FlexClient,
    /// The decision.
    pub plan: Plan,
    /// The addresses `--target` named (empty: everything).
    pub targets: Vec<String>,
}

impl Planned {
    /// The plan as a document tied to its state and configuration.
    pub fn document(&self) -> PlanDocument {
        let mut document = PlanDocument::new(
            &self.plan,
            self.state.as_ref(),
            self.config.canonical_sha256.clone(),
        );
        document.targets = self.targets.clone();
        document
    }
}

/// Which instances to look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everything in the configuration or the state (plan, apply).
    Everything,
    /// Only instances both configured and recorded (drift: configuration changes not yet
    /// applied are not drift).
    RecordedOnly,
}

/// Plans in a workspace, observing over a network, telling `progress` how far it got.
#[derive(Clone, Copy)]
pub struct Planner<'a> {
    /// Where.
    pub workspace: &'a Workspace,
    /// How requests are sent.
    pub network: &'a Network,
    /// Told while accounts are observed.
    pub progress: &'a dyn Progress,
}

impl Planner<'_> {
    /// Loads, observes and plans.
    pub async fn make_plan(&self, scope: Scope, targets: &[String]) -> Result<Planned, OpsError> {
        let config = Config::load(&self.workspace.config_path)?;
        let location = state_location(self.workspace, Some(&config.config))?;
        let state = location.load().await?;
        let clocks = Clocks {
            local: std::time::SystemTime::now(),
            shared: location.shared_now().await?,
        };
        self.plan_against(config, state, &clocks, scope, targets)
            .await
    }

    /// Observes and plans for a configuration and a state already loaded (apply loads the
    /// state under its lock).
    pub async fn plan_against(
        &self,
        config: LoadedConfig,
        state: Option<State>,
        clocks: &Clocks,
        scope: Scope,
        targets: &[String],
    ) -> Result<Planned, OpsError> {
        let empty = State::empty();
        let full_state = state.as_ref().unwrap_or(&empty);
        check_one_address(full_state)?;
        let targeted = target_names(targets, &config.config, full_state)?;
        let targeted = if targeted.is_empty() {
            targeted
        } else {
            with_account_partners(targeted, &config.config, full_state)
        };
        let narrowed = narrow(&config.config, full_state, scope, &targeted);
        let (desired, state_ref) = match &narrowed {
            Some((desired, view)) => (desired, view),
            None => (&config.config, full_state),
        };
        let env = &self.workspace.env;
        let mut credentials = resolve_credentials(desired, env)?;
        credentials.extend(orphan_pending_credentials(
            desired,
            state_ref,
            &credentials,
            env,
        ));
        let client = client(self.workspace, self.network)?;
        self.progress
            .start(desired.instances.len() as u64, "observing");
        let snapshot = crate::observe::observe(
            &client,
            desired,
            state_ref,
            &credentials,
            usize::from(self.network.parallelism),
            clocks,
            &|| self.progress.inc(),
        )
        .await;
        self.progress.finish();
        let mut plan = plan::plan(desired, state_ref, &snapshot.instances);
        plan::configure(&mut plan, desired, state_ref, &snapshot.configurations);
        plan::release(
            &mut plan,
            &declared_plugins(desired),
            state_ref,
            &snapshot.plugins,
        );
        Ok(Planned {
            targets: targeted.iter().map(|name| plan::address(name)).collect(),
            config,
            state,
            credentials,
            client,
            plan,
        })
    }
}

/// The plugins each instance declares, as the planner reads them.
pub fn declared_plugins(config: &Config) -> plan::DeclaredPlugins {
    config
        .instances
        .iter()
        .filter_map(|(name, spec)| Some((name.clone(), spec.declared_versions()?)))
        .collect()
}

/// What plan and apply look at when they do not look at everything: drift's view (only what is
/// both configured and recorded) and `--target`'s (the targets and their account partners).
/// `None`: the configuration and the state as they are.
fn narrow(
    config: &Config,
    state: &State,
    scope: Scope,
    targeted: &[String],
) -> Option<(Config, State)> {
    let (mut desired, mut view) = match scope {
        Scope::Everything if targeted.is_empty() => return None,
        Scope::Everything => (config.clone(), state.clone()),
        Scope::RecordedOnly => {
            let desired = plan::drift::desired(config, state);
            let view = plan::drift::state_view(&desired, state);
            (desired, view)
        }
    };
    if !targeted.is_empty() {
        let keep = |name: &String| targeted.contains(name);
        desired.instances.retain(|name, _| keep(name));
        view.instances.retain(|name, _| keep(name));
        view.pending.retain(|name, _| keep(name));
    }
    Some((desired, view))
}

/// The API client for a workspace's endpoint (and the proxy its environment names).
pub fn client(workspace: &Workspace, network: &Network) -> Result<FlexClient, OpsError> {
    let config = ClientConfig {
        connect_timeout: network.connect_timeout,
        request_timeout: network.request_timeout,
        retry: RetryPolicy {
            max_attempts: network.max_attempts,
            ..RetryPolicy::default()
        },
        max_in_flight: usize::from(network.parallelism),
        env: workspace.env.clone(),
        ..ClientConfig::new(workspace.endpoint.clone())
    };
    FlexClient::new(config).map_err(OpsError::Client)
}

/// Resolves every instance's credentials, or fails naming each missing variable, before any
/// request is sent.
pub fn resolve_credentials(
    config: &Config,
    env: &Env,
) -> Result<BTreeMap<String, Credentials>, OpsError> {
    credentials::resolve_all(config, env).map_err(OpsError::MissingCredentials)
}

/// Credentials to resolve the interrupted creates of names no longer configured: those of a
/// configured instance on the same account, else the default profile. A name left without
/// any is reported by observation, which then blocks the plan.
pub fn orphan_pending_credentials(
    desired: &Config,
    state: &State,
    resolved: &BTreeMap<String, Credentials>,
    env: &Env,
) -> Vec<(String, Credentials)> {
    state
        .pending
        .iter()
        .filter(|(name, _)| !desired.instances.contains_key(*name))
        .filter_map(|(name, pending)| {
            let same_account = desired.instances.iter().find(|(_, spec)| {
                spec.account_sid
                    .as_str()
                    .eq_ignore_ascii_case(pending.account_sid.as_str())
            });
            let found = match same_account {
                Some((other, _)) => resolved.get(other).cloned(),
                None => {
                    let spec = InstanceSpec {
                        account_sid: pending.account_sid.clone(),
                        credentials: None,
                        conversations: None,
                        configuration: None,
                        plugins: None,
                    };
                    credentials::resolve(desired, name, &spec, env).ok()
                }
            };
            found.map(|creds| (name.clone(), creds))
        })
        .collect()
}

/// Where the state is, from the configuration's `state:` section and the state file.
pub fn state_location(
    workspace: &Workspace,
    config: Option<&Config>,
) -> Result<StateLocation, OpsError> {
    Ok(StateLocation::resolve(
        &workspace.state_path,
        workspace.state_explicit,
        &workspace.config_path,
        config,
        &workspace.env,
    )?)
}

/// The location for commands that may run without a configuration file (show, state,
/// history): the configuration decides the backend when it exists; otherwise the local file.
pub fn state_location_without_config(workspace: &Workspace) -> Result<StateLocation, OpsError> {
    if workspace.config_path.exists() {
        let config = Config::load(&workspace.config_path)?;
        state_location(workspace, Some(&config.config))
    } else {
        state_location(workspace, None)
    }
}

/// The names `targets` (`NAME` or `flex_instance.NAME`) select; an unknown one is an error that
/// lists close names.
pub fn target_names(
    targets: &[String],
    config: &Config,
    state: &State,
) -> Result<Vec<String>, OpsError> {
    let known: Vec<&str> = config
        .instances
        .keys()
        .chain(state.instances.keys())
        .chain(state.pending.keys())
        .map(String::as_str)
        .collect();
    targets
        .iter()
        .map(|target| {
            let name = target.strip_prefix("flex_instance.").unwrap_or(target);
            if known.contains(&name) {
                return Ok(name.to_owned());
            }
            let hint = crate::support::text::suggest(name, &known).map_or_else(String::new, |s| {
                format!("; did you mean `flex_instance.{s}`?")
            });
            Err(OpsError::UnknownTarget {
                target: target.clone(),
                hint,
            })
        })
        .collect()
}

/// The targeted names and every name that shares an account with one of them (configured,
/// recorded or with an interrupted create): a rename's old name, or another name's create
/// still in flight on the same account, decides what may be done for a target, as
/// Terraform's `-target` brings in what a target depends on. Sorted, without duplicates.
pub fn with_account_partners(targeted: Vec<String>, config: &Config, state: &State) -> Vec<String> {
    let accounts_of = |name: &str| -> Vec<String> {
        let configured = config.instances.get(name).map(|s| &s.account_sid);
        let recorded = state.instances.get(name).map(|r| &r.account_sid);
        let pending = state.pending.get(name).map(|p| &p.account_sid);
        [configured, recorded, pending]
            .into_iter()
            .flatten()
            .map(|a| a.as_str().to_ascii_lowercase())
            .collect()
    };
    let every_name: BTreeSet<&String> = config
        .instances
        .keys()
        .chain(state.instances.keys())
        .chain(state.pending.keys())
        .collect();
    let mut names: BTreeSet<String> = targeted.into_iter().collect();
    loop {
        let accounts: BTreeSet<String> = names.iter().flat_map(|n| accounts_of(n)).collect();
        let before = names.len();
        names.extend(
            every_name
                .iter()
                .filter(|n| accounts_of(n).iter().any(|a| accounts.contains(a)))
                .map(|n| (*n).clone()),
        );
        if names.len() == before {
            return names.into_iter().collect();
        }
    }
}

/// Refuses a state that records one instance, or one account, under two names.
pub fn check_one_address(state: &State) -> Result<(), OpsError> {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for (name, record) in &state.instances {
        // Compared without case (SIDs are hex), named as recorded.
        let instance = record.flex_instance_sid.as_str();
        let account = record.account_sid.as_str();
        for (key, what) in [
            (
                format!("instance {}", instance.to_ascii_lowercase()),
                format!("instance {instance}"),
            ),
            (
                format!("account {}", account.to_ascii_lowercase()),
                format!("account {account}"),
            ),
        ] {
            if let Some(first) = seen.insert(key, name) {
                return Err(OpsError::TwoAddresses {
                    what,
                    first: first.to_owned(),
                    first_sid: state.instances[first].flex_instance_sid.to_string(),
                    second: name.clone(),
                    second_sid: instance.to_owned(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sid::{AccountSid, InstanceSid};
    use crate::domain::InstanceStatus;
    use crate::state::{InstanceRecord, Origin, PendingCreate};

    fn account(n: u32) -> String {
        format!("AC{n:032x}")
    }

    fn instance(n: u32) -> String {
        format!("GO{n:032x}")
    }

    /// `a` on account 1 (profile `emea`), `b` on account 2, `c` on account 3.
    fn config() -> Config {
        Config::parse(&format!(
            "version: 1\ncredentials:\n  emea:\n    key_env: EMEA_KEY\n    secret_env: EMEA_SECRET\ninstances:\n  a:\n    account_sid: {}\n    credentials: emea\n  b:\n    account_sid: {}\n  c:\n    account_sid: {}\n",
            account(1),
            account(2),
            account(3)
        ))
        .unwrap()
    }

    fn record(account_n: u32, instance_n: u32) -> InstanceRecord {
        InstanceRecord {
            account_sid: AccountSid::parse(&account(account_n)).unwrap(),
            conversations_default: None,
            date_created: None,
            date_updated: None,
            flex_instance_sid: InstanceSid::parse(&instance(instance_n)).unwrap(),
            observed_at: None,
            origin: Origin::Created,
            status: InstanceStatus::Ready,
            configuration: None,
            plugins: None,
        }
    }

    fn pending(name: &str, account_n: u32) -> PendingCreate {
        PendingCreate {
            account_sid: AccountSid::parse(&account(account_n)).unwrap(),
            address: format!("flex_instance.{name}"),
            conversations_default: None,
            started_at: "2026-01-01T00:00:00Z".into(),
            in_flight_until: None,
            clock: None,
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn targets_take_both_address_forms_and_suggest_a_close_name() {
        let mut state = State::empty();
        state.instances.insert("old".into(), record(9, 9));
        state.pending.insert("gone".into(), pending("gone", 8));
        let picked = target_names(
            &names(&["flex_instance.a", "b", "old", "flex_instance.gone"]),
            &config(),
            &state,
        )
        .unwrap();
        assert_eq!(picked, names(&["a", "b", "old", "gone"]));
        let err = target_names(&names(&["flex_instance.bb"]), &config(), &state).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown target `flex_instance.bb`: no instance of that name in the configuration or the state; did you mean `flex_instance.b`?"
        );
        assert!(target_names(&[], &config(), &state).unwrap().is_empty());
    }

    #[test]
    fn a_target_brings_in_every_name_on_its_account_through_renames_and_pending_creates() {
        let mut state = State::empty();
        // `old` recorded on account 1 (renamed to `a`); `x` interrupted on account 1 and
        // recorded on account 3 (so `c` comes in through it); `b` stays out.
        state.instances.insert("old".into(), record(1, 1));
        state.pending.insert("x".into(), pending("x", 1));
        state.instances.insert("x".into(), record(3, 3));
        let partners = with_account_partners(names(&["a"]), &config(), &state);
        assert_eq!(partners, names(&["a", "c", "old", "x"]));
        // Account SIDs compare without case.
        let mut upper = State::empty();
        let mut shouting = record(2, 5);
        shouting.account_sid =
            AccountSid::parse(&format!("AC{}", &account(2)[2..].to_ascii_uppercase())).unwrap();
        upper.instances.insert("loud".into(), shouting);
        assert_eq!(
            with_account_partners(names(&["b"]), &config(), &upper),
            names(&["b", "loud"])
        );
    }

    #[test]
    fn one_instance_or_account_under_two_names_is_refused_naming_both() {
        let mut state = State::empty();
        state.instances.insert("a".into(), record(1, 1));
        state.instances.insert("b".into(), record(2, 2));
        assert!(check_one_address(&state).is_ok());
        state.instances.insert("c".into(), record(1, 7));
        let err = check_one_address(&state).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "the state records account {} under two addresses, flex_instance.a ({}) and flex_instance.c ({})",
                account(1),
                instance(1),
                instance(7)
            )),
            "{err}"
        );
        assert!(err.contains("`flexform state rm NAME`"), "{err}");
        let mut twice = State::empty();
        twice.instances.insert("a".into(), record(1, 4));
        twice.instances.insert("b".into(), record(2, 4));
        let err = check_one_address(&twice).unwrap_err().to_string();
        assert!(
            err.contains(&format!("records instance {}", instance(4))),
            "{err}"
        );
    }

    #[test]
    fn missing_credentials_name_every_instance_before_anything_is_sent() {
        let err = resolve_credentials(&config(), &Env::empty()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("missing credentials; nothing was sent:\n  - "),
            "{text}"
        );
        assert_eq!(text.matches("\n  - ").count(), 3, "{text}");
        assert!(text.contains("EMEA_KEY"), "{text}");
        let env = Env::from_pairs([
            ("EMEA_KEY", "SKemea"),
            ("EMEA_SECRET", "e"),
            ("TWILIO_API_KEY", "SKdefault"),
            ("TWILIO_API_SECRET", "d"),
        ]);
        let resolved = resolve_credentials(&config(), &env).unwrap();
        assert_eq!(resolved["a"].username, "SKemea");
        assert_eq!(resolved["b"].username, "SKdefault");
    }

    #[test]
    fn an_orphaned_pending_create_borrows_its_accounts_credentials_else_the_default() {
        let env = Env::from_pairs([
            ("EMEA_KEY", "SKemea"),
            ("EMEA_SECRET", "e"),
            ("TWILIO_API_KEY", "SKdefault"),
            ("TWILIO_API_SECRET", "d"),
        ]);
        let resolved = resolve_credentials(&config(), &env).unwrap();
        let mut state = State::empty();
        state
            .pending
            .insert("renamed".into(), pending("renamed", 1));
        state.pending.insert("stray".into(), pending("stray", 7));
        state.pending.insert("a".into(), pending("a", 1));
        let orphans = orphan_pending_credentials(&config(), &state, &resolved, &env);
        let by_name: BTreeMap<_, _> = orphans
            .iter()
            .map(|(n, c)| (n.as_str(), c.username.as_str()))
            .collect();
        // `a` is configured (not an orphan); `renamed` shares account 1 with `a`.
        assert_eq!(
            by_name,
            BTreeMap::from([("renamed", "SKemea"), ("stray", "SKdefault")])
        );
        // Without a default pair, the stray one is left to observation to report.
        let only_emea = Env::from_pairs([("EMEA_KEY", "SKemea"), ("EMEA_SECRET", "e")]);
        let orphans = orphan_pending_credentials(&config(), &state, &resolved, &only_emea);
        assert_eq!(orphans.len(), 1);
        assert_eq!(orphans[0].0, "renamed");
    }

    #[test]
    fn drift_looks_only_at_what_is_configured_and_recorded_and_targets_narrow_both_scopes() {
        let mut state = State::empty();
        state.instances.insert("a".into(), record(1, 1));
        state.instances.insert("b".into(), record(2, 2));
        state.instances.insert("forgotten".into(), record(5, 5));
        assert!(narrow(&config(), &state, Scope::Everything, &[]).is_none());
        let (desired, view) = narrow(&config(), &state, Scope::RecordedOnly, &[]).unwrap();
        assert_eq!(desired.instances.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(view.instances.keys().collect::<Vec<_>>(), ["a", "b"]);
        let (desired, view) = narrow(&config(), &state, Scope::Everything, &names(&["b"])).unwrap();
        assert_eq!(desired.instances.keys().collect::<Vec<_>>(), ["b"]);
        assert_eq!(view.instances.keys().collect::<Vec<_>>(), ["b"]);
        let (desired, _) = narrow(&config(), &state, Scope::RecordedOnly, &names(&["a"])).unwrap();
        assert_eq!(desired.instances.keys().collect::<Vec<_>>(), ["a"]);
    }

    #[test]
    fn the_client_takes_its_proxy_from_the_workspace_environment_not_the_process() {
        let workspace = |env: Env| Workspace {
            config_path: "flexform.yaml".into(),
            state_path: "flexform.state.json".into(),
            state_explicit: false,
            endpoint: "https://flex-api.twilio.com".into(),
            env,
        };
        assert!(client(&workspace(Env::empty()), &Network::default()).is_ok());
        let err = client(
            &workspace(Env::from_pairs([("HTTPS_PROXY", "http://[::1")])),
            &Network::default(),
        )
        .unwrap_err();
        assert!(matches!(err, OpsError::Client(_)), "{err:?}");
        assert_eq!(err.to_string(), "cannot set up the Flex API client");
    }
}
