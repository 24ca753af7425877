//! `flexform validate`: check the configuration offline, touching no network and no state.

use crate::cli::exit_status::ExitStatus;
use crate::cli::settings::Settings;
use crate::config::Config;
use crate::support::text::plural;

/// Validates the configuration file and prints a one-line summary on stdout.
pub fn run(settings: &Settings) -> anyhow::Result<ExitStatus> {
    let loaded = Config::load(&settings.config_path)?;
    settings.out.data_line(summary(
        &settings.config_path.display().to_string(),
        &loaded.config,
    ));
    Ok(ExitStatus::Success)
}

/// `flexform.yaml: 3 instances, 1 credentials profile: valid`
pub fn summary(path: &str, config: &Config) -> String {
    let instances = config.instances.len();
    let profiles = config.profile_count();
    format!(
        "{path}: {instances} instance{}, {profiles} credentials profile{}: valid",
        plural(instances),
        plural(profiles)
    )
}
