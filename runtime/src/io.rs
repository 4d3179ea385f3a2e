//! Files that are either written whole or not at all, and tensors in NumPy's `.npy` /
//! `.npz` formats.
//!
//! Every write goes through [`write_atomic_with`]: the bytes go to a temporary file beside
//! the target, are fsynced, and the temporary file is renamed over the target. A crash, a
//! kill or a full disk at any moment therefore leaves either the old file or the new one at
//! the target path, never a prefix of the new one — so a reader never has to guess whether
//! a checkpoint is complete.
//!
//! Every failure is an [`IoError`] that names the file and says what went wrong; nothing
//! here panics on bad input. Readers check an array's header against the bytes actually
//! present *before* allocating, so a corrupt file cannot make the loader allocate more than
//! the file holds.
//!
//! `.npz` files are written uncompressed with fixed timestamps: the same tensors always give
//! the same bytes, so two runs can be compared by their checkpoint files.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ndarray::ArrayD;
use ndarray_npy::{ReadNpyExt, WriteNpyError, WriteNpyExt};
use zip::result::ZipError;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use crate::tensor::{DType, Tensor};

/// A failed file operation. Every variant carries the path it is about, and its message
/// says what was being done and why it failed, so it can be shown to a user as is.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// The operating system refused an operation: a missing or read-only directory, a full
    /// disk, a path component that is a regular file, a permission problem …
    #[error("cannot {action} `{}`: {error}", .path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        error: io::Error,
    },

    /// The file exists but is not a valid file of the expected `format`: empty, truncated,
    /// overwritten with other bytes, or a different kind of file altogether.
    #[error("`{}` is not a valid {format} file: {detail}", .path.display())]
    Corrupt {
        path: PathBuf,
        format: &'static str,
        detail: String,
    },

    /// An array whose element type has no rlpc dtype (`u16`, complex, a structured dtype …).
    /// `array` is the array's name inside an `.npz`, `None` for an `.npy`.
    #[error(
        "`{}`: {} has element type `{descr}`, which rlpc cannot load \
         (it reads f32 `<f4`, f64 `<f8`, i32 `<i4`, i64 `<i8` as i32, and bool `|b1` arrays)",
        .path.display(),
        array_label(.array.as_deref())
    )]
    UnsupportedDtype {
        path: PathBuf,
        array: Option<String>,
        descr: String,
    },

    /// What the caller asked to write cannot be represented: two arrays with the same name,
    /// a metrics row of the wrong width, a column name that would break the CSV …
    #[error("cannot write `{}`: {detail}", .path.display())]
    Invalid { path: PathBuf, detail: String },
}

fn array_label(array: Option<&str>) -> String {
    match array {
        Some(name) => format!("array `{name}`"),
        None => "the array".to_owned(),
    }
}

impl IoError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            IoError::Io { path, .. }
            | IoError::Corrupt { path, .. }
            | IoError::UnsupportedDtype { path, .. }
            | IoError::Invalid { path, .. } => path,
        }
    }

    /// The operating-system error behind an [`IoError::Io`], e.g. to tell "not found"
    /// (no checkpoint yet) from a real failure.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            IoError::Io { error, .. } => Some(error),
            _ => None,
        }
    }

    pub(crate) fn io(path: &Path, action: &'static str, error: io::Error) -> IoError {
        IoError::Io {
            path: path.to_owned(),
            action,
            error,
        }
    }

    pub(crate) fn corrupt(path: &Path, format: &'static str, detail: impl Into<String>) -> IoError {
        IoError::Corrupt {
            path: path.to_owned(),
            format,
            detail: detail.into(),
        }
    }

    pub(crate) fn invalid(path: &Path, detail: impl Into<String>) -> IoError {
        IoError::Invalid {
            path: path.to_owned(),
            detail: detail.into(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Atomic writes
// ---------------------------------------------------------------------------------------

/// Replaces the file at `path` with `bytes`, atomically: afterwards `path` holds either
/// its old contents (on any error) or exactly `bytes`, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    write_atomic_with(path, |file| file.write_all(bytes))
}

/// Like [`write_atomic`], for contents produced by streaming into the file rather than
/// held in memory (large checkpoints). `write` receives a fresh, empty temporary file in
/// the target's directory; if it fails — or anything after it does — the temporary file
/// is removed and `path` is left untouched.
///
/// The temporary file is fsynced before the rename, so after a power loss `path` holds old
/// or new contents, not zeros. The directory is then fsynced too, on a best-effort basis:
/// that only decides whether the rename itself survives a power loss, and some file
/// systems do not support it. A file that existed keeps its permissions; a new file gets
/// the default ones. A symbolic link is written through: the file it points to is
/// replaced and the link stays.
pub fn write_atomic_with<F>(path: &Path, write: F) -> Result<(), IoError>
where
    F: FnOnce(&mut File) -> io::Result<()>,
{
    let resolved = through_links(path);
    let path = resolved.as_path();
    let Some(name) = path.file_name() else {
        return Err(IoError::invalid(path, "the path does not name a file"));
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let (mut file, temp) =
        create_temp(dir, name).map_err(|e| IoError::io(path, "create a temporary file for", e))?;
    let temp = TempGuard(Some(temp));
    write(&mut file).map_err(|e| IoError::io(path, "write", e))?;
    if let Ok(old) = fs::metadata(path) {
        file.set_permissions(old.permissions())
            .map_err(|e| IoError::io(path, "keep the permissions of", e))?;
    }
    file.sync_all()
        .map_err(|e| IoError::io(path, "flush to disk", e))?;
    drop(file);
    fs::rename(temp.path(), path)
        .map_err(|e| IoError::io(path, "move the finished file into place at", e))?;
    temp.disarm();
    #[cfg(unix)]
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// The file `path` names once symbolic links are followed (a link's target relative to
/// the link's directory), so that replacing it keeps the links; `path` itself when it is
/// not a link or cannot be read as one.
fn through_links(path: &Path) -> std::path::PathBuf {
    let mut p = path.to_path_buf();
    // A bound on the chain, as the OS has (a loop of links ends here too).
    for _ in 0..40 {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => match fs::read_link(&p) {
                Ok(target) => {
                    p = match p.parent() {
                        Some(dir) if target.is_relative() => dir.join(target),
                        _ => target,
                    }
                }
                Err(_) => return p,
            },
            _ => return p,
        }
    }
    p
}

/// The suffix of every temporary file [`write_atomic_with`] creates; its name is
/// `.<target name>.<pid>.<counter>.tmp`.
pub(crate) const TEMP_SUFFIX: &str = ".tmp";

/// Creates a new, empty temporary file in `dir` whose name cannot collide with another
/// thread's or process's (the pid and a process-wide counter are part of it).
fn create_temp(dir: &Path, name: &std::ffi::OsStr) -> io::Result<(File, PathBuf)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut temp_name = OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".{}.{n}{TEMP_SUFFIX}", std::process::id()));
        let temp = dir.join(temp_name);
        match OpenOptions::new().write(true).create_new(true).open(&temp) {
            Ok(file) => return Ok((file, temp)),
            // A leftover from a killed process that had the same pid: pick the next name.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Deletes the temporary file when dropped, unless it was renamed into place. Dropping
/// also covers a `write` callback that panics.
struct TempGuard(Option<PathBuf>);

impl TempGuard {
    fn path(&self) -> &Path {
        self.0.as_deref().expect("TempGuard used after disarm")
    }
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = fs::remove_file(path);
        }
    }
}

// ---------------------------------------------------------------------------------------
// .npy and .npz
// ---------------------------------------------------------------------------------------

/// Writes one tensor as an `.npy` file (atomically), readable by `numpy.load`.
pub fn save_npy(path: &Path, tensor: &Tensor) -> Result<(), IoError> {
    write_atomic_with(path, |file| {
        let mut out = BufWriter::new(file);
        write_npy(tensor, &mut out)?;
        out.flush()
    })
}

/// Reads an `.npy` file holding an f32, f64, i32 or bool array (either byte order, C or
/// Fortran order). The result is in standard (row-major) layout.
pub fn load_npy(path: &Path) -> Result<Tensor, IoError> {
    let bytes = fs::read(path).map_err(|e| IoError::io(path, "read", e))?;
    decode_npy(&bytes).map_err(|p| p.at(path, "npy", None))
}

/// Writes named tensors as an uncompressed `.npz` archive (atomically), readable by
/// `numpy.load`. Each tensor is stored as `<name>.npy`, as `numpy.savez` does. Names must
/// be non-empty and distinct, since a reader looks arrays up by name.
pub fn save_npz(path: &Path, tensors: &[(String, Tensor)]) -> Result<(), IoError> {
    for (i, (name, _)) in tensors.iter().enumerate() {
        if name.is_empty() {
            return Err(IoError::invalid(
                path,
                format!("array {i} has an empty name"),
            ));
        }
        if tensors[..i].iter().any(|(other, _)| other == name) {
            return Err(IoError::invalid(
                path,
                format!("two arrays are named `{name}`"),
            ));
        }
    }
    write_atomic_with(path, |file| {
        let mut zip = ZipWriter::new(BufWriter::new(file));
        for (name, tensor) in tensors {
            // Entries over 4 GiB need zip64 records; smaller ones are kept plain so that
            // every zip reader accepts them.
            let data_bytes =
                (tensor.len() as u64).saturating_mul(tensor.dtype().size_bytes() as u64);
            let options = SimpleFileOptions::default()
                .compression_method(CompressionMethod::Stored)
                .last_modified_time(zip::DateTime::default())
                .large_file(data_bytes > u64::from(u32::MAX) - 65_536);
            zip.start_file(format!("{name}.npy"), options)
                .map_err(zip_to_io)?;
            write_npy(tensor, &mut zip)?;
        }
        zip.finish().map_err(zip_to_io)?.flush()
    })
}

/// Reads every array of an `.npz` archive (as written by [`save_npz`] or `numpy.savez`),
/// in archive order, with the `.npy` suffix removed from each name. Compressed archives
/// (`numpy.savez_compressed`) are reported as unsupported.
pub fn load_npz(path: &Path) -> Result<Vec<(String, Tensor)>, IoError> {
    const FORMAT: &str = "npz";
    let file = File::open(path).map_err(|e| IoError::io(path, "open", e))?;
    let len = file
        .metadata()
        .map_err(|e| IoError::io(path, "read", e))?
        .len();
    if len == 0 {
        return Err(IoError::corrupt(path, FORMAT, "the file is empty"));
    }
    let mut zip = ZipArchive::new(BufReader::new(file)).map_err(|e| zip_error(path, None, e))?;
    let mut tensors = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        // Look at the entry without decompressing it first, so a compressed archive gets
        // a message that says so rather than a generic "unsupported".
        let (raw_name, compression, is_dir) = {
            let entry = zip.by_index_raw(i).map_err(|e| zip_error(path, None, e))?;
            (entry.name().to_owned(), entry.compression(), entry.is_dir())
        };
        if is_dir {
            continue;
        }
        let name = raw_name
            .strip_suffix(".npy")
            .unwrap_or(&raw_name)
            .to_owned();
        if compression != CompressionMethod::Stored {
            return Err(IoError::corrupt(
                path,
                FORMAT,
                format!(
                    "array `{name}` is compressed; rlpc reads uncompressed archives \
                     (numpy.savez, not numpy.savez_compressed)"
                ),
            ));
        }
        let mut entry = zip
            .by_index(i)
            .map_err(|e| zip_error(path, Some(&name), e))?;
        // The declared size only sizes the buffer; it is capped by the file's length so a
        // corrupt directory cannot make us allocate more than the file holds.
        let mut bytes = Vec::with_capacity(entry.size().min(len) as usize);
        if let Err(e) = entry.read_to_end(&mut bytes) {
            return Err(zip_error(path, Some(&name), ZipError::Io(e)));
        }
        let tensor = decode_npy(&bytes).map_err(|p| p.at(path, FORMAT, Some(&name)))?;
        tensors.push((name, tensor));
    }
    Ok(tensors)
}

fn write_npy<W: Write>(tensor: &Tensor, out: W) -> io::Result<()> {
    let result = match tensor {
        Tensor::F32(a) => a.write_npy(out),
        Tensor::F64(a) => a.write_npy(out),
        Tensor::I32(a) => a.write_npy(out),
        Tensor::Bool(a) => a.write_npy(out),
    };
    result.map_err(|e| match e {
        WriteNpyError::Io(e) => e,
        other => io::Error::other(other.to_string()),
    })
}

fn zip_to_io(e: ZipError) -> io::Error {
    match e {
        ZipError::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

/// Classifies a zip-level failure: damaged bytes are [`IoError::Corrupt`], a failing
/// device is [`IoError::Io`].
fn zip_error(path: &Path, array: Option<&str>, e: ZipError) -> IoError {
    let prefix = array
        .map(|name| format!("array `{name}`: "))
        .unwrap_or_default();
    match e {
        ZipError::Io(e)
            if !matches!(
                e.kind(),
                io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
            ) =>
        {
            IoError::io(path, "read", e)
        }
        ZipError::Io(e) => IoError::corrupt(path, "npz", format!("{prefix}{e}")),
        other => IoError::corrupt(path, "npz", format!("{prefix}{other}")),
    }
}

/// Why bytes are not a loadable `.npy`, before we know which file they came from.
#[derive(Debug)]
enum NpyProblem {
    Corrupt(String),
    Unsupported(String),
}

impl NpyProblem {
    fn at(self, path: &Path, format: &'static str, array: Option<&str>) -> IoError {
        match self {
            NpyProblem::Corrupt(detail) => {
                let detail = match array {
                    Some(name) => format!("array `{name}`: {detail}"),
                    None => detail,
                };
                IoError::corrupt(path, format, detail)
            }
            NpyProblem::Unsupported(descr) => IoError::UnsupportedDtype {
                path: path.to_owned(),
                array: array.map(str::to_owned),
                descr,
            },
        }
    }
}

const NPY_MAGIC: &[u8] = b"\x93NUMPY";

/// Decodes a complete `.npy` image. The header is parsed and checked against the data
/// length here; ndarray-npy then decodes the (now known to be well-sized) data.
fn decode_npy(bytes: &[u8]) -> Result<Tensor, NpyProblem> {
    let corrupt = |s: String| NpyProblem::Corrupt(s);
    if bytes.is_empty() {
        return Err(corrupt("the file is empty".into()));
    }
    if !bytes.starts_with(&NPY_MAGIC[..bytes.len().min(NPY_MAGIC.len())]) {
        return Err(corrupt(
            "it does not start with the .npy magic bytes".into(),
        ));
    }
    if bytes.len() < 10 {
        return Err(corrupt(format!(
            "truncated: {} bytes, shorter than an .npy preamble",
            bytes.len()
        )));
    }
    let (header_start, header_len): (usize, usize) = match bytes[6] {
        1 => (10, u16::from_le_bytes([bytes[8], bytes[9]]) as usize),
        2 | 3 if bytes.len() >= 12 => (
            12,
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
        ),
        2 | 3 => return Err(corrupt("truncated inside the preamble".into())),
        v => {
            return Err(corrupt(format!(
                "unknown .npy format version {v}.{}",
                bytes[7]
            )));
        }
    };
    let data_start = header_start
        .checked_add(header_len)
        .filter(|&end| end <= bytes.len())
        .ok_or_else(|| {
            corrupt(format!(
                "truncated: the header says it is {header_len} bytes long but only {} bytes follow",
                bytes.len() - header_start
            ))
        })?;
    let header = std::str::from_utf8(&bytes[header_start..data_start])
        .map_err(|_| corrupt("the header is not text".into()))?;
    let header = NpyHeader::parse(header).map_err(|e| corrupt(format!("bad header: {e}")))?;

    // 64-bit integers (NumPy's default) are read as i32 when every value fits.
    let wide_int = matches!(header.descr.as_str(), "<i8" | ">i8");
    let dtype = match header.descr.as_str() {
        "<f4" | ">f4" => DType::F32,
        "<i8" | ">i8" => DType::I32,
        "<f8" | ">f8" => DType::F64,
        "<i4" | ">i4" => DType::I32,
        "|b1" => DType::Bool,
        _ => return Err(NpyProblem::Unsupported(header.descr)),
    };
    let expected = header
        .shape
        .iter()
        .try_fold(if wide_int { 8 } else { dtype.size_bytes() }, |acc, &d| {
            acc.checked_mul(d)
        })
        .ok_or_else(|| {
            corrupt(format!(
                "the shape {:?} is too large to exist",
                header.shape
            ))
        })?;
    let present = bytes.len() - data_start;
    if present < expected {
        return Err(corrupt(format!(
            "truncated: a {dtype} array of shape {:?} needs {expected} bytes of data but only {present} are present",
            header.shape
        )));
    }
    if present > expected {
        return Err(corrupt(format!(
            "{} unexpected bytes after the data of a {dtype} array of shape {:?}",
            present - expected,
            header.shape
        )));
    }

    fn read<T: ndarray_npy::ReadableElement>(bytes: &[u8]) -> Result<ArrayD<T>, NpyProblem> {
        ArrayD::<T>::read_npy(bytes).map_err(|e| NpyProblem::Corrupt(e.to_string()))
    }
    let tensor = match dtype {
        DType::I32 if wide_int => {
            let wide: ArrayD<i64> = read(bytes)?;
            let narrow = wide.mapv(|v| i32::try_from(v).ok());
            if let Some(v) = wide.iter().zip(&narrow).find(|(_, n)| n.is_none()) {
                return Err(corrupt(format!(
                    "an i64 array holds {}, which does not fit the i32 rlpc reads it as",
                    v.0
                )));
            }
            Tensor::I32(narrow.mapv(|v| v.unwrap_or(0)))
        }
        DType::F32 => Tensor::F32(read(bytes)?),
        DType::F64 => Tensor::F64(read(bytes)?),
        DType::I32 => Tensor::I32(read(bytes)?),
        DType::Bool => Tensor::Bool(read(bytes)?),
    };
    Ok(tensor.into_standard())
}

/// The three keys of an `.npy` header dictionary.
struct NpyHeader {
    descr: String,
    shape: Vec<usize>,
}

/// The Python literals that occur in `.npy` headers.
#[derive(Debug)]
enum PyLit {
    Str(String),
    /// `True` or `False`; only `fortran_order` is one, and ndarray-npy reads its value.
    Bool,
    Int(u128),
    Seq(Vec<PyLit>),
}

impl NpyHeader {
    /// Parses `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`. Strict: exactly
    /// these three keys, so a damaged header is reported rather than half-understood.
    fn parse(text: &str) -> Result<NpyHeader, String> {
        let mut p = LitParser {
            s: text.as_bytes(),
            i: 0,
        };
        let entries = p.dict()?;
        p.ws();
        if p.i != p.s.len() {
            return Err("unexpected text after the dictionary".into());
        }
        let (mut descr, mut fortran, mut shape) = (None, None, None);
        for (key, value) in entries {
            let slot = match key.as_str() {
                "descr" => &mut descr,
                "fortran_order" => &mut fortran,
                "shape" => &mut shape,
                other => return Err(format!("unexpected key `{other}`")),
            };
            if slot.replace(value).is_some() {
                return Err(format!("key `{key}` appears twice"));
            }
        }
        let descr = match descr.ok_or("no `descr` key")? {
            PyLit::Str(s) => s,
            PyLit::Seq(_) => "structured (record) dtype".to_owned(),
            other => return Err(format!("`descr` is {other:?}, not a type string")),
        };
        if !matches!(fortran.ok_or("no `fortran_order` key")?, PyLit::Bool) {
            return Err("`fortran_order` is not True or False".into());
        }
        let shape = match shape.ok_or("no `shape` key")? {
            PyLit::Seq(dims) => dims
                .into_iter()
                .map(|d| match d {
                    PyLit::Int(n) => {
                        usize::try_from(n).map_err(|_| format!("dimension {n} is too large"))
                    }
                    other => Err(format!("dimension {other:?} is not an integer")),
                })
                .collect::<Result<Vec<_>, _>>()?,
            other => return Err(format!("`shape` is {other:?}, not a tuple")),
        };
        Ok(NpyHeader { descr, shape })
    }
}

/// A recursive-descent reader for the small subset of Python literal syntax NumPy writes.
struct LitParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl LitParser<'_> {
    /// Nesting beyond this is not a real header; the limit keeps recursion bounded.
    const MAX_DEPTH: usize = 32;

    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn dict(&mut self) -> Result<Vec<(String, PyLit)>, String> {
        if !self.eat(b'{') {
            return Err("it is not a dictionary".into());
        }
        let mut entries = Vec::new();
        while !self.eat(b'}') {
            let key = match self.value(0)? {
                PyLit::Str(key) => key,
                other => return Err(format!("dictionary key {other:?} is not a string")),
            };
            if !self.eat(b':') {
                return Err(format!("expected `:` after key `{key}`"));
            }
            entries.push((key, self.value(0)?));
            if !self.eat(b',') && self.peek() != Some(b'}') {
                return Err("expected `,` or `}` in the dictionary".into());
            }
        }
        Ok(entries)
    }

    fn value(&mut self, depth: usize) -> Result<PyLit, String> {
        if depth > Self::MAX_DEPTH {
            return Err("nested too deeply".into());
        }
        match self.peek() {
            Some(q @ (b'\'' | b'"')) => {
                self.i += 1;
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i] != q {
                    if self.s[self.i] == b'\\' {
                        return Err("escape sequences are not expected in a header".into());
                    }
                    self.i += 1;
                }
                if self.i == self.s.len() {
                    return Err("unterminated string".into());
                }
                let text = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
                self.i += 1;
                Ok(PyLit::Str(text))
            }
            Some(open @ (b'(' | b'[')) => {
                let close = if open == b'(' { b')' } else { b']' };
                self.i += 1;
                let mut items = Vec::new();
                while !self.eat(close) {
                    items.push(self.value(depth + 1)?);
                    if !self.eat(b',') && self.peek() != Some(close) {
                        return Err(format!("expected `,` or `{}`", close as char));
                    }
                }
                Ok(PyLit::Seq(items))
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                    self.i += 1;
                }
                let digits = std::str::from_utf8(&self.s[start..self.i]).expect("ASCII digits");
                // Python 2 wrote long integers with an `L` suffix.
                if self.s.get(self.i) == Some(&b'L') {
                    self.i += 1;
                }
                digits
                    .parse()
                    .map(PyLit::Int)
                    .map_err(|_| format!("integer {digits} is too large"))
            }
            _ => {
                for word in ["True", "False"] {
                    if self.s[self.i..].starts_with(word.as_bytes()) {
                        self.i += word.len();
                        return Ok(PyLit::Bool);
                    }
                }
                Err(format!("unexpected text at byte {} of the header", self.i))
            }
        }
    }
}
