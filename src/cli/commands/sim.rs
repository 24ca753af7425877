//! `flexform sim`: run the Flex API simulator in the foreground until Ctrl-C or SIGTERM.
//!
//! The first line on stdout is `listening on http://ADDR:PORT`, so that scripts and tests can
//! start it on port 0 and read where it is; everything else goes to stderr.

use anyhow::Context;

use crate::cli::args::SimArgs;
use crate::cli::exit_status::ExitStatus;
use crate::cli::settings::Settings;
use crate::cli::{context, signals};
use crate::sim::{self, SimConfig};

/// The simulator's configuration from the command line, or why the flags are out of range.
pub fn config(args: &SimArgs) -> anyhow::Result<SimConfig> {
    if !(0.0..=1.0).contains(&args.fail_rate) {
        anyhow::bail!(
            "--fail-rate must be between 0.0 and 1.0 (a share of requests), found {}",
            args.fail_rate
        );
    }
    if !(0.0..=1.0).contains(&args.create_fail_rate) {
        anyhow::bail!(
            "--create-fail-rate must be between 0.0 and 1.0 (a share of creates), found {}",
            args.create_fail_rate
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
        create_fail_rate: args.create_fail_rate,
        rate_limit: args.rate_limit,
        credentials,
        seed: args.seed,
        data: args.data.clone(),
        tls: match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(sim::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        },
    })
}

/// Runs the simulator until Ctrl-C or SIGTERM, then shuts it down gracefully.
pub fn run(settings: &Settings, args: &SimArgs) -> anyhow::Result<ExitStatus> {
    let config = config(args)?;
    let out = settings.out;
    if args.key.is_none() && args.secret.is_some() {
        out.warn("a secret is set (--secret or FLEXFORM_SIM_SECRET) but --key is not: the simulator accepts any non-empty credentials; pass --key to check them");
    }
    context::runtime()?.block_on(async {
        // Listen for signals before announcing the address: whoever reads the first line may
        // send SIGTERM at once.
        let mut stop = signals::listen(|_| {});
        let handle = sim::spawn(config.clone())
            .await
            .context("cannot start the simulator")?;
        let url = handle.url();
        out.data_line(format!("listening on {url}"));
        out.status("Flex API simulator ready. Point flexform at it with:");
        out.status(format!("  export FLEXFORM_ENDPOINT={url}"));
        match &config.credentials {
            Some((key, _)) => out.status(format!(
                "  export TWILIO_API_KEY={key} TWILIO_API_SECRET=<the secret given to --secret>"
            )),
            None => out.status(
                "  export TWILIO_API_KEY=anything TWILIO_API_SECRET=anything   \
                 (any non-empty pair is accepted)",
            ),
        }
        out.status(format!(
            "New instances turn ready after {}. Test controls: {url}/_sim/instances, \
             {url}/_sim/stats, {url}/_sim/faults. Ctrl-C to stop.",
            humantime::format_duration(config.ready_after)
        ));
        if let Some(path) = &config.data {
            out.status(format!("Instances are kept in {}.", path.display()));
        }
        let _ = stop.changed().await;
        out.status("stopping the simulator");
        handle.shutdown().await;
        Ok(ExitStatus::Success)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> SimArgs {
        let mut argv = vec!["flexform", "sim"];
        argv.extend_from_slice(args);
        match crate::cli::args::Cli::try_parse_from(argv).unwrap().command {
            crate::cli::args::Command::Sim(args) => args,
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
