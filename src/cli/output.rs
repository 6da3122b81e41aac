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
                widths[i] = widths[i].max(width(c));
            }
        }
        let mut line = String::new();
        for r in rows {
            self.table_line(&mut line, r, &widths)?;
        }
        Ok(())
    }

    /// The same aligned columns as [`Out::table`] for long listings, without building the
    /// table: `cells` fills the `COLS` cells of one row into reused buffers. It is called twice
    /// per row, once to measure the columns and once to write the row.
    pub fn table_of<T, const COLS: usize>(
        &mut self,
        rows: &[T],
        cells: impl FnMut(&T, &mut [String; COLS]),
    ) -> io::Result<()> {
        self.table_of_headed(None, rows, cells)
    }

    /// [`Out::table_of`] with a header line (the column names) above the rows, when given.
    pub fn table_of_headed<T, const COLS: usize>(
        &mut self,
        header: Option<[&str; COLS]>,
        rows: &[T],
        mut cells: impl FnMut(&T, &mut [String; COLS]),
    ) -> io::Result<()> {
        let mut buf: [String; COLS] = std::array::from_fn(|_| String::new());
        let mut widths = vec![0usize; COLS];
        if let Some(h) = &header {
            for (w, c) in widths.iter_mut().zip(h) {
                *w = (*w).max(width(c));
            }
        }
        for r in rows {
            buf.iter_mut().for_each(String::clear);
            cells(r, &mut buf);
            for (w, c) in widths.iter_mut().zip(&buf) {
                *w = (*w).max(width(c));
            }
        }
        let mut line = String::new();
        if let Some(h) = header {
            self.table_line(&mut line, &h.map(String::from), &widths)?;
        }
        for r in rows {
            buf.iter_mut().for_each(String::clear);
            cells(r, &mut buf);
            self.table_line(&mut line, &buf, &widths)?;
        }
        Ok(())
    }

    fn table_line(
        &mut self,
        line: &mut String,
        row: &[String],
        widths: &[usize],
    ) -> io::Result<()> {
        line.clear();
        for (i, c) in row.iter().enumerate() {
            line.push_str(c);
            if i + 1 < row.len() {
                let pad = widths[i] - width(c) + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        self.line(line.trim_end())
    }
}

/// Display width of a cell, in characters.
fn width(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

/// Maps an output error into the app's error type.
pub fn io_err(e: io::Error) -> crate::app::AppError {
    crate::app::AppError::Store(crate::store::StoreError::Io("stdout".into(), e))
}
