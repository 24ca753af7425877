//! The one signal listener: Ctrl-C and SIGTERM (how CI systems cancel a job) become a count
//! that the running command watches.

use tokio::sync::watch;

use super::exit_status::ExitStatus;
use super::output::Printer;
use crate::support::stop::Stop;

/// Counts Ctrl-C and SIGTERM from now on; `on_signal` is told each new count (1, 2, …).
///
/// The handlers are registered before this returns (not later, inside the spawned task), so
/// that a signal arriving right after is counted instead of killing the process, and none is
/// lost between two receptions. Must be called inside a tokio runtime.
pub(crate) fn listen(on_signal: impl Fn(u32) + Send + 'static) -> watch::Receiver<u32> {
    let (sender, receiver) = watch::channel(0u32);
    #[cfg(unix)]
    let (mut interrupt, mut term) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    tokio::spawn(async move {
        loop {
            #[cfg(unix)]
            {
                tokio::select! {
                    _ = next(&mut interrupt) => {}
                    _ = next(&mut term) => {}
                }
            }
            #[cfg(not(unix))]
            {
                if tokio::signal::ctrl_c().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            let mut count = 0;
            sender.send_modify(|n| {
                *n += 1;
                count = *n;
            });
            on_signal(count);
        }
    });
    receiver
}

/// Turns Ctrl-C and SIGTERM into a [`Stop`] for a command: the first signal asks it to stop
/// (said on stderr), the second exits at once with 130, leaving what is recorded for the next
/// run to fold.
pub(crate) fn stop_on_signals(out: Printer, read_only: bool) -> Stop {
    Stop::from_receiver(listen(move |count| {
        if count == 1 {
            out.status(if read_only {
                "\nInterrupt received: stopping; nothing was changed."
            } else {
                "\nInterrupt received: nothing new will be sent; requests on the wire finish and are recorded; waiting stops. Interrupt again to exit at once."
            });
        } else {
            out.status("\nSecond interrupt: exiting now. What is recorded stays; the next run folds it in.");
            std::process::exit(i32::from(ExitStatus::Interrupted.code()));
        }
    }))
}

/// The next delivery of `signal`; never, when it could not be registered.
#[cfg(unix)]
async fn next(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}
