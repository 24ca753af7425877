//! The one output layer: every byte flexform prints passes through [`Printer`].
//!
//! Documents (plans, JSON, state, schemas) go to stdout with [`Printer::data`]; progress,
//! notes, warnings and errors go to stderr, each kind with its prefix and colour, `--quiet`
//! honoured here and nowhere else. An error's cause chain prints as `Caused by:` lines.
//! Writing to a closed stdout or stderr never panics and never changes what flexform does: the
//! output is dropped, the work goes on, the exit code is the same (Rust's `print!` would panic).

use std::fmt::Display;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once a reader closed stdout: further output to it is dropped.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
/// Set once a reader closed stderr.
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);

/// Which stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

/// While set, everything written to stdout is also kept here (the demo checks what each step
/// printed).
static STDOUT_COPY: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Runs `f` and returns what it wrote to stdout as well (it is still printed).
pub fn copy_stdout<R>(f: impl FnOnce() -> R) -> (R, String) {
    *STDOUT_COPY.lock().unwrap_or_else(|e| e.into_inner()) = Some(String::new());
    let result = f();
    let copy = STDOUT_COPY
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .unwrap_or_default();
    (result, copy)
}

/// Writes `text` to `stream` and flushes; once the reader has gone, output to that stream is
/// dropped. Other write errors are dropped as well: there is nowhere left to report them.
fn write(stream: Stream, text: &str) {
    if stream == Stream::Stdout {
        if let Some(copy) = STDOUT_COPY
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            copy.push_str(text);
        }
    }
    let closed = match stream {
        Stream::Stdout => &STDOUT_CLOSED,
        Stream::Stderr => &STDERR_CLOSED,
    };
    if closed.load(Ordering::Relaxed) {
        return;
    }
    let result = match stream {
        Stream::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes()).and_then(|_| out.flush())
        }
        Stream::Stderr => {
            let mut err = std::io::stderr().lock();
            err.write_all(text.as_bytes()).and_then(|_| err.flush())
        }
    };
    if let Err(e) = result {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            closed.store(true, Ordering::Relaxed);
        }
    }
}

/// Stderr for log lines (`-v`), sharing the output layer's closed-pipe handling: a write to a
/// closed stderr is dropped, never an error (an error would make the logger print one more
/// line about it, on the same closed stderr, and panic).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        write(Stream::Stderr, &String::from_utf8_lossy(bytes));
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What kind of message, for its prefix and colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `error:` in red; always shown.
    Error,
    /// `warning:` in yellow; hidden by `--quiet`.
    Warning,
    /// `note:` in cyan; hidden by `--quiet`.
    Note,
}

impl Level {
    fn prefix(self) -> (&'static str, &'static str) {
        match self {
            Level::Error => ("error", "1;31"),
            Level::Warning => ("warning", "1;33"),
            Level::Note => ("note", "1;36"),
        }
    }
}

/// Where and how output goes, decided once from the global flags.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    quiet: bool,
    color_stderr: bool,
    stderr_is_terminal: bool,
}

impl Printer {
    /// A printer that colours stderr when `color_stderr`, and hides all but errors when `quiet`.
    pub fn new(quiet: bool, color_stderr: bool) -> Self {
        Self {
            quiet,
            color_stderr,
            stderr_is_terminal: false,
        }
    }

    /// The same printer, knowing whether stderr is a terminal (for live progress).
    pub fn with_terminal(mut self, stderr_is_terminal: bool) -> Self {
        self.stderr_is_terminal = stderr_is_terminal;
        self
    }

    /// Whether `--quiet` was given.
    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// Whether live progress (bars, redrawn lines) is shown: on a terminal, without `--quiet`.
    pub fn shows_live_progress(&self) -> bool {
        self.stderr_is_terminal && !self.quiet
    }

    /// The log filter for `verbose` (`-v` count): errors only with `--quiet`, warnings by
    /// default, requests with -v, everything with -vv.
    pub fn log_filter(&self, verbose: u8) -> &'static str {
        match (self.quiet, verbose) {
            (true, _) => "error",
            (false, 0) => "warn",
            (false, 1) => "warn,flexform=debug",
            (false, _) => "debug,flexform=trace",
        }
    }

    /// The document asked for, on stdout, as it is (no newline added).
    pub fn data(&self, text: impl Display) {
        write(Stream::Stdout, &text.to_string());
    }

    /// One line of the document asked for, on stdout.
    pub fn data_line(&self, text: impl Display) {
        write(Stream::Stdout, &format!("{text}\n"));
    }

    /// A progress or status line on stderr, without prefix; hidden by `--quiet`.
    pub fn status(&self, text: impl Display) {
        if !self.quiet {
            write(Stream::Stderr, &format!("{text}\n"));
        }
    }

    /// Text for stderr as it is (a prompt, a pre-rendered diagnostic); shown even with
    /// `--quiet` when `always`.
    pub fn raw_stderr(&self, text: impl Display, always: bool) {
        if always || !self.quiet {
            write(Stream::Stderr, &text.to_string());
        }
    }

    /// `error: …` on stderr.
    pub fn error(&self, text: impl Display) {
        self.message(Level::Error, text);
    }

    /// `warning: …` on stderr.
    pub fn warn(&self, text: impl Display) {
        self.message(Level::Warning, text);
    }

    /// `note: …` on stderr.
    pub fn note(&self, text: impl Display) {
        self.message(Level::Note, text);
    }

    /// `  help: …` on stderr, under the error it helps with; shown even with `--quiet`.
    pub fn help(&self, text: impl Display) {
        write(Stream::Stderr, &format!("  help: {text}\n"));
    }

    /// A message of `level` on stderr, with its prefix.
    pub fn message(&self, level: Level, text: impl Display) {
        if self.quiet && level != Level::Error {
            return;
        }
        write(Stream::Stderr, &format!("{}: {text}\n", self.paint(level)));
    }

    /// An error and its causes: `error: …` then one `Caused by:` block.
    pub fn error_chain(&self, err: &anyhow::Error) {
        write(Stream::Stderr, &self.render_chain(err));
    }

    /// The text of [`Printer::error_chain`]. A cause whose text the messages above already
    /// include is not repeated.
    fn render_chain(&self, err: &anyhow::Error) -> String {
        let mut text = format!("{}: {err}\n", self.paint(Level::Error));
        let mut said = err.to_string();
        let mut causes = Vec::new();
        for cause in err.chain().skip(1).map(|c| c.to_string()) {
            if !said.contains(&cause) {
                said.push_str(&cause);
                causes.push(cause);
            }
        }
        if !causes.is_empty() {
            text.push_str("\nCaused by:\n");
            for cause in causes {
                text.push_str(&format!("    {cause}\n"));
            }
        }
        text
    }

    fn paint(&self, level: Level) -> String {
        let (word, code) = level.prefix();
        if self.color_stderr {
            format!("\x1b[{code}m{word}\x1b[0m")
        } else {
            word.to_owned()
        }
    }
}

impl crate::render::Sink for Printer {
    fn data_line(&self, line: String) {
        Printer::data_line(self, line);
    }
    fn status(&self, line: String) {
        Printer::status(self, line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_plain_without_colour_and_painted_with_it() {
        assert_eq!(Printer::new(false, false).paint(Level::Warning), "warning");
        assert_eq!(
            Printer::new(false, true).paint(Level::Error),
            "\x1b[1;31merror\x1b[0m"
        );
    }

    #[test]
    fn causes_print_once_as_caused_by_lines() {
        let printer = Printer::new(false, false);
        let io = std::io::Error::other("disk full");
        let err = anyhow::Error::new(io).context("cannot save the plan");
        assert_eq!(
            printer.render_chain(&err),
            "error: cannot save the plan\n\nCaused by:\n    disk full\n"
        );
        let io = std::io::Error::other("disk full");
        let err = anyhow::Error::new(io).context("cannot write s.json: disk full");
        assert_eq!(
            printer.render_chain(&err),
            "error: cannot write s.json: disk full\n"
        );
    }
}
