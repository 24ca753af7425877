//! Rendering: every document and line flexform shows, in one place. Plans (text, JSON comes
//! from [`crate::plan::PlanDocument`], Markdown), the drift report (text, Markdown, JUnit), the
//! state and what the state commands did, the audit trail (text, JSON, Markdown, CSV, the
//! verdict of `history verify`), the audit report (JSON, Markdown, CSV), and apply's events
//! and reporters. Commands choose a renderer; they do not format.
//! Rendering is pure (values to strings) but for the reporters, which write each line as it
//! happens through a [`Sink`], the one output layer the command line gives them.

pub mod apply;
pub mod drift;
pub mod history;
pub mod plan;
pub mod report;
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

/// A CSV document: `header`, then each row (cells already made safe for a spreadsheet).
fn csv_document(
    header: &[&str],
    rows: impl IntoIterator<Item = Vec<String>>,
) -> Result<String, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(header)?;
    for row in rows {
        writer.write_record(&row)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8(bytes).expect("CSV written from text is UTF-8"))
}
