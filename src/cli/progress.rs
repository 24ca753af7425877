//! `Progress`: a counter on stderr while accounts are observed, shown only on a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress line (`observing 812/5000 accounts…`), hidden when stderr is not a terminal.
#[derive(Debug, Clone)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A progress line drawn only when `visible`.
    pub fn new(visible: bool) -> Self {
        let bar = ProgressBar::with_draw_target(
            None,
            if visible {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        Self { bar }
    }

    /// Starts counting to `total`.
    pub fn start(&self, total: u64, verb: &str) {
        self.bar.set_length(total);
        self.bar.set_position(0);
        self.bar.set_style(
            ProgressStyle::with_template(&format!("{verb} {{pos}}/{{len}} accounts… {{elapsed}}"))
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
    }

    /// One more done.
    pub fn inc(&self) {
        self.bar.inc(1);
    }

    /// Clears the line.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl crate::ops::Progress for Progress {
    fn start(&self, total: u64, verb: &str) {
        Progress::start(self, total, verb);
    }

    fn inc(&self) {
        Progress::inc(self);
    }

    fn finish(&self) {
        Progress::finish(self);
    }
}
