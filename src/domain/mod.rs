//! The domain: what every stage means by an account, an instance and its status. The client
//! parses into these types, the state records them and the planner decides on them, so none of
//! those stages depends on another for its vocabulary. Depends on nothing but `support`.

pub mod instance;
pub mod plugin;
pub mod sid;

pub use instance::{Discovery, Fetched, Instance, InstanceStatus};
pub use plugin::{
    ConfiguredPlugin, NewVersion, Plugin, PluginConfiguration, PluginVersion, Release,
};
pub use sid::{
    AccountSid, InstanceSid, PluginConfigurationSid, PluginSid, PluginVersionSid, ReleaseSid,
};
