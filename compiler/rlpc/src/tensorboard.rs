//! TensorBoard event files: `rlpc run --tensorboard` logs every metric of `metrics.csv`
//! as a scalar summary to `<run>/tensorboard/events.out.tfevents.<secs>.<host>.<pid>.rlpc`,
//! so `tensorboard --logdir runs` shows runs live.
//!
//! **Format.** A sequence of TFRecords — `u64` length (little endian), the masked CRC32C
//! of those 8 bytes, the data, the masked CRC32C of the data — each holding an `Event`
//! protobuf (TensorFlow's `event.proto` and `summary.proto`; the few fields used are
//! declared below with prost, tag numbers as in those files). The first event names the
//! format (`file_version: "brain.Event:2"`); a fresh run's second holds its
//! hyperparameters as a summary of TensorBoard's hparams plugin (the map of
//! [`crate::hparams`]); then one event per iteration holds each metric as a
//! `simple_value` (an `f32`). A NaN metric ("no value yet") is left out, as in the plots.
//!
//! **Step.** The x axis is environment steps, as in the plots of `metrics.csv`, when
//! every iteration steps an environment; otherwise (training on a dataset, sampling every
//! K iterations) iterations done. TensorBoard keeps one value per step and tag, so the
//! step must grow every iteration.
//!
//! **Live and resumable.** Each iteration's event is one `write` to the file, so
//! TensorBoard sees it at once and a killed run leaves at worst a cut-off last record,
//! which readers (this one and TensorBoard's) ignore. A resumed run writes a new file
//! (TensorBoard reads all the files of a directory) and leaves out the steps already in
//! the older files: the resumed iterations repeat them exactly. A fresh run removes the
//! event files a previous run left in the directory, as it truncates `metrics.csv`.

use crate::program::Program;
use prost::Message;
use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

/// The folder of the run directory that holds the event files.
pub const DIR: &str = "tensorboard";

/// What every event file name contains (TensorBoard reads only such files).
const EVENTS_PREFIX: &str = "events.out.tfevents.";

/// The `file_version` of the first event.
pub const FILE_VERSION: &str = "brain.Event:2";

/// The tag of the hparams plugin's per-run summary.
pub const HPARAMS_TAG: &str = "_hparams_/session_start_info";

/// The protobuf messages written, with the fields used (tags from TensorFlow's
/// `event.proto`, `summary.proto`, `tensor.proto`, `tensor_shape.proto`, struct.proto's
/// `Value` and the hparams plugin's `plugin_data.proto`).
pub mod proto {
    use std::collections::BTreeMap;

    /// `tensorflow.Event`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Event {
        /// Seconds since the Unix epoch.
        #[prost(double, tag = "1")]
        pub wall_time: f64,
        #[prost(int64, tag = "2")]
        pub step: i64,
        #[prost(oneof = "What", tags = "3, 5")]
        pub what: Option<What>,
    }

    /// The `what` of an [`Event`].
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum What {
        #[prost(string, tag = "3")]
        FileVersion(String),
        #[prost(message, tag = "5")]
        Summary(Summary),
    }

    /// `tensorflow.Summary`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Summary {
        #[prost(message, repeated, tag = "1")]
        pub value: Vec<Value>,
    }

    /// `tensorflow.Summary.Value`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Value {
        #[prost(string, tag = "1")]
        pub tag: String,
        #[prost(message, optional, tag = "9")]
        pub metadata: Option<SummaryMetadata>,
        #[prost(oneof = "Kind", tags = "2, 8")]
        pub kind: Option<Kind>,
    }

    /// The `value` of a [`Value`] (a oneof: a `simple_value` of 0 is still written).
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Kind {
        #[prost(float, tag = "2")]
        SimpleValue(f32),
        #[prost(message, tag = "8")]
        Tensor(TensorProto),
    }

    /// `tensorflow.SummaryMetadata`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SummaryMetadata {
        #[prost(message, optional, tag = "1")]
        pub plugin_data: Option<PluginData>,
    }

    /// `tensorflow.SummaryMetadata.PluginData`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PluginData {
        #[prost(string, tag = "1")]
        pub plugin_name: String,
        #[prost(bytes = "vec", tag = "2")]
        pub content: Vec<u8>,
    }

    /// `tensorflow.TensorProto`: only the dtype and the shape (an empty tensor).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorProto {
        /// `tensorflow.DataType` (1: `DT_FLOAT`).
        #[prost(int32, tag = "1")]
        pub dtype: i32,
        #[prost(message, optional, tag = "2")]
        pub tensor_shape: Option<TensorShape>,
    }

    /// `tensorflow.TensorShapeProto`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorShape {
        #[prost(message, repeated, tag = "2")]
        pub dim: Vec<Dim>,
    }

    /// `tensorflow.TensorShapeProto.Dim`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Dim {
        #[prost(int64, tag = "1")]
        pub size: i64,
    }

    /// `tensorboard.hparams.HParamsPluginData` with its `session_start_info` (the
    /// `data` oneof's other members are not written).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct HParamsPluginData {
        #[prost(int32, tag = "1")]
        pub version: i32,
        #[prost(message, optional, tag = "3")]
        pub session_start_info: Option<SessionStartInfo>,
    }

    /// `tensorboard.hparams.SessionStartInfo`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SessionStartInfo {
        #[prost(btree_map = "string, message", tag = "1")]
        pub hparams: BTreeMap<String, HParamValue>,
        #[prost(double, tag = "5")]
        pub start_time_secs: f64,
    }

    /// `google.protobuf.Value`, the kinds an hparam can have.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct HParamValue {
        #[prost(oneof = "HParamKind", tags = "2, 3, 4")]
        pub kind: Option<HParamKind>,
    }

    /// The `kind` of an [`HParamValue`].
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum HParamKind {
        #[prost(double, tag = "2")]
        Number(f64),
        #[prost(string, tag = "3")]
        String(String),
        #[prost(bool, tag = "4")]
        Bool(bool),
    }
}

/// The x axis of the scalars (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepAxis {
    /// Environment steps taken so far (`metrics.csv`'s `env_steps`).
    EnvSteps,
    /// Iterations done (`metrics.csv`'s `iteration` plus one).
    Iterations,
}

impl StepAxis {
    /// Environment steps when a stage that runs every iteration steps an environment
    /// (so they grow every iteration), else iterations.
    pub fn of(program: &Program) -> StepAxis {
        let every_iteration = |s: &crate::program::Stage| {
            s.env_steps > 0 && s.schedule.period == 1 && s.schedule.after == 0
        };
        if program.stages.iter().any(every_iteration) {
            StepAxis::EnvSteps
        } else {
            StepAxis::Iterations
        }
    }

    /// The step of the row written after iteration `iteration` with `env_steps` taken.
    pub fn step(self, iteration: u64, env_steps: u64) -> i64 {
        let n = match self {
            StepAxis::EnvSteps => env_steps,
            StepAxis::Iterations => iteration + 1,
        };
        i64::try_from(n).unwrap_or(i64::MAX)
    }
}

/// Appends a run's metrics to a new event file, one event per iteration.
#[derive(Debug)]
pub struct EventWriter {
    path: PathBuf,
    file: File,
    names: Vec<String>,
    axis: StepAxis,
    /// The last step an earlier event file of the run holds: steps up to it are not
    /// written again.
    written_through: Option<i64>,
}

impl EventWriter {
    /// Opens a new event file in `run_dir/tensorboard` for `program`'s metrics. A
    /// `fresh` run first removes the event files there and writes `hparams` (see
    /// [`crate::hparams`]) as an hparams-plugin summary; a resumed one continues after
    /// the last step the existing files hold.
    pub fn open(
        run_dir: &Path,
        program: &Program,
        fresh: bool,
        hparams: &[(String, serde_json::Value)],
    ) -> Result<EventWriter, String> {
        let dir = run_dir.join(DIR);
        fs::create_dir_all(&dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
        let existing = event_files(&dir)?;
        let mut written_through = None;
        for path in &existing {
            if fresh {
                fs::remove_file(path).map_err(|e| {
                    format!(
                        "cannot remove `{}` left by an earlier run: {e}",
                        path.display()
                    )
                })?;
                continue;
            }
            let events = read_events(path).map_err(|e| {
                format!("{e}\n  (TensorBoard cannot read it either; move it away to resume)")
            })?;
            for event in events {
                let Some(proto::What::Summary(s)) = &event.what else {
                    continue;
                };
                let scalar = |v: &proto::Value| matches!(v.kind, Some(proto::Kind::SimpleValue(_)));
                if s.value.iter().any(scalar) {
                    written_through = written_through.max(Some(event.step));
                }
            }
        }
        let now = unix_time();
        let newest = if fresh { None } else { existing.last() };
        let path = new_file_name(&dir, now as u64, newest);
        let file = File::options()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("cannot create `{}`: {e}", path.display()))?;
        let mut w = EventWriter {
            path,
            file,
            names: program.metrics.iter().map(|m| m.name.clone()).collect(),
            axis: StepAxis::of(program),
            written_through,
        };
        let mut records = vec![];
        let version = proto::Event {
            wall_time: now,
            step: 0,
            what: Some(proto::What::FileVersion(FILE_VERSION.into())),
        };
        frame(&version.encode_to_vec(), &mut records);
        if fresh {
            frame(&hparams_event(hparams, now).encode_to_vec(), &mut records);
        }
        w.append(&records)?;
        Ok(w)
    }

    /// Writes the metrics `values` (in the program's order) logged after iteration
    /// `iteration`, `env_steps` environment steps into the run, unless an earlier file
    /// has that step. The event is in the file when this returns.
    pub fn log(&mut self, iteration: u64, env_steps: u64, values: &[f64]) -> Result<(), String> {
        let step = self.axis.step(iteration, env_steps);
        if self.written_through.is_some_and(|s| step <= s) {
            return Ok(());
        }
        let value: Vec<proto::Value> = self
            .names
            .iter()
            .zip(values)
            .filter(|(_, v)| !v.is_nan())
            .map(|(name, &v)| proto::Value {
                tag: name.clone(),
                metadata: None,
                kind: Some(proto::Kind::SimpleValue(v as f32)),
            })
            .collect();
        if value.is_empty() {
            return Ok(());
        }
        let event = proto::Event {
            wall_time: unix_time(),
            step,
            what: Some(proto::What::Summary(proto::Summary { value })),
        };
        let mut record = vec![];
        frame(&event.encode_to_vec(), &mut record);
        self.append(&record)
    }

    /// The event file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The x axis of the scalars.
    pub fn axis(&self) -> StepAxis {
        self.axis
    }

    /// One `write` of whole records (no user-space buffer: TensorBoard sees them now).
    fn append(&mut self, records: &[u8]) -> Result<(), String> {
        self.file
            .write_all(records)
            .and_then(|()| self.file.flush())
            .map_err(|e| format!("cannot append to `{}`: {e}", self.path.display()))
    }
}

/// The hparams plugin's summary of one run: its `SessionStartInfo` with every hparam.
/// Numbers and bools keep their kind; strings and lists are strings.
fn hparams_event(hparams: &[(String, serde_json::Value)], now: f64) -> proto::Event {
    use proto::HParamKind as K;
    use serde_json::Value as J;
    let hparams = hparams
        .iter()
        .map(|(name, v)| {
            let kind = match v {
                J::Number(n) => K::Number(n.as_f64().unwrap_or(f64::NAN)),
                J::Bool(b) => K::Bool(*b),
                J::String(s) => K::String(s.clone()),
                other => K::String(other.to_string()),
            };
            (name.clone(), proto::HParamValue { kind: Some(kind) })
        })
        .collect();
    let content = proto::HParamsPluginData {
        version: 0,
        session_start_info: Some(proto::SessionStartInfo {
            hparams,
            start_time_secs: now,
        }),
    };
    // What the plugin's own writers attach: an empty float tensor.
    let null_tensor = proto::TensorProto {
        dtype: 1,
        tensor_shape: Some(proto::TensorShape {
            dim: vec![proto::Dim { size: 0 }],
        }),
    };
    proto::Event {
        wall_time: now,
        step: 0,
        what: Some(proto::What::Summary(proto::Summary {
            value: vec![proto::Value {
                tag: HPARAMS_TAG.into(),
                metadata: Some(proto::SummaryMetadata {
                    plugin_data: Some(proto::PluginData {
                        plugin_name: "hparams".into(),
                        content: content.encode_to_vec(),
                    }),
                }),
                kind: Some(proto::Kind::Tensor(null_tensor)),
            }],
        })),
    }
}

/// Reads the events of one event file, in order. A last record cut short (a run killed
/// while writing it) is left out; a checksum that does not match, or a record that is
/// not an `Event`, is an error naming the file.
pub fn read_events(path: &Path) -> Result<Vec<proto::Event>, String> {
    let bytes = fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let damaged = |what: String| format!("`{}` is damaged: {what}", path.display());
    records(&bytes)
        .map_err(damaged)?
        .into_iter()
        .enumerate()
        .map(|(i, data)| {
            proto::Event::decode(data).map_err(|e| damaged(format!("record {i}: {e}")))
        })
        .collect()
}

/// The event files in `dir`, sorted by name (the order TensorBoard reads them in).
pub fn event_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(format!("cannot list `{}`: {e}", dir.display())),
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(EVENTS_PREFIX))
        })
        .map(|e| e.path())
        .collect();
    files.sort();
    Ok(files)
}

/// `events.out.tfevents.<secs>.<host>.<pid>.rlpc`, named after `newest` (TensorBoard
/// reads a directory's files in name order): the seconds are moved on past the newest
/// file's if need be.
fn new_file_name(dir: &Path, mut secs: u64, newest: Option<&PathBuf>) -> PathBuf {
    let host = host_name();
    let pid = std::process::id();
    loop {
        let name = format!("{EVENTS_PREFIX}{secs}.{host}.{pid}.rlpc");
        let after = newest
            .and_then(|p| p.file_name())
            .is_none_or(|n| std::ffi::OsStr::new(&name) > n);
        if after {
            return dir.join(name);
        }
        secs += 1;
    }
}

/// This machine's name, reduced to characters safe in a file name.
fn host_name() -> String {
    let raw = fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_default();
    let name: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        "localhost".into()
    } else {
        name
    }
}

fn unix_time() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// TFRecord's checksum: CRC32C, rotated and offset so that a checksum of data that
/// holds checksums is not degenerate.
pub fn masked_crc32c(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
        .rotate_right(15)
        .wrapping_add(0xa282_ead8)
}

/// Appends `data` to `out` as one TFRecord.
fn frame(data: &[u8], out: &mut Vec<u8>) {
    let len = (data.len() as u64).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc32c(data).to_le_bytes());
}

/// The data of each TFRecord in `bytes`; a last record cut short is left out.
fn records(mut bytes: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut out = vec![];
    while bytes.len() >= 12 {
        let (len, rest) = bytes.split_at(8);
        let crc = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes"));
        if crc != masked_crc32c(len) {
            return Err(format!(
                "record {}: the length's checksum does not match",
                out.len()
            ));
        }
        let n = u64::from_le_bytes(len.try_into().expect("8 bytes"));
        let rest = &rest[4..];
        let Some(total) = usize::try_from(n).ok().and_then(|n| n.checked_add(4)) else {
            break;
        };
        if rest.len() < total {
            break;
        }
        let (data, rest) = rest.split_at(total - 4);
        let crc = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes"));
        if crc != masked_crc32c(data) {
            return Err(format!(
                "record {}: the data's checksum does not match",
                out.len()
            ));
        }
        out.push(data);
        bytes = &rest[4..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two events framed as TensorBoard's own writer frames them: the bytes below were
    /// written by `tensorboard.summary.writer.record_writer.RecordWriter` (tensorboard
    /// 2.21) from the same two events.
    #[test]
    fn records_match_tensorboards_writer() {
        let hex = "1800000000000000a37f4b2209000000000000f83f1a0d627261696e2e4576656e743a32\
                   2a28646c290000000000000037ff5f0009000000000000004010502a1c0a0d0a06726574\
                   75726e150000aa410a0b0a047a65726f15000000009234f00a";
        let expected: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let scalar = |tag: &str, v: f32| proto::Value {
            tag: tag.into(),
            metadata: None,
            kind: Some(proto::Kind::SimpleValue(v)),
        };
        let events = [
            proto::Event {
                wall_time: 1.5,
                step: 0,
                what: Some(proto::What::FileVersion(FILE_VERSION.into())),
            },
            proto::Event {
                wall_time: 2.0,
                step: 80,
                what: Some(proto::What::Summary(proto::Summary {
                    value: vec![scalar("return", 21.25), scalar("zero", 0.0)],
                })),
            },
        ];
        let mut out = vec![];
        for e in &events {
            frame(&e.encode_to_vec(), &mut out);
        }
        assert_eq!(out, expected);
        let back: Vec<proto::Event> = records(&out)
            .unwrap()
            .into_iter()
            .map(|r| proto::Event::decode(r).unwrap())
            .collect();
        assert_eq!(back, events);
        // Cut short anywhere: the whole records before the cut, and no error.
        let first_end = out.len() - (records(&out).unwrap()[1].len() + 16);
        for cut in 0..out.len() {
            let n = records(&out[..cut]).unwrap().len();
            assert_eq!(n, usize::from(cut >= first_end), "cut at {cut}");
        }
        // A flipped bit in a length or in the data: an error.
        for at in [3, 14] {
            let mut bad = out.clone();
            bad[at] ^= 1;
            assert!(records(&bad).is_err(), "bit flipped at {at}");
        }
    }

    /// CRC32C itself: RFC 3720's check value.
    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
    }

    /// A `simple_value` of zero is written (it is in a oneof), so TensorBoard sees it.
    #[test]
    fn a_zero_scalar_is_written() {
        let v = proto::Value {
            tag: "x".into(),
            metadata: None,
            kind: Some(proto::Kind::SimpleValue(0.0)),
        };
        assert_eq!(v.encode_to_vec(), [0x0a, 1, b'x', 0x15, 0, 0, 0, 0]);
    }
}
