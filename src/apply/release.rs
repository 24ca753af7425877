//! Apply's plugins step: make the planned release on a ready instance's account.
//!
//! In order: refuse, with nothing sent, when the active release changed since the plan; look
//! up every declared plugin and version the plan did not know (and refuse a declared URL that
//! differs from an existing version's, before any POST); create only what is missing (a plugin
//! by unique name, a version by version string), then one configuration and one release;
//! verify by reading the active release back; record it. An unknown outcome (a 5xx, a lost
//! answer) or a 409 on a plugin or a version is resolved by looking, never by sending again;
//! a release whose outcome is unknown is looked for as the active one.

use std::collections::BTreeMap;

use crate::client::{ApiError, FlexClient, SendGuard};
use crate::config::credentials::Credentials;
use crate::domain::{
    AccountSid, InstanceSid, NewVersion, Plugin, PluginConfiguration, PluginConfigurationSid,
    PluginSid, PluginVersion, PluginVersionSid, Release,
};
use crate::plan::{PluginChange, ReleaseChange, ResourceChange};
use crate::state::{PluginsRecord, ReleasedPlugin, StateUpdate};

use super::context::ApplyContext;
use super::outcome::ApplyError;
use super::writer::WriterHandle;

/// One plugin of the release, once looked up: what exists, and what is still to create.
struct Resolved {
    name: String,
    declared: NewVersion,
    plugin: Option<PluginSid>,
    version: Option<PluginVersionSid>,
}

/// Where one release is made: the account, its credentials, and what stops sending.
struct Releasing<'a> {
    client: &'a FlexClient,
    account: &'a AccountSid,
    credentials: &'a Credentials,
    guard: SendGuard,
    address: &'a str,
}

/// Makes `change`'s planned release on instance `sid` and records it; returns what it
/// changed, in words, with the release's SID.
pub async fn release(
    ctx: &ApplyContext<'_>,
    writer: &WriterHandle,
    change: &ResourceChange,
    credentials: &Credentials,
    sid: &InstanceSid,
) -> Result<String, ApplyError> {
    let Some(planned) = &change.release else {
        return Ok(String::new());
    };
    let r = Releasing {
        client: ctx.client,
        account: &change.account_sid,
        credentials,
        // No POST is sent after a stop request (the step does not start after one either).
        guard: SendGuard {
            stop: ctx.stop.clone(),
            send_by: None,
        },
        address: &change.address,
    };
    r.unchanged_since(planned).await?;
    let declared = declared(ctx, change);
    let mut resolved = Vec::new();
    for plugin in planned.plugins.iter().filter(|p| p.after.is_some()) {
        let Some(version) = declared.get(&plugin.name) else {
            continue;
        };
        resolved.push(r.resolve(plugin, version.clone()).await?);
    }
    let mut versions = Vec::new();
    let mut released = BTreeMap::new();
    for plugin in resolved {
        let plugin_sid = match plugin.plugin {
            Some(sid) => sid,
            None => r.create_plugin(&plugin.name).await?,
        };
        let version_sid = match plugin.version {
            Some(sid) => sid,
            None => {
                r.create_version(&plugin.name, &plugin_sid, &plugin.declared)
                    .await?
            }
        };
        versions.push(version_sid.clone());
        released.insert(
            plugin.name,
            ReleasedPlugin {
                version: plugin.declared.version,
                plugin_sid,
                plugin_version_sid: version_sid,
            },
        );
    }
    // A name of its own, so that a create whose outcome is unknown can be looked for.
    let name = format!(
        "flexform {} {}",
        change.name,
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let configuration = r.create_configuration(&name, &versions).await?;
    let made = r.create_release(&configuration.sid).await?;
    r.verify(&made, &released).await?;
    let record = PluginsRecord {
        release_sid: made.sid.clone(),
        configuration_sid: configuration.sid,
        plugins: released,
    };
    writer
        .write(StateUpdate::Released {
            name: change.name.clone(),
            flex_instance_sid: sid.clone(),
            plugins: record,
        })
        .await
        .map_err(|source| ApplyError::ReleaseNotRecorded {
            address: change.address.clone(),
            release: made.sid.to_string(),
            source,
        })?;
    let described = crate::plan::describe_release(planned);
    Ok(format!("{described} ({})", made.sid))
}

/// The declared versions of `change`'s instance, by unique name.
fn declared(ctx: &ApplyContext<'_>, change: &ResourceChange) -> BTreeMap<String, NewVersion> {
    ctx.config
        .instances
        .get(&change.name)
        .and_then(|spec| spec.declared_versions())
        .unwrap_or_default()
}

impl Releasing<'_> {
    /// One Plugins API request of the release, its error named with `step`.
    async fn step<T>(
        &self,
        step: &str,
        request: impl std::future::Future<Output = Result<T, ApiError>>,
    ) -> Result<T, ApplyError> {
        request.await.map_err(|source| ApplyError::Release {
            address: self.address.to_owned(),
            step: step.to_owned(),
            source,
        })
    }

    /// Refuses when the active release is not the one the plan saw (a plan that saw the
    /// plugins): someone released meanwhile, and releasing now would undo it unreviewed.
    async fn unchanged_since(&self, planned: &ReleaseChange) -> Result<(), ApplyError> {
        if !planned.observed {
            return Ok(());
        }
        let active = self
            .step(
                "reading the active release",
                self.client.active_release(self.account, self.credentials),
            )
            .await?;
        let now = active.as_ref().map(|r| &r.sid);
        if now != planned.before.as_ref() {
            let name = |sid: Option<&crate::domain::ReleaseSid>| {
                sid.map_or_else(|| "none".to_owned(), ToString::to_string)
            };
            return Err(ApplyError::ReleaseChangedSincePlan {
                address: self.address.to_owned(),
                planned: name(planned.before.as_ref()),
                now: name(now),
            });
        }
        Ok(())
    }

    /// What exists of one declared plugin and version: the plan's SIDs, else a look.
    async fn resolve(
        &self,
        plugin: &PluginChange,
        declared: NewVersion,
    ) -> Result<Resolved, ApplyError> {
        let mut resolved = Resolved {
            name: plugin.name.clone(),
            declared,
            plugin: plugin.plugin_sid.clone(),
            version: plugin.plugin_version_sid.clone(),
        };
        if resolved.version.is_some() {
            return Ok(resolved);
        }
        if resolved.plugin.is_none() {
            resolved.plugin = self.find_plugin(&plugin.name).await?.map(|p| p.sid);
        }
        if let Some(plugin_sid) = &resolved.plugin {
            if let Some(existing) = self
                .find_version(&plugin.name, plugin_sid, &resolved.declared.version)
                .await?
            {
                if existing.plugin_url != resolved.declared.plugin_url {
                    return Err(ApplyError::PluginVersionImmutable {
                        name: plugin.name.clone(),
                        version: existing.version,
                        existing: existing.plugin_url,
                        declared: resolved.declared.plugin_url,
                    });
                }
                resolved.version = Some(existing.sid);
            }
        }
        Ok(resolved)
    }

    async fn find_plugin(&self, name: &str) -> Result<Option<Plugin>, ApplyError> {
        self.step(
            &format!("looking for plugin {name}"),
            self.client
                .find_plugin(self.account, self.credentials, name),
        )
        .await
    }

    async fn find_version(
        &self,
        name: &str,
        plugin: &PluginSid,
        version: &str,
    ) -> Result<Option<PluginVersion>, ApplyError> {
        let versions = self
            .step(
                &format!("reading the versions of plugin {name}"),
                self.client
                    .plugin_versions(self.account, self.credentials, plugin),
            )
            .await?;
        Ok(versions.into_iter().find(|v| v.version == version))
    }

    /// Creates plugin `name`; a 409 or an unknown outcome is resolved by looking for it.
    async fn create_plugin(&self, name: &str) -> Result<PluginSid, ApplyError> {
        let sent = self
            .client
            .create_plugin(self.account, self.credentials, name, &self.guard)
            .await;
        crate::failpoint!("apply::release::after_plugin_answer");
        match sent {
            Ok(plugin) => Ok(plugin.sid),
            Err(error) if resolved_by_looking(&error) => match self.find_plugin(name).await? {
                Some(plugin) => Ok(plugin.sid),
                None => Err(self.failed(&format!("creating plugin {name}"), error)),
            },
            Err(error) => Err(self.failed(&format!("creating plugin {name}"), error)),
        }
    }

    /// Creates a version of plugin `name`; a 409 or an unknown outcome is resolved by looking
    /// for it (and its URL checked).
    async fn create_version(
        &self,
        name: &str,
        plugin: &PluginSid,
        declared: &NewVersion,
    ) -> Result<PluginVersionSid, ApplyError> {
        let step = format!("creating version {} of plugin {name}", declared.version);
        let sent = self
            .client
            .create_plugin_version(
                self.account,
                self.credentials,
                plugin,
                declared,
                &self.guard,
            )
            .await;
        crate::failpoint!("apply::release::after_version_answer");
        match sent {
            Ok(version) => Ok(version.sid),
            Err(error) if resolved_by_looking(&error) => {
                match self.find_version(name, plugin, &declared.version).await? {
                    Some(found) if found.plugin_url == declared.plugin_url => Ok(found.sid),
                    Some(found) => Err(ApplyError::PluginVersionImmutable {
                        name: name.to_owned(),
                        version: found.version,
                        existing: found.plugin_url,
                        declared: declared.plugin_url.clone(),
                    }),
                    None => Err(self.failed(&step, error)),
                }
            }
            Err(error) => Err(self.failed(&step, error)),
        }
    }

    /// Creates the configuration `name` holding `versions`; an unknown outcome is resolved by
    /// looking for a configuration of that name.
    async fn create_configuration(
        &self,
        name: &str,
        versions: &[PluginVersionSid],
    ) -> Result<PluginConfiguration, ApplyError> {
        let step = "creating the plugin configuration";
        let sent = self
            .client
            .create_plugin_configuration(
                self.account,
                self.credentials,
                name,
                versions,
                &self.guard,
            )
            .await;
        crate::failpoint!("apply::release::after_configuration_answer");
        match sent {
            Ok(configuration) => Ok(configuration),
            Err(error @ ApiError::OutcomeUnknown { .. }) => {
                let all = self
                    .step(
                        "looking for the plugin configuration",
                        self.client
                            .plugin_configurations(self.account, self.credentials),
                    )
                    .await?;
                match all.into_iter().find(|c| c.name == name) {
                    Some(found) => Ok(found),
                    None => Err(self.failed(step, error)),
                }
            }
            Err(error) => Err(self.failed(step, error)),
        }
    }

    /// Releases `configuration`; an unknown outcome is resolved by reading the active release.
    async fn create_release(
        &self,
        configuration: &PluginConfigurationSid,
    ) -> Result<Release, ApplyError> {
        let sent = self
            .client
            .create_release(self.account, self.credentials, configuration, &self.guard)
            .await;
        crate::failpoint!("apply::release::after_release_answer");
        match sent {
            Ok(release) => Ok(release),
            Err(error @ ApiError::OutcomeUnknown { .. }) => {
                let active = self
                    .step(
                        "reading the active release",
                        self.client.active_release(self.account, self.credentials),
                    )
                    .await?;
                match active {
                    Some(active) if &active.configuration_sid == configuration => Ok(active),
                    _ => Err(self.failed("creating the release", error)),
                }
            }
            Err(error) => Err(self.failed("creating the release", error)),
        }
    }

    /// Reads the active release back: it must be `made`, holding exactly the `released`
    /// versions.
    async fn verify(
        &self,
        made: &Release,
        released: &BTreeMap<String, ReleasedPlugin>,
    ) -> Result<(), ApplyError> {
        let active = self
            .step(
                "reading the active release",
                self.client.active_release(self.account, self.credentials),
            )
            .await?;
        let unverified = |detail: String| ApplyError::ReleaseNotVerified {
            address: self.address.to_owned(),
            detail,
        };
        match &active {
            Some(active) if active.sid == made.sid => {}
            other => {
                return Err(unverified(format!(
                    "release {} is active, not {}",
                    other
                        .as_ref()
                        .map_or_else(|| "none".to_owned(), |r| r.sid.to_string()),
                    made.sid
                )))
            }
        }
        let held = self
            .step(
                "reading the released plugins",
                self.client.configured_plugins(
                    self.account,
                    self.credentials,
                    &made.configuration_sid,
                ),
            )
            .await?;
        let held: BTreeMap<&str, &str> = held
            .iter()
            .map(|p| (p.unique_name.as_str(), p.version.as_str()))
            .collect();
        let declared: BTreeMap<&str, &str> = released
            .iter()
            .map(|(name, p)| (name.as_str(), p.version.as_str()))
            .collect();
        if held != declared {
            return Err(unverified(format!(
                "it holds {held:?}, declared {declared:?}"
            )));
        }
        Ok(())
    }

    fn failed(&self, step: &str, source: ApiError) -> ApplyError {
        ApplyError::Release {
            address: self.address.to_owned(),
            step: step.to_owned(),
            source,
        }
    }
}

/// Whether a failed create is resolved by looking: it may have taken effect (an unknown
/// outcome), or it exists already (a duplicate).
fn resolved_by_looking(error: &ApiError) -> bool {
    matches!(error, ApiError::OutcomeUnknown { .. }) || error.is_already_exists()
}
