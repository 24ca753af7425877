//! Drift's scope: the plan narrowed to instances that are both configured and recorded, for
//! nightly checks and audits. Configuration changes not yet applied are not drift. (The drift
//! report is rendered by [`crate::render::drift`].)

use crate::config::Config;
use crate::state::State;

/// The configuration drift observes: only instances the state records.
pub fn desired(config: &Config, state: &State) -> Config {
    let mut desired = config.clone();
    desired
        .instances
        .retain(|name, _| state.instances.contains_key(name));
    desired
}

/// The state drift plans against: records of configured instances, without pending creates
/// (an interrupted create is apply's business, not drift).
pub fn state_view(desired: &Config, state: &State) -> State {
    let mut view = state.clone();
    view.instances
        .retain(|name, _| desired.instances.contains_key(name));
    view.pending.clear();
    view
}
