//! `flexform sim`: run the Flex API simulator in the foreground until Ctrl-C or SIGTERM.
//!
//! The first line on stdout is `listening on http://ADDR:PORT`, so that scripts and tests can
//! start it on port 0 and read where it is; everything else goes to stderr.

use std::io::Write;

use anyhow::Context;

use crate::cli::SimArgs;
use crate::exit_status::ExitStatus;
use crate::sim::{self, SimConfig};

/// The simulator's configuration from the command line, or why the flags are out of range.
pub fn config(args: &SimArgs) -> anyhow::Result<SimConfig> {
    if !(0.0..=1.0).contains(&args.fail_rate) {
        anyhow::bail!(
            "--fail-rate must be between 0.0 and 1.0 (a share of requests), found {}",
            args.fail_rate
        );
    }
    if let Some(rate) = args.rate_limit {
        if !(rate.is_finite() && rate > 0.0) {
            anyhow::bail!(
                "--rate-limit must be a number of requests per second above 0, found {rate}; \
                 leave it out for no limit"
            );
        }
    }
    let credentials = match (&args.key, &args.secret) {
        (Some(key), Some(secret)) => {
            if key.is_empty() || secret.is_empty() {
                anyhow::bail!("--key and --secret (or FLEXFORM_SIM_SECRET) must not be empty");
            }
            Some((key.clone(), secret.clone()))
        }
        _ => None,
    };
    Ok(SimConfig {
        listen: args.listen,
        ready_after: args.ready_after,
        latency: args.latency,
        fail_rate: args.fail_rate,
        rate_limit: args.rate_limit,
        credentials,
        seed: args.seed,
        data: args.data.clone(),
    })
}

/// Runs the simulator until Ctrl-C or SIGTERM, then shuts it down gracefully.
pub fn run(args: &SimArgs) -> anyhow::Result<ExitStatus> {
    let config = config(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        // Listen for signals before announcing the address: whoever reads the first line may
        // send SIGTERM at once.
        let mut stop = StopSignals::install().context("cannot listen for Ctrl-C or SIGTERM")?;
        let handle = sim::spawn(config.clone())
            .await
            .context("cannot start the simulator")?;
        let url = handle.url();
        {
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "listening on {url}")?;
            stdout.flush()?;
        }
        eprintln!("Flex API simulator ready. Point flexform at it with:");
        eprintln!("  export FLEXFORM_ENDPOINT={url}");
        match &config.credentials {
            Some((key, _)) => eprintln!(
                "  export TWILIO_API_KEY={key} TWILIO_API_SECRET=<the secret given to --secret>"
            ),
            None => eprintln!(
                "  export TWILIO_API_KEY=anything TWILIO_API_SECRET=anything   \
                 (any non-empty pair is accepted)"
            ),
        }
        eprintln!(
            "New instances turn ready after {}. Test controls: {url}/_sim/instances, \
             {url}/_sim/stats, {url}/_sim/faults. Ctrl-C to stop.",
            humantime::format_duration(config.ready_after)
        );
        if let Some(path) = &config.data {
            eprintln!("Instances are kept in {}.", path.display());
        }
        stop.wait().await;
        eprintln!("stopping the simulator");
        handle.shutdown().await;
        Ok(ExitStatus::Success)
    })
}

/// Ctrl-C, and SIGTERM on Unix, caught from the moment they are installed.
struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(windows)]
    ctrl_c: tokio::signal::windows::CtrlC,
}

impl StopSignals {
    /// Installs the handlers now (inside a tokio runtime), not when first awaited.
    fn install() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(windows)]
        {
            Ok(Self {
                ctrl_c: tokio::signal::windows::ctrl_c()?,
            })
        }
    }

    /// Resolves on the first of the signals.
    async fn wait(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(windows)]
        self.ctrl_c.recv().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> SimArgs {
        let mut argv = vec!["flexform", "sim"];
        argv.extend_from_slice(args);
        match crate::cli::Cli::try_parse_from(argv).unwrap().command {
            crate::cli::Command::Sim(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn sim_flags_become_a_config() {
        let args = parse(&[
            "--listen",
            "127.0.0.1:0",
            "--ready-after",
            "100ms",
            "--fail-rate",
            "0.25",
            "--rate-limit",
            "5",
            "--key",
            "SKkey",
            "--secret",
            "s3cret",
            "--seed",
            "9",
        ]);
        let config = config(&args).unwrap();
        assert_eq!(config.ready_after, std::time::Duration::from_millis(100));
        assert_eq!(config.fail_rate, 0.25);
        assert_eq!(config.rate_limit, Some(5.0));
        assert_eq!(
            config.credentials,
            Some(("SKkey".to_owned(), "s3cret".to_owned()))
        );
        assert_eq!(config.seed, Some(9));
    }

    #[test]
    fn sim_flags_out_of_range_are_clear_errors() {
        let err = config(&parse(&["--fail-rate", "1.5"])).unwrap_err();
        assert!(err.to_string().contains("--fail-rate"), "{err}");
        let err = config(&parse(&["--rate-limit", "0"])).unwrap_err();
        assert!(err.to_string().contains("--rate-limit"), "{err}");
        let err = config(&parse(&["--rate-limit=-3"])).unwrap_err();
        assert!(err.to_string().contains("--rate-limit"), "{err}");
    }
}
