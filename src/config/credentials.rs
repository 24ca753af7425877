//! Credentials per instance, resolved from environment variables before any request is sent.
//!
//! Lookup order: the instance's named profile; else `TWILIO_API_KEY` + `TWILIO_API_SECRET`;
//! else `TWILIO_ACCOUNT_SID` + `TWILIO_AUTH_TOKEN`.

use crate::support::env::Env;
use std::fmt;

use super::secret::Secret;
use super::{Config, InstanceSpec};

/// One username/password pair for HTTP Basic auth.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// API key SID (`SK…`) or account SID (`AC…`): not secret, shown in errors.
    pub username: String,
    /// API key secret or auth token.
    pub password: Secret,
    /// Where the pair came from, e.g. `profile emea (TWILIO_EMEA_API_KEY)`, for error messages.
    pub source: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password)
            .field("source", &self.source)
            .finish()
    }
}

/// Credentials could not be resolved for an instance.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// A variable named by a profile is unset or empty.
    #[error("instance `{instance}`: environment variable {variable} is not set (named by credentials profile `{profile}`); export it, e.g. from your CI secret store")]
    MissingProfileVariable {
        /// The instance that needs it.
        instance: String,
        /// The profile naming the variable.
        profile: String,
        /// The variable.
        variable: String,
    },
    /// One variable of a default pair is set without the other.
    #[error("instance `{instance}`: {set} is set but {missing} is not; set both, or neither")]
    IncompletePair {
        /// The instance that needs it.
        instance: String,
        /// The variable that is set.
        set: String,
        /// The variable that is missing.
        missing: String,
    },
    /// No credentials at all for an instance without a profile.
    #[error("instance `{instance}`: no credentials: set TWILIO_API_KEY and TWILIO_API_SECRET (recommended), or TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, or give the instance a `credentials` profile")]
    NoDefault {
        /// The instance that needs them.
        instance: String,
    },
    /// The instance names a profile the configuration does not declare (validation prevents it).
    #[error("instance `{instance}`: credentials profile `{profile}` is not declared")]
    UnknownProfile {
        /// The instance.
        instance: String,
        /// The profile.
        profile: String,
    },
}

/// Resolves the credentials of every instance in `config`, before any request is sent. All
/// problems are returned together.
pub fn resolve_all(
    config: &Config,
    env: &Env,
) -> Result<std::collections::BTreeMap<String, Credentials>, Vec<CredentialsError>> {
    let mut resolved = std::collections::BTreeMap::new();
    let mut errors = Vec::new();
    for (name, spec) in &config.instances {
        match resolve(config, name, spec, env) {
            Ok(credentials) => {
                resolved.insert(name.clone(), credentials);
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(resolved)
    } else {
        Err(errors)
    }
}

/// Resolves the credentials of instance `name` from the variables of `env`.
pub fn resolve(
    config: &Config,
    name: &str,
    spec: &InstanceSpec,
    env: &Env,
) -> Result<Credentials, CredentialsError> {
    resolve_with(config, name, spec, |var| env.get(var))
}

/// Resolves credentials with `lookup` standing in for the environment (tests).
pub fn resolve_with(
    config: &Config,
    name: &str,
    spec: &InstanceSpec,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Credentials, CredentialsError> {
    let get = |var: &str| lookup(var).filter(|v| !v.is_empty());
    if let Some(profile_name) = &spec.credentials {
        let profile = config.credentials.get(profile_name).ok_or_else(|| {
            CredentialsError::UnknownProfile {
                instance: name.to_owned(),
                profile: profile_name.clone(),
            }
        })?;
        let missing = |variable: &str| CredentialsError::MissingProfileVariable {
            instance: name.to_owned(),
            profile: profile_name.clone(),
            variable: variable.to_owned(),
        };
        let username = get(&profile.key_env).ok_or_else(|| missing(&profile.key_env))?;
        let password = get(&profile.secret_env).ok_or_else(|| missing(&profile.secret_env))?;
        return Ok(Credentials {
            username,
            password: Secret::new(password),
            source: format!("profile {profile_name} ({})", profile.key_env),
        });
    }
    for (key_var, secret_var) in [
        ("TWILIO_API_KEY", "TWILIO_API_SECRET"),
        ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"),
    ] {
        match (get(key_var), get(secret_var)) {
            (Some(username), Some(password)) => {
                return Ok(Credentials {
                    username,
                    password: Secret::new(password),
                    source: format!("default ({key_var})"),
                })
            }
            (Some(_), None) => {
                return Err(CredentialsError::IncompletePair {
                    instance: name.to_owned(),
                    set: key_var.to_owned(),
                    missing: secret_var.to_owned(),
                })
            }
            (None, Some(_)) => {
                return Err(CredentialsError::IncompletePair {
                    instance: name.to_owned(),
                    set: secret_var.to_owned(),
                    missing: key_var.to_owned(),
                })
            }
            (None, None) => {}
        }
    }
    Err(CredentialsError::NoDefault {
        instance: name.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config() -> Config {
        Config::parse(
            "version: 1\ncredentials:\n  emea:\n    key_env: EMEA_KEY\n    secret_env: EMEA_SECRET\ninstances:\n  a:\n    account_sid: AC0123456789abcdef0123456789abcdef\n    credentials: emea\n  b:\n    account_sid: AC0123456789abcdef0123456789abcde0\n",
        )
        .unwrap()
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn profile_variables_are_used_and_missing_ones_named() {
        let c = config();
        let spec = &c.instances["a"];
        let creds = resolve_with(
            &c,
            "a",
            spec,
            env(&[("EMEA_KEY", "SKx"), ("EMEA_SECRET", "s3")]),
        )
        .unwrap();
        assert_eq!(creds.username, "SKx");
        assert_eq!(creds.password.expose(), "s3");
        let err = resolve_with(&c, "a", spec, env(&[("EMEA_KEY", "SKx")])).unwrap_err();
        assert!(err.to_string().contains("EMEA_SECRET"), "{err}");
        assert!(err.to_string().contains("instance `a`"), "{err}");
    }

    #[test]
    fn default_prefers_api_key_then_account_sid() {
        let c = config();
        let spec = &c.instances["b"];
        let both = env(&[
            ("TWILIO_API_KEY", "SK1"),
            ("TWILIO_API_SECRET", "x"),
            ("TWILIO_ACCOUNT_SID", "AC1"),
            ("TWILIO_AUTH_TOKEN", "y"),
        ]);
        assert_eq!(resolve_with(&c, "b", spec, both).unwrap().username, "SK1");
        let token = env(&[("TWILIO_ACCOUNT_SID", "AC1"), ("TWILIO_AUTH_TOKEN", "y")]);
        assert_eq!(resolve_with(&c, "b", spec, token).unwrap().username, "AC1");
        let half = env(&[("TWILIO_API_KEY", "SK1")]);
        let err = resolve_with(&c, "b", spec, half).unwrap_err();
        assert!(err.to_string().contains("TWILIO_API_SECRET"), "{err}");
        let none = env(&[]);
        assert!(matches!(
            resolve_with(&c, "b", spec, none),
            Err(CredentialsError::NoDefault { .. })
        ));
    }

    #[test]
    fn debug_hides_the_password() {
        let c = config();
        let creds = resolve_with(
            &c,
            "a",
            &c.instances["a"],
            env(&[("EMEA_KEY", "SKx"), ("EMEA_SECRET", "topsecret")]),
        )
        .unwrap();
        assert!(!format!("{creds:?}").contains("topsecret"));
    }
}
