//! Errors as the user sees them, classified in one place (after jj's `command_error.rs`).
//!
//! Every failure of a run (a usage error from clap, an `AppError` from a use case, a failed
//! write to stdout, a panic caught in `main`) becomes a [`CommandError`] of one [`ErrorKind`],
//! which alone decides the exit code and how it is printed.
//!
//! Invariants: `main` prints nothing itself; every `error:` and `hint:` line is printed by
//! [`CommandError::print`], one `error:` line per failure; a closed stdout (`kith list |
//! head -1`) is a quiet exit 0; the exit codes are 0 success, 1 user error, 2 usage, 4
//! internal failure.

use crate::app::AppError;
use crate::store::StoreError;

/// What kind of failure ended the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Something the user can fix: bad input, an unknown reference, a damaged, foreign or
    /// locked vault, a network that cannot be reached. Exit 1.
    User,
    /// The command line does not parse (clap). Exit 2.
    Usage,
    /// The reader of stdout went away (`kith list | head -1`): not a failure. Exit 0, silent.
    BrokenPipe,
    /// A bug or a failure kith cannot explain. Exit 4.
    Internal,
}

impl ErrorKind {
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::User => 1,
            ErrorKind::Usage => 2,
            ErrorKind::BrokenPipe => 0,
            ErrorKind::Internal => 4,
        }
    }
}

/// A failure, classified, with the lines to print.
#[derive(Debug)]
pub struct CommandError {
    pub kind: ErrorKind,
    what: What,
}

#[derive(Debug)]
enum What {
    /// Printed by clap itself (its own `error:` line, usage and tip; or help and version).
    Clap(clap::Error),
    Message {
        msg: String,
        hint: Option<String>,
    },
}

impl CommandError {
    pub fn exit_code(&self) -> i32 {
        match &self.what {
            // `--help` and `--version` also come as clap "errors", with exit 0.
            What::Clap(e) => e.exit_code(),
            What::Message { .. } => self.kind.exit_code(),
        }
    }

    /// The `error:` text (without the prefix), for tests and logs.
    pub fn message(&self) -> String {
        match &self.what {
            What::Clap(e) => e.to_string(),
            What::Message { msg, .. } => msg.clone(),
        }
    }

    pub fn hint(&self) -> Option<&str> {
        match &self.what {
            What::Clap(_) => None,
            What::Message { hint, .. } => hint.as_deref(),
        }
    }

    /// Prints the error on stderr (nothing for a broken pipe) and returns the exit code.
    pub fn print(&self) -> i32 {
        match (&self.what, self.kind) {
            (_, ErrorKind::BrokenPipe) => {}
            (What::Clap(e), _) => {
                let _ = e.print();
            }
            (What::Message { msg, hint }, _) => {
                eprintln!("error: {msg}");
                if let Some(h) = hint {
                    eprintln!("hint: {h}");
                }
            }
        }
        self.exit_code()
    }

    /// A failed final flush of stdout: quiet when the reader went away, else internal.
    pub fn from_flush(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return CommandError::broken_pipe();
        }
        CommandError {
            kind: ErrorKind::Internal,
            what: What::Message {
                msg: format!("cannot write to stdout: {e}"),
                hint: None,
            },
        }
    }

    fn broken_pipe() -> Self {
        CommandError {
            kind: ErrorKind::BrokenPipe,
            what: What::Message {
                msg: "stdout was closed".into(),
                hint: None,
            },
        }
    }
}

impl From<clap::Error> for CommandError {
    fn from(e: clap::Error) -> Self {
        CommandError {
            kind: ErrorKind::Usage,
            what: What::Clap(e),
        }
    }
}

impl From<AppError> for CommandError {
    fn from(e: AppError) -> Self {
        let kind = classify(&e);
        if kind == ErrorKind::BrokenPipe {
            return CommandError::broken_pipe();
        }
        let hint = e.hint_text();
        CommandError {
            kind,
            what: What::Message {
                msg: e.to_string(),
                hint,
            },
        }
    }
}

/// The exit code of a run, after printing what went wrong: the command's result first, then
/// the final flush of stdout (which fails only when nothing else did).
pub fn finish(result: Result<(), AppError>, flushed: std::io::Result<()>) -> i32 {
    if std::env::var_os("KITH_TEST_HEAP_REPORT").is_some() {
        eprintln!(
            "heap on huge pages: {} KiB",
            super::heap::huge_kib().map_or("unknown".into(), |k| k.to_string())
        );
    }
    match (result, flushed) {
        (Err(e), _) => CommandError::from(e).print(),
        (Ok(()), Err(e)) => CommandError::from_flush(e).print(),
        (Ok(()), Ok(())) => 0,
    }
}

/// The one place that says which `AppError` is which kind.
pub fn classify(e: &AppError) -> ErrorKind {
    match e {
        AppError::Store(StoreError::Io(p, io))
            if p.as_os_str() == "stdout" && io.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            ErrorKind::BrokenPipe
        }
        AppError::Store(StoreError::Internal(_)) => ErrorKind::Internal,
        // A damaged document is damage to the file (exit 1, with a restore hint), not a bug.
        AppError::Store(_) | AppError::User { .. } => ErrorKind::User,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_exit_codes() {
        let pipe = AppError::Store(StoreError::Io(
            "stdout".into(),
            std::io::Error::from(std::io::ErrorKind::BrokenPipe),
        ));
        assert_eq!(classify(&pipe), ErrorKind::BrokenPipe);
        assert_eq!(CommandError::from(pipe).exit_code(), 0);
        // A broken pipe on another file is a real failure.
        let other = AppError::Store(StoreError::Io(
            "/tmp/x".into(),
            std::io::Error::from(std::io::ErrorKind::BrokenPipe),
        ));
        assert_eq!(classify(&other), ErrorKind::User);
        let e = CommandError::from(AppError::hint("no contact matches 'x'", "try kith list"));
        assert_eq!((e.kind, e.exit_code()), (ErrorKind::User, 1));
        assert_eq!(e.message(), "no contact matches 'x'");
        assert_eq!(e.hint(), Some("try kith list"));
        let bug = CommandError::from(AppError::Store(StoreError::Internal("boom".into())));
        assert_eq!((bug.kind, bug.exit_code()), (ErrorKind::Internal, 4));
        let flush = CommandError::from_flush(std::io::Error::other("disk full"));
        assert_eq!(flush.exit_code(), 4);
        assert_eq!(flush.message(), "cannot write to stdout: disk full");
        assert_eq!(
            CommandError::from_flush(std::io::ErrorKind::BrokenPipe.into()).exit_code(),
            0
        );
    }

    #[test]
    fn usage_errors_exit_2_and_help_exits_0() {
        use clap::Parser;
        let e = crate::cli::Cli::try_parse_from(["kith", "--no-such-flag"]).unwrap_err();
        let e = CommandError::from(e);
        assert_eq!((e.kind, e.exit_code()), (ErrorKind::Usage, 2));
        let help = crate::cli::Cli::try_parse_from(["kith", "--help"]).unwrap_err();
        assert_eq!(CommandError::from(help).exit_code(), 0);
    }
}
