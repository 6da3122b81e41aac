//! Output: data to stdout, messages to stderr, JSON rendering, aligned tables.
//!
//! Invariant: a closed stdout (e.g. `kith list | head`) is not an error: writes return
//! `BrokenPipe`, which `main` turns into a quiet exit.

use std::io::{self, Write};

use serde::Serialize;

/// Where a command writes: stdout for data, stderr for messages.
pub struct Out {
    stdout: io::BufWriter<io::Stdout>,
}

impl Default for Out {
    fn default() -> Self {
        Out {
            stdout: io::BufWriter::new(io::stdout()),
        }
    }
}

impl Out {
    pub fn line(&mut self, s: impl AsRef<str>) -> io::Result<()> {
        self.stdout.write_all(s.as_ref().as_bytes())?;
        self.stdout.write_all(b"\n")
    }

    /// Data written as is (no newline added).
    pub fn raw(&mut self, s: impl AsRef<[u8]>) -> io::Result<()> {
        self.stdout.write_all(s.as_ref())
    }

    pub fn json<T: Serialize>(&mut self, v: &T) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut self.stdout, v).map_err(io::Error::other)?;
        self.stdout.write_all(b"\n")
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.stdout.flush()
    }

    /// A message on stderr (never buffered behind data).
    pub fn note(&mut self, s: impl AsRef<str>) {
        let _ = self.stdout.flush();
        eprintln!("{}", s.as_ref());
    }

    pub fn warn(&mut self, s: impl AsRef<str>) {
        self.note(format!("warning: {}", s.as_ref()));
    }

    /// Aligned columns; the last column is not padded.
    pub fn table(&mut self, rows: &[Vec<String>]) -> io::Result<()> {
        let cols = rows.iter().map(|r| r.len()).max().unwrap_or(0);
        let mut widths = vec![0usize; cols];
        for r in rows {
            for (i, c) in r.iter().enumerate() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        for r in rows {
            let mut line = String::new();
            for (i, c) in r.iter().enumerate() {
                if i + 1 < r.len() {
                    line.push_str(c);
                    let pad = widths[i] - c.chars().count() + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                } else {
                    line.push_str(c);
                }
            }
            self.line(line.trim_end())?;
        }
        Ok(())
    }
}

/// Maps an output error into the app's error type.
pub fn io_err(e: io::Error) -> crate::app::AppError {
    crate::app::AppError::Store(crate::store::StoreError::Io("stdout".into(), e))
}
