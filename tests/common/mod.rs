//! Helpers shared by the integration tests: run the real binary in a clean environment.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// The built `flexform` binary with every flexform and Twilio variable removed from its
/// environment, so that the developer's shell cannot change a test's outcome.
pub fn flexform() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flexform"));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("FLEXFORM_") || key.starts_with("TWILIO_") || key == "NO_COLOR" {
            cmd.env_remove(&key);
        }
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

/// Runs `flexform` with `args` in `dir`.
pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    flexform()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the flexform binary runs")
}

/// Stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The repository root.
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}
