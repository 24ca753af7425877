//! The README stays true: every `flexform` command in its shell blocks is accepted by the real
//! parser, and the simulator example runs as shown, curl and all.

use crate::common::{self, Test};
use clap::Parser;
use flexform::cli::Cli;

fn readme() -> String {
    std::fs::read_to_string(common::repo_root().join("README.md")).unwrap()
}

/// The bodies of the ```sh blocks.
fn sh_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

#[test]
fn every_flexform_command_in_the_readme_parses() {
    let mut count = 0;
    for block in sh_blocks(&readme()) {
        for line in block.lines() {
            let line = line
                .split(" #")
                .next()
                .unwrap()
                .trim()
                .trim_end_matches('&')
                .trim();
            if !line.starts_with("flexform ") && !line.starts_with("cargo run --release -- ") {
                continue;
            }
            let line = line.replace("cargo run --release -- ", "flexform ");
            let command = line.split('>').next().unwrap();
            let words = shell_words::split(command).unwrap();
            if let Err(e) = Cli::try_parse_from(&words) {
                panic!("README: `{line}` is rejected:\n{e}");
            }
            count += 1;
        }
    }
    assert!(
        count >= 2,
        "expected the quickstart and simulator commands, found {count}"
    );
}

#[test]
fn simulator_example_runs_as_shown() {
    let text = readme();
    let marker = text
        .find("<!-- readme-sim-example")
        .expect("the simulator example is marked");
    let block = sh_blocks(&text[marker..]).into_iter().next().unwrap();
    // Same script, on a free port and with the binary under test.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = block
        .replace("127.0.0.1:8787", &format!("127.0.0.1:{port}"))
        .replace(
            "flexform sim",
            &format!("{} sim", env!("CARGO_BIN_EXE_flexform")),
        );
    let out = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .env_remove("FLEXFORM_ENDPOINT")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the README's simulator example failed:\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("listening on http://127.0.0.1:"),
        "{stdout}"
    );
    assert!(stdout.contains("\"flex_instance_sid\":\"GO"), "{stdout}");
    assert!(
        stdout.contains("\"creates\":1"),
        "stats after one create: {stdout}"
    );
}

/// The README's session runs as shown against the simulator, and every line marked
/// `# exit N` exits N: the exit codes the README documents are the ones users get.
#[test]
fn readme_session_exits_as_documented() {
    let text = readme();
    let marker = text
        .find("<!-- readme-session")
        .expect("the session is marked");
    let block = sh_blocks(&text[marker..]).into_iter().next().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The session runs in an empty project folder.
    let t = Test::new();
    let bin = env!("CARGO_BIN_EXE_flexform");
    let quickstart = common::repo_root().join("examples/quickstart.yaml");
    let mut script = String::from("set -uo pipefail\n");
    let mut checked = 0;
    for line in block.lines() {
        let line = line
            .replace("127.0.0.1:8787", &format!("127.0.0.1:{port}"))
            .replace(
                "examples/quickstart.yaml",
                &quickstart.display().to_string(),
            )
            .replace("$(flexform ", &format!("$({bin} "));
        let line = match line.strip_prefix("flexform ") {
            Some(rest) => format!("{bin} {rest}"),
            None => line,
        };
        match line.split_once("# exit ") {
            Some((command, code)) => {
                let code: i32 = code.split(':').next().unwrap().trim().parse().unwrap();
                let shown = command.trim().replace(bin, "flexform");
                script.push_str(&format!(
                    "{command} >/dev/null 2>.readme-step; rc=$?\nif [ $rc -ne {code} ]; then echo \"README: \\`{shown}\\` exited $rc, documented {code}\" >&2; cat .readme-step >&2; kill %1; exit 1; fi\n"
                ));
                checked += 1;
            }
            None if line.trim_end().ends_with('&') || line.starts_with("kill") => {
                script.push_str(&line);
                script.push('\n');
            }
            None => script.push_str(&format!(
                "{line} >/dev/null || {{ echo \"README: \\`{line}\\` failed\" >&2; kill %1; exit 1; }}\n"
            )),
        }
    }
    assert!(checked >= 10, "only {checked} lines say their exit code");
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .current_dir(t.dir())
        .env_remove("FLEXFORM_ENDPOINT")
        .env_remove("FLEXFORM_CONFIG")
        .env_remove("FLEXFORM_STATE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        script
    );
}
