//! Rendering: every document and line flexform shows, in one place. Plans (text, JSON comes
//! from [`crate::plan::PlanDocument`], Markdown), the drift report (text, Markdown, JUnit), the
//! state, and apply's events and reporters. Commands choose a renderer; they do not format.
//! Rendering is pure (values to strings) but for the reporters, which write each line as it
//! happens through a [`Sink`], the one output layer the command line gives them.

pub mod apply;
pub mod drift;
pub mod plan;
pub mod state;

/// Where rendered lines go: the command line's one output layer (data on stdout, messages
/// on stderr).
pub trait Sink: Send + Sync {
    /// One line of the document asked for (stdout).
    fn data_line(&self, line: String);
    /// A progress or status line (stderr).
    fn status(&self, line: String);
}

/// ANSI styling, or none.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    enabled: bool,
}

impl Style {
    /// Colour when `enabled`.
    pub fn new(enabled: bool) -> Self {
        Self { enabled }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.enabled {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
    pub(crate) fn green(&self, t: &str) -> String {
        self.paint("32", t)
    }
    pub(crate) fn red(&self, t: &str) -> String {
        self.paint("31", t)
    }
    pub(crate) fn yellow(&self, t: &str) -> String {
        self.paint("33", t)
    }
    pub(crate) fn cyan(&self, t: &str) -> String {
        self.paint("36", t)
    }
    pub(crate) fn bold(&self, t: &str) -> String {
        self.paint("1", t)
    }
}
