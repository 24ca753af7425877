//! The process environment as a value. Only the command line reads the process's variables
//! (`cli::settings`); every stage below it is handed an `Env` and asks it, so that the
//! library reads no environment variable of its own and tests can give it any.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// How an [`Env`] finds a variable's value.
type Lookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// A lookup of environment variables.
#[derive(Clone)]
pub struct Env {
    lookup: Arc<Lookup>,
}

impl Env {
    /// Variables looked up by `lookup`.
    pub fn new(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Self {
            lookup: Arc::new(lookup),
        }
    }

    /// No variable set.
    pub fn empty() -> Self {
        Self::new(|_| None)
    }

    /// Exactly these variables.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let vars: BTreeMap<String, String> = pairs
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Self::new(move |name| vars.get(name).cloned())
    }

    /// These variables where `self` leaves them unset or empty (the demo's stand-in
    /// credentials), `self`'s otherwise.
    pub fn with_defaults(&self, defaults: impl IntoIterator<Item = (String, String)>) -> Self {
        let defaults: BTreeMap<String, String> = defaults.into_iter().collect();
        let base = self.clone();
        Self::new(move |name| {
            base.non_empty(name)
                .or_else(|| defaults.get(name).cloned())
                .or_else(|| base.get(name))
        })
    }

    /// The variable `name`, if set (possibly empty).
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    /// The variable `name`, if set and not empty.
    pub fn non_empty(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.is_empty())
    }
}

/// Never shows a value: variables hold secrets.
impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Env(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_up_what_it_was_given_and_never_prints_a_value() {
        let env = Env::from_pairs([("TWILIO_AUTH_TOKEN", "s3cret"), ("EMPTY", "")]);
        assert_eq!(env.get("TWILIO_AUTH_TOKEN").as_deref(), Some("s3cret"));
        assert_eq!(env.get("EMPTY").as_deref(), Some(""));
        assert_eq!(env.non_empty("EMPTY"), None);
        assert_eq!(env.get("UNSET"), None);
        assert!(!format!("{env:?}").contains("s3cret"));
    }

    #[test]
    fn defaults_fill_only_what_is_unset_or_empty() {
        let env = Env::from_pairs([("A", "given"), ("B", "")]).with_defaults([
            ("A".to_owned(), "default".to_owned()),
            ("B".to_owned(), "filled".to_owned()),
            ("C".to_owned(), "new".to_owned()),
        ]);
        assert_eq!(env.get("A").as_deref(), Some("given"));
        assert_eq!(env.get("B").as_deref(), Some("filled"));
        assert_eq!(env.get("C").as_deref(), Some("new"));
        assert_eq!(env.get("D"), None);
    }
}
