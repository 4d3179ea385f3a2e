//! `metrics.csv`: one row per training iteration, readable by any CSV tool.
//!
//! The file is the record of a run, so it must survive the run being killed: each row is
//! written with a single `write` call straight to the file (no user-space buffer), so a
//! killed process leaves every finished row in the file and at worst no partial one.
//! Rows are not fsynced: that protects only against power loss and would cost a disk
//! round trip per iteration.
//!
//! A trainer running tens of thousands of tiny iterations per second may instead
//! [hold](MetricsWriter::hold_rows) rows for a short period and write them together: a
//! `write` call per row costs about a microsecond, as much as a whole small step. Held rows
//! are written when the oldest is older than the period, on [`flush`](MetricsWriter::flush)
//! and when the writer is dropped (also on an error or a panic that unwinds), so only a
//! process killed outright loses rows, at most the last period's.
//!
//! Columns: `iteration,env_steps,wall_s,<metric names…>`. Floats are written so that they
//! parse back to the identical `f64` (shortest round-trip digits); NaN is `nan` and the
//! infinities are `inf` / `-inf`, which Python, pandas and Rust all read.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::io::{IoError, write_atomic};

/// The columns every `metrics.csv` starts with, before the program's own metrics.
pub const FIXED_COLUMNS: [&str; 3] = ["iteration", "env_steps", "wall_s"];

const FORMAT: &str = "metrics CSV";

/// Appends rows to a `metrics.csv`, one per [`write_row`](MetricsWriter::write_row) call.
#[derive(Debug)]
pub struct MetricsWriter {
    path: PathBuf,
    file: File,
    width: usize,
    /// Rows formatted but not yet written (empty unless rows are held).
    held: String,
    /// When the oldest held row was formatted.
    held_since: Option<Instant>,
    /// How long a row may be held before it is written; zero writes each row at once.
    hold: Duration,
}

/// Held rows are written once they take this many bytes, whatever their age.
const HELD_BYTES: usize = 1 << 20;

impl MetricsWriter {
    /// Creates (or truncates) `path` and writes the header
    /// `iteration,env_steps,wall_s,<names…>`.
    ///
    /// Names must be non-empty, distinct, different from the fixed columns, and free of
    /// commas, quotes and line breaks — the file is plain, unquoted CSV so that any tool can
    /// read it; names come from `log` statements, so this only rejects programmer errors.
    pub fn create<S: AsRef<str>>(path: &Path, names: &[S]) -> Result<MetricsWriter, IoError> {
        let header = header_line(path, names)?;
        let mut file = File::create(path).map_err(|e| IoError::io(path, "create", e))?;
        file.write_all(header.as_bytes())
            .map_err(|e| IoError::io(path, "write the header of", e))?;
        Ok(MetricsWriter {
            path: path.to_owned(),
            file,
            width: names.len(),
            held: String::new(),
            held_since: None,
            hold: Duration::ZERO,
        })
    }

    /// Continues the `metrics.csv` of a run resumed from a checkpoint taken after iteration
    /// `last_iteration`: rows for later iterations (logged after that checkpoint, before the
    /// run stopped) are dropped, since the resumed run logs them again. The kept rows are
    /// preserved byte for byte, so a resumed run's file equals an uninterrupted run's.
    ///
    /// If `path` does not exist this is [`create`](MetricsWriter::create). An existing
    /// file with other columns is an error rather than being overwritten.
    pub fn resume<S: AsRef<str>>(
        path: &Path,
        names: &[S],
        last_iteration: u64,
    ) -> Result<MetricsWriter, IoError> {
        let header = header_line(path, names)?;
        let text = match fs::read(path) {
            Ok(bytes) => String::from_utf8(bytes)
                .map_err(|_| IoError::corrupt(path, FORMAT, "the file is not UTF-8 text"))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Self::create(path, names),
            Err(e) => return Err(IoError::io(path, "read", e)),
        };
        let Some(existing_header) = text.split_inclusive('\n').next() else {
            return Self::create(path, names);
        };
        if existing_header.trim_end() != header.trim_end() {
            return Err(IoError::invalid(
                path,
                format!(
                    "it has the columns `{}` but this run logs `{}`",
                    existing_header.trim_end(),
                    header.trim_end()
                ),
            ));
        }
        let mut kept = existing_header.to_owned();
        for (i, line) in text.split_inclusive('\n').enumerate().skip(1) {
            if !line.ends_with('\n') {
                break; // a row cut short by a kill; the resumed run writes it again
            }
            let iteration: u64 = line
                .split(',')
                .next()
                .and_then(|field| field.trim().parse().ok())
                .ok_or_else(|| {
                    IoError::corrupt(path, FORMAT, format!("line {}: no iteration number", i + 1))
                })?;
            if iteration > last_iteration {
                break;
            }
            kept.push_str(line);
        }
        write_atomic(path, kept.as_bytes())?;
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| IoError::io(path, "open", e))?;
        Ok(MetricsWriter {
            path: path.to_owned(),
            file,
            width: names.len(),
            held: String::new(),
            held_since: None,
            hold: Duration::ZERO,
        })
    }

    /// Appends one row; `values` are the metrics in the order of the names given at
    /// creation. The row is in the file (though not necessarily on disk) when this returns.
    pub fn write_row(
        &mut self,
        iteration: u64,
        env_steps: u64,
        wall_s: f64,
        values: &[f64],
    ) -> Result<(), IoError> {
        if values.len() != self.width {
            return Err(IoError::invalid(
                &self.path,
                format!(
                    "a row needs {} metric values, got {}",
                    self.width,
                    values.len()
                ),
            ));
        }
        use std::fmt::Write as _;
        let line = &mut self.held;
        // Writing into a `String` cannot fail.
        let _ = write!(line, "{iteration},{env_steps},{}", format_f64(wall_s));
        for &v in values {
            line.push(',');
            line.push_str(&format_f64(v));
        }
        line.push('\n');
        if self.hold.is_zero() || self.held.len() >= HELD_BYTES {
            return self.flush();
        }
        let since = *self.held_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= self.hold {
            return self.flush();
        }
        Ok(())
    }

    /// From now on, keeps rows for up to `period` and writes those held together with one
    /// `write` call (see the module documentation). A zero period writes each row as it
    /// comes, which is the default.
    pub fn hold_rows(&mut self, period: Duration) -> Result<(), IoError> {
        self.hold = period;
        self.flush()
    }

    /// Writes the rows being held. On an error they are dropped, not written twice.
    pub fn flush(&mut self) -> Result<(), IoError> {
        self.held_since = None;
        if self.held.is_empty() {
            return Ok(());
        }
        let done = self
            .file
            .write_all(self.held.as_bytes())
            .map_err(|e| IoError::io(&self.path, "append a row to", e));
        self.held.clear();
        done
    }

    /// The file this writer appends to.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for MetricsWriter {
    /// Writes the rows still held (an error here has no one to report to; the rows are
    /// then missing, as after a kill).
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

fn header_line<S: AsRef<str>>(path: &Path, names: &[S]) -> Result<String, IoError> {
    let mut header = FIXED_COLUMNS.join(",");
    for (i, name) in names.iter().enumerate() {
        let name = name.as_ref();
        let problem = if name.is_empty() {
            Some("is empty")
        } else if name.contains([',', '"', '\n', '\r']) {
            Some("contains a comma, quote or line break")
        } else if FIXED_COLUMNS.contains(&name) {
            Some("is one of the fixed columns")
        } else if names[..i].iter().any(|other| other.as_ref() == name) {
            Some("appears twice")
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(IoError::invalid(
                path,
                format!("metric name `{name}` {problem}"),
            ));
        }
        header.push(',');
        header.push_str(name);
    }
    header.push('\n');
    Ok(header)
}

/// Shortest digits that parse back to the same `f64`. Plain decimal in the usual range,
/// exponent form for very large or small magnitudes (Rust's `{}` never uses an exponent,
/// so `1e-30` would otherwise be written with 30 zeros).
fn format_f64(v: f64) -> String {
    if v.is_nan() {
        "nan".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.to_owned()
    } else if v == 0.0 || (1e-5..1e16).contains(&v.abs()) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// Reads a `metrics.csv`: the column names (including the fixed ones) and every row as
/// `f64`s, in file order. A last line without its newline — a write cut short by a kill —
/// is ignored if it does not parse; any other malformed line is an error naming the line.
pub fn read_metrics_csv(path: &Path) -> Result<(Vec<String>, Vec<Vec<f64>>), IoError> {
    let bytes = fs::read(path).map_err(|e| IoError::io(path, "read", e))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| IoError::corrupt(path, FORMAT, "the file is not UTF-8 text"))?;
    let mut lines = text.split_inclusive('\n');
    let header = lines
        .next()
        .ok_or_else(|| IoError::corrupt(path, FORMAT, "the file is empty"))?;
    let columns: Vec<String> = header
        .trim_end_matches(['\n', '\r'])
        .split(',')
        .map(str::to_owned)
        .collect();
    if columns.len() < FIXED_COLUMNS.len() || columns[..FIXED_COLUMNS.len()] != FIXED_COLUMNS {
        return Err(IoError::corrupt(
            path,
            FORMAT,
            format!(
                "the header does not start with `{}`",
                FIXED_COLUMNS.join(",")
            ),
        ));
    }
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        let complete = line.ends_with('\n');
        let content = line.trim_end_matches(['\n', '\r']);
        if content.is_empty() {
            continue;
        }
        match parse_row(content, columns.len()) {
            Ok(row) => rows.push(row),
            Err(_) if !complete => break,
            Err(problem) => {
                return Err(IoError::corrupt(
                    path,
                    FORMAT,
                    format!("line {}: {problem}", i + 2),
                ));
            }
        }
    }
    Ok((columns, rows))
}

fn parse_row(line: &str, width: usize) -> Result<Vec<f64>, String> {
    let row = line
        .split(',')
        .map(|field| {
            field
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("`{field}` is not a number"))
        })
        .collect::<Result<Vec<f64>, String>>()?;
    if row.len() != width {
        return Err(format!("{} fields, the header has {width}", row.len()));
    }
    Ok(row)
}
