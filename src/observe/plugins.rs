//! What the Plugins API shows of an instance that declares `plugins:`: the active release and
//! the plugin versions it holds, then, for each declared plugin not at its declared version in
//! it, whether the plugin exists and which versions it has. Read right after the instance, in
//! the same slot; an instance without `plugins:` gets no Plugins API request at all.

use std::collections::BTreeMap;

use crate::client::{ApiError, FlexClient};
use crate::config::credentials::Credentials;
use crate::config::plugins::DeclaredPlugins;
use crate::domain::AccountSid;

use super::model::{PluginObservation, PluginsSeen, SeenPlugin};

/// Reads the plugins of `account` as far as `declared` needs them.
pub async fn plugins_of(
    client: &FlexClient,
    creds: &Credentials,
    account: &AccountSid,
    declared: &DeclaredPlugins,
) -> PluginObservation {
    match read(client, creds, account, declared).await {
        Ok(seen) => PluginObservation::Observed(seen),
        Err(e) => PluginObservation::Failed(e.to_string()),
    }
}

/// The reads of [`plugins_of`].
pub async fn read(
    client: &FlexClient,
    creds: &Credentials,
    account: &AccountSid,
    declared: &DeclaredPlugins,
) -> Result<PluginsSeen, ApiError> {
    let active = client.active_release(account, creds).await?;
    let released = match &active {
        Some(release) => {
            client
                .configured_plugins(account, creds, &release.configuration_sid)
                .await?
        }
        None => Vec::new(),
    };
    let mut plugins = BTreeMap::new();
    for (name, spec) in declared {
        let in_release = released
            .iter()
            .any(|p| &p.unique_name == name && p.version == spec.version);
        if in_release {
            continue;
        }
        let seen = match client.find_plugin(account, creds, name).await? {
            Some(plugin) => {
                let versions = client.plugin_versions(account, creds, &plugin.sid).await?;
                Some(SeenPlugin { plugin, versions })
            }
            None => None,
        };
        plugins.insert(name.clone(), seen);
    }
    Ok(PluginsSeen {
        active,
        released,
        plugins,
    })
}
