//! The demo's Flex plugins steps (9 to 12): a plugin declared in flexform.yaml, the plan's
//! plugins release, apply releasing it, a release made from "Twilio's CLI" (the simulator's
//! control) reported as drift, and apply healing it.

use std::collections::BTreeMap;

use anyhow::{bail, Context};

use super::{rewritten, ConfigEdit, Demo};
use crate::cli::exit_status::ExitStatus;
use crate::config::plugins::PluginSpec;
use crate::config::Config;
use crate::sim::SimHandle;
use crate::state::State;

/// The version the demo declares.
const DECLARED: &str = "1.0.0";

/// The version "Twilio's CLI" releases behind flexform's back.
const RELEASED_OUTSIDE: &str = "0.9.0";

impl Demo<'_> {
    /// Steps 9 to 12, on the instance whose configuration step 5 changed.
    pub(super) fn plugin_steps(&self, edit: &ConfigEdit) -> anyhow::Result<()> {
        let text = std::fs::read_to_string(self.config_path)
            .with_context(|| format!("cannot read {}", self.config_path.display()))?;
        let Ok(config) = Config::parse(&text) else {
            bail!("step 9 failed: flexform.yaml no longer parses");
        };
        let plugin = PluginEdit::new(&text, &config, &edit.name)?;
        self.declare_plugin(&plugin)?;
        self.release_declared(&plugin)?;
        self.release_outside(&plugin)?;
        self.heal_release(&plugin)
    }

    /// Step 9: declares the plugin in flexform.yaml and checks that the plan releases it.
    fn declare_plugin(&self, plugin: &PluginEdit) -> anyhow::Result<()> {
        self.heading(
            9,
            &format!(
                "declare a Flex plugin in flexform.yaml (flex_instance.{}: {} {DECLARED}); the plan shows the plugins release",
                plugin.name, plugin.plugin
            ),
        );
        std::fs::write(self.config_path, &plugin.text)
            .with_context(|| format!("cannot write {}", self.config_path.display()))?;
        let out = &self.settings.out;
        out.data_line("(edited flexform.yaml)");
        for line in &plugin.shown {
            out.data_line(line);
        }
        out.data_line("");
        let printed = self.step("flexform plan", ExitStatus::Success)?;
        let line = format!("+ {} {DECLARED} (new plugin, new version)", plugin.plugin);
        let header = format!("# flex_instance.{} will be updated in-place", plugin.name);
        if !printed.contains(&line)
            || !printed.contains(&header)
            || !printed.contains(" 1 to release,")
            || !printed.contains("Drift: 0.")
        {
            bail!(
                "step 9 failed: the plan should release the plugins of flex_instance.{} only, showing `{line}`",
                plugin.name
            );
        }
        Ok(())
    }

    /// Step 10: applies the release; checks the simulator's active release and the state's
    /// record of it, then that nothing is left to do.
    fn release_declared(&self, plugin: &PluginEdit) -> anyhow::Result<()> {
        self.heading(
            10,
            "apply creates the plugin and its version, then releases the declared set; nothing left to do",
        );
        let printed = self.step("flexform apply --auto-approve", ExitStatus::Success)?;
        if !printed.contains("1 updated") {
            bail!("step 10 failed: apply should report \"1 updated\"");
        }
        plugin.check_released(self.sim, self.state_path, 10)?;
        self.expect_no_changes(10)
    }

    /// Step 11: releases an older version of the plugin as Twilio's CLI would, and checks that
    /// drift reports it.
    fn release_outside(&self, plugin: &PluginEdit) -> anyhow::Result<()> {
        self.heading(
            11,
            &format!(
                "someone releases {} {RELEASED_OUTSIDE} with Twilio's CLI; drift notices (exit 2)",
                plugin.plugin
            ),
        );
        let outside: Vec<(&str, &str)> = plugin
            .declared
            .iter()
            .map(|(name, version)| {
                let version = if *name == plugin.plugin {
                    RELEASED_OUTSIDE
                } else {
                    version.as_str()
                };
                (name.as_str(), version)
            })
            .collect();
        self.settings.out.data_line(format!(
            "(as `twilio flex:plugins:release --plugin {}@{RELEASED_OUTSIDE}` would on {}: here the simulator's control does it, as POST /_sim/plugins/{}/release)\n",
            plugin.plugin, plugin.account, plugin.account
        ));
        self.sim.release_outside(&plugin.account, &outside);
        let printed = self.step("flexform drift", ExitStatus::Changes)?;
        let finding = format!("drift flex_instance.{} (release_changed)", plugin.name);
        let change = format!("{} {RELEASED_OUTSIDE} -> {DECLARED}", plugin.plugin);
        if !printed.contains(&finding)
            || !printed.contains(&change)
            || !printed.starts_with("Drift: 1 of ")
        {
            bail!("step 11 failed: drift should report exactly one finding, `{finding}`, naming `{change}`");
        }
        Ok(())
    }

    /// Step 12: apply releases the declared versions again, and drift is clean again.
    fn heal_release(&self, plugin: &PluginEdit) -> anyhow::Result<()> {
        self.heading(
            12,
            "apply releases the declared versions again (the version exists: reused); drift is clean again",
        );
        let printed = self.step("flexform apply --auto-approve", ExitStatus::Success)?;
        let line = format!(
            "~ {} {RELEASED_OUTSIDE} -> {DECLARED} (existing version)",
            plugin.plugin
        );
        if !printed.contains(&line) || !printed.contains("1 updated") {
            bail!("step 12 failed: apply should release again, showing `{line}`");
        }
        plugin.check_released(self.sim, self.state_path, 12)?;
        let printed = self.step("flexform drift", ExitStatus::Success)?;
        if !printed.starts_with("No drift:") {
            bail!("step 12 failed: drift should say \"No drift\"");
        }
        Ok(())
    }
}

/// The change the demo makes to flexform.yaml in step 9: one more plugin declared by one
/// instance, a name it does not declare yet.
pub(super) struct PluginEdit {
    /// The instance.
    name: String,
    /// Its account.
    account: String,
    /// The plugin's unique name.
    plugin: String,
    /// Every plugin the instance declares after the edit: unique name -> version.
    declared: BTreeMap<String, String>,
    /// The new text of flexform.yaml.
    text: String,
    /// The edit as shown to the user.
    shown: Vec<String>,
}

impl PluginEdit {
    /// Plans the edit of `text` (which parsed as `config`) on the instance `name`: a
    /// `plugins:` section inserted after its `account_sid:` line when that is unambiguous and
    /// the instance declares no plugins yet, keeping the comments; otherwise the file is
    /// rewritten from the parsed document, as JSON (which is YAML), keeping its header comment.
    /// Either way the result must parse as `config` with only that plugin added.
    fn new(text: &str, config: &Config, name: &str) -> anyhow::Result<Self> {
        let Some(spec) = config.instances.get(name) else {
            bail!("step 9 failed: flexform.yaml no longer declares {name}");
        };
        let account = spec.account_sid.as_str().to_owned();
        let taken = |candidate: &String| {
            spec.declared_plugins()
                .is_some_and(|p| p.contains_key(candidate))
        };
        let plugin = std::iter::once("plugin-hello".to_owned())
            .chain((2..).map(|n| format!("plugin-hello-{n}")))
            .find(|candidate| !taken(candidate))
            .expect("an unused name");
        let mut expected = config.clone();
        let plugins = expected
            .instances
            .get_mut(name)
            .expect("found above")
            .plugins
            .get_or_insert_with(Default::default);
        plugins.insert(
            plugin.clone(),
            PluginSpec {
                version: DECLARED.to_owned(),
                url: bundle_url(&plugin),
                private: true,
                changelog: None,
            },
        );
        let declared = plugins
            .iter()
            .map(|(n, p)| (n.clone(), p.version.clone()))
            .collect();
        let means_expected =
            |candidate: &str| Config::parse(candidate).is_ok_and(|parsed| parsed == expected);
        let in_place = inserted_in_place(text, &account, &plugin)
            .filter(|(candidate, _)| spec.plugins.is_none() && means_expected(candidate));
        let (text, shown) = match in_place {
            Some(edited) => edited,
            None => {
                let candidate = rewritten(text, &expected)?;
                if !means_expected(&candidate) {
                    bail!("step 9 failed: the edited configuration does not read back as written");
                }
                let shown = vec![format!(
                    "  instances.{name}.plugins.{plugin}: version {DECLARED} (the file rewritten from its parsed form, as JSON, which YAML reads)"
                )];
                (candidate, shown)
            }
        };
        Ok(Self {
            name: name.to_owned(),
            account,
            plugin,
            declared,
            text,
            shown,
        })
    }

    /// Checks that the simulator's active release holds exactly the declared versions, and
    /// that the state records that release with those versions.
    fn check_released(
        &self,
        sim: &SimHandle,
        state_path: &std::path::Path,
        step: usize,
    ) -> anyhow::Result<()> {
        let (active, held) = active_release(sim, &self.account);
        if held != self.declared {
            bail!(
                "step {step} failed: the active release of {} holds {held:?}, {:?} was declared",
                self.name,
                self.declared
            );
        }
        let state = State::load(state_path)?
            .with_context(|| format!("step {step} failed: apply wrote no state"))?;
        let record = state
            .instances
            .get(&self.name)
            .and_then(|r| r.plugins.as_ref());
        let recorded = record.map(|r| {
            let versions: BTreeMap<String, String> = r
                .plugins
                .iter()
                .map(|(n, p)| (n.clone(), p.version.clone()))
                .collect();
            (r.release_sid.as_str().to_owned(), versions)
        });
        if recorded != active.map(|sid| (sid, held)) {
            bail!(
                "step {step} failed: the state should record the active release of {} and its versions",
                self.name
            );
        }
        Ok(())
    }
}

/// Where the demo's plugin bundle is served from (as the simulator's releases from outside).
fn bundle_url(plugin: &str) -> String {
    format!("https://assets.example.test/{plugin}/{DECLARED}/bundle.js")
}

/// The account's active release at the simulator, and the versions it holds by unique name.
fn active_release(sim: &SimHandle, account: &str) -> (Option<String>, BTreeMap<String, String>) {
    let all = sim.plugins(account);
    let Some(configuration) = all["active"]["configuration_sid"].as_str() else {
        return (None, BTreeMap::new());
    };
    let held = all["configurations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["sid"] == configuration)
        .flat_map(|c| c["plugins"].as_array().into_iter().flatten())
        .filter_map(|p| Some((p["unique_name"].as_str()?, p["version"].as_str()?)))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    let sid = all["active"]["sid"].as_str().map(str::to_owned);
    (sid, held)
}

/// `text` with a `plugins:` section declaring `plugin` inserted after its one line
/// `account_sid: {account}` (at that line's indent), and the lines added as shown to the user;
/// `None` unless the file has exactly one such line.
fn inserted_in_place(text: &str, account: &str, plugin: &str) -> Option<(String, Vec<String>)> {
    let lines: Vec<&str> = text.lines().collect();
    let matching: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, line)| line.trim_start().starts_with("account_sid:") && line.contains(account))
        .map(|(i, _)| i)
        .collect();
    let [index] = matching.as_slice() else {
        return None;
    };
    let line = lines[*index];
    let indent = &line[..line.len() - line.trim_start().len()];
    let added = [
        format!("{indent}plugins:                   # the active release holds exactly these"),
        format!("{indent}  {plugin}:"),
        format!("{indent}    version: \"{DECLARED}\""),
        format!("{indent}    url: {}", bundle_url(plugin)),
    ];
    let mut edited: Vec<&str> = lines[..=*index].to_vec();
    edited.extend(added.iter().map(String::as_str));
    edited.extend(&lines[*index + 1..]);
    let mut candidate = edited.join("\n");
    if text.ends_with('\n') {
        candidate.push('\n');
    }
    let shown = added.iter().map(|l| format!("+ {l}")).collect();
    Some((candidate, shown))
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUICKSTART: &str = super::super::QUICKSTART;

    fn edit(text: &str, name: &str) -> PluginEdit {
        PluginEdit::new(text, &Config::parse(text).unwrap(), name).unwrap()
    }

    #[test]
    fn the_quickstart_gains_a_plugins_section_after_its_account_keeping_its_comments() {
        let edit = edit(QUICKSTART, "support");
        assert_eq!(edit.plugin, "plugin-hello");
        assert_eq!(
            edit.declared,
            BTreeMap::from([("plugin-hello".to_owned(), "1.0.0".to_owned())])
        );
        let added = "    plugins:                   # the active release holds exactly these\n      plugin-hello:\n        version: \"1.0.0\"\n        url: https://assets.example.test/plugin-hello/1.0.0/bundle.js\n";
        let account = "    account_sid: AC0123456789abcdef0123456789abcdef\n";
        assert_eq!(
            edit.text,
            QUICKSTART.replace(account, &format!("{account}{added}"))
        );
        assert_eq!(edit.shown.len(), 4);
        assert!(
            edit.shown[0].starts_with("+     plugins:"),
            "{:?}",
            edit.shown
        );
    }

    #[test]
    fn an_instance_declaring_plugins_gains_one_more_and_the_file_is_rewritten() {
        let text = "# notes\nversion: 1\ninstances:\n  a:\n    account_sid: AC00000000000000000000000000000001\n    plugins:\n      plugin-hello:\n        version: \"2.0.0\"\n        url: https://cdn.example.test/hello.js\n";
        let edit = edit(text, "a");
        assert_eq!(edit.plugin, "plugin-hello-2");
        assert_eq!(
            edit.declared,
            BTreeMap::from([
                ("plugin-hello".to_owned(), "2.0.0".to_owned()),
                ("plugin-hello-2".to_owned(), "1.0.0".to_owned()),
            ])
        );
        assert!(edit.text.starts_with("# notes\n{"), "{}", edit.text);
        let parsed = Config::parse(&edit.text).unwrap();
        assert_eq!(parsed.instances["a"].plugins.as_ref().unwrap().len(), 2);
    }

    #[test]
    fn another_instance_on_the_account_line_is_not_edited() {
        let text = "version: 1\ninstances:\n  a: {account_sid: AC00000000000000000000000000000001}\n  b:\n    account_sid: AC00000000000000000000000000000002\n";
        let edit = edit(text, "a");
        let parsed = Config::parse(&edit.text).unwrap();
        assert!(parsed.instances["a"].plugins.is_some());
        assert!(parsed.instances["b"].plugins.is_none());
    }
}
