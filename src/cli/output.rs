//! Output: data to stdout, messages to stderr, JSON rendering, aligned tables.
//!
//! Invariant: a closed stdout (e.g. `kith list | head`) is not an error: writes return
//! `BrokenPipe`, which `main` turns into a quiet exit.

use std::io::{self, Write};

use serde::Serialize;

/// Where a command writes: stdout for data, stderr for messages. With a pager set, data goes
/// through the pager, which starts at the first write (a command that prints nothing, or
/// fails first, starts none).
pub struct Out {
    stdout: io::BufWriter<Box<dyn Write>>,
    pager: Option<String>,
    child: Option<std::process::Child>,
}

impl Default for Out {
    fn default() -> Self {
        Out {
            // 64 KiB: a long listing (`kith due` on a large vault) is a few writes, not hundreds.
            stdout: io::BufWriter::with_capacity(64 * 1024, Box::new(io::stdout())),
            pager: None,
            child: None,
        }
    }
}

impl Out {
    /// Sends the data written from now on through `pager` (a shell command), if Some.
    pub fn set_pager(&mut self, pager: Option<String>) {
        self.pager = pager;
    }

    /// Starts the pager before the first byte of data, when one is set and can be found.
    fn start_pager(&mut self) {
        let Some(cmd) = self.pager.take() else {
            return;
        };
        if let Some(p) = super::missing_program(&cmd) {
            self.warn(format!(
                "the pager '{cmd}' was not found ('{p}'); printing without it (set PAGER, or KITH_PAGER= to turn paging off)"
            ));
            return;
        }
        let mut c = std::process::Command::new("sh");
        c.arg("-c").arg(&cmd).stdin(std::process::Stdio::piped());
        if std::env::var_os("LESS").is_none() {
            c.env("LESS", "FRX");
        }
        match c.spawn() {
            Ok(mut child) => {
                // Ctrl-C is the pager's (less uses it to stop a search): kith keeps running
                // until the pager closes its input, then exits quietly on the broken pipe.
                #[cfg(unix)]
                // SAFETY: sets the disposition of SIGINT to ignore; no handler code runs.
                unsafe {
                    libc::signal(libc::SIGINT, libc::SIG_IGN);
                }
                if let Some(stdin) = child.stdin.take() {
                    self.stdout = io::BufWriter::new(Box::new(stdin));
                    self.child = Some(child);
                }
            }
            Err(e) => self.warn(format!(
                "cannot start the pager '{cmd}': {e}; printing without it"
            )),
        }
    }

    pub fn line(&mut self, s: impl AsRef<str>) -> io::Result<()> {
        self.start_pager();
        self.stdout.write_all(s.as_ref().as_bytes())?;
        self.stdout.write_all(b"\n")
    }

    /// Data written as is (no newline added).
    pub fn raw(&mut self, s: impl AsRef<[u8]>) -> io::Result<()> {
        self.start_pager();
        self.stdout.write_all(s.as_ref())
    }

    /// Standard output (through the pager, if any) for commands that stream their data.
    pub fn writer(&mut self) -> &mut dyn Write {
        self.start_pager();
        &mut self.stdout
    }

    pub fn json<T: Serialize>(&mut self, v: &T) -> io::Result<()> {
        self.start_pager();
        serde_json::to_writer_pretty(&mut self.stdout, v).map_err(io::Error::other)?;
        self.stdout.write_all(b"\n")
    }

    /// Flushes the data; with a pager, closes its input and waits until the user quits it.
    pub fn flush(&mut self) -> io::Result<()> {
        let flushed = self.stdout.flush();
        if let Some(mut child) = self.child.take() {
            // Dropping the pipe's writer is the pager's end of input.
            let _ = std::mem::replace(&mut self.stdout, io::BufWriter::new(Box::new(io::sink())));
            let _ = child.wait();
        }
        flushed
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
