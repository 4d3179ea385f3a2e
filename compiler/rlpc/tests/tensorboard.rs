//! `rlpc run --tensorboard` through the real CLI: the event files are read back with a
//! reader written here from the TFRecord and protobuf wire formats (not the crate's
//! own), checked record by record against `metrics.csv`, across a kill and resume, and,
//! when Python has it, by TensorBoard's own `EventAccumulator` (`RLPC_PYTHON`, else
//! `python3`; `.ci/run` installs tensorboard). Without it that test passes after a loud
//! `skipped:` line on the process's stderr — except under CI, where that is a failure.

use rlp_runtime::metrics::read_metrics_csv;
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// CartPole REINFORCE cut down to a fraction of a second. Rollouts of 5 steps: no
/// CartPole episode is that short, so `return` is NaN (left out of the events) in the
/// first iteration.
const SMALL: &str = "\
use std.env.cartpole
use std.estimators.{reward_to_go}
use std.losses.{policy_gradient}

env    = cartpole(envs: 4, seed: 1)
hidden = [8]
policy = categorical(mlp(env.obs, hidden, env.actions))
lr     = 1e-2
gamma  = 0.99
greedy = false
name   = \"small\"
opt    = adam(lr: lr)

train iterations: 9 {
  sample  batch = rollout(env, policy, steps: 5)
  fit     q     = reward_to_go(batch.reward, batch.done, gamma: gamma)
          adv   = (q - mean(q)) / (std(q) + 1e-8)
  improve minimize policy_gradient(policy, batch, adv) with opt
  log     return = nanmean(env.episode_return), steps = sum(batch.reward), zero = 0.0
}
";

/// No environment: the events are stepped by iterations done.
const NO_ENV: &str = "\
x = zeros([2])

train iterations: 4 {
  fit x <- x + 1.5
  log v = mean(x)
}
";

fn rlpc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rlpc"))
}

/// A fresh, empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("tensorboard")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ok(args: &[&str]) -> Output {
    let out = rlpc().args(args).output().expect("run rlpc");
    assert!(
        out.status.success(),
        "rlpc {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Writes `text` as `root/name` and trains it into `root/out` with `--tensorboard`.
fn train(root: &Path, name: &str, text: &str, extra: &[&str]) -> PathBuf {
    let file = root.join(name);
    std::fs::write(&file, text).unwrap();
    let out = root.join("out");
    let mut args = vec![
        "run",
        s(&file),
        "--out",
        s(&out),
        "--quiet",
        "--tensorboard",
    ];
    args.extend(extra);
    ok(&args);
    out
}

// ---- A reader of the formats, independent of the crate's -------------------------------

/// TFRecord's masked CRC32C, as the format's description writes it.
#[allow(clippy::manual_rotate)]
fn masked(bytes: &[u8]) -> u32 {
    let crc = crc32c::crc32c(bytes);
    ((crc >> 15) | (crc << 17)).wrapping_add(0xa282_ead8)
}

/// The records of an event file; every byte must belong to a whole record whose two
/// checksums match.
fn read_records(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    let mut at = 0;
    let mut out = vec![];
    while at < bytes.len() {
        assert!(
            bytes.len() - at >= 12,
            "{}: a record header cut short",
            path.display()
        );
        let len_bytes = &bytes[at..at + 8];
        let len = u64::from_le_bytes(len_bytes.try_into().unwrap()) as usize;
        let len_crc = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap());
        assert_eq!(
            len_crc,
            masked(len_bytes),
            "the length's CRC of record {}",
            out.len()
        );
        let data = &bytes[at + 12..at + 12 + len];
        let crc = u32::from_le_bytes(bytes[at + 12 + len..at + 16 + len].try_into().unwrap());
        assert_eq!(crc, masked(data), "the data's CRC of record {}", out.len());
        out.push(data.to_vec());
        at += 16 + len;
    }
    out
}

/// A protobuf field's value, as the wire format has it.
#[derive(Debug, Clone)]
enum Wire {
    Varint(u64),
    Fixed64([u8; 8]),
    Bytes(Vec<u8>),
    Fixed32([u8; 4]),
}

fn varint(b: &[u8], at: &mut usize) -> u64 {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = b[*at];
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return v;
        }
    }
    panic!("a varint longer than 10 bytes")
}

/// The fields of one message, in order: (field number, value).
fn fields(b: &[u8]) -> Vec<(u64, Wire)> {
    let mut at = 0;
    let mut out = vec![];
    while at < b.len() {
        let key = varint(b, &mut at);
        let value = match key & 7 {
            0 => Wire::Varint(varint(b, &mut at)),
            1 => {
                at += 8;
                Wire::Fixed64(b[at - 8..at].try_into().unwrap())
            }
            2 => {
                let n = varint(b, &mut at) as usize;
                at += n;
                Wire::Bytes(b[at - n..at].to_vec())
            }
            5 => {
                at += 4;
                Wire::Fixed32(b[at - 4..at].try_into().unwrap())
            }
            t => panic!("wire type {t}"),
        };
        out.push((key >> 3, value));
    }
    assert_eq!(at, b.len(), "a field runs past the end of its message");
    out
}

fn bytes_of(w: &Wire) -> &[u8] {
    match w {
        Wire::Bytes(b) => b,
        other => panic!("expected a length-delimited field, found {other:?}"),
    }
}

fn text_of(w: &Wire) -> String {
    String::from_utf8(bytes_of(w).to_vec()).unwrap()
}

/// One field of a message, which must be there at most once.
fn field(msg: &[(u64, Wire)], number: u64) -> Option<&Wire> {
    let mut found = msg.iter().filter(|(n, _)| *n == number);
    let first = found.next().map(|(_, w)| w);
    assert!(found.next().is_none(), "field {number} twice");
    first
}

/// An `Event` as this test needs it.
#[derive(Debug)]
struct Event {
    wall_time: f64,
    step: i64,
    file_version: Option<String>,
    /// (tag, simple_value) of each summary value that has one.
    scalars: Vec<(String, f32)>,
    /// (tag, plugin name, plugin content) of each summary value with plugin metadata.
    plugins: Vec<(String, String, Vec<u8>)>,
}

fn decode_event(data: &[u8]) -> Event {
    let msg = fields(data);
    let wall_time = match field(&msg, 1) {
        Some(Wire::Fixed64(b)) => f64::from_le_bytes(*b),
        other => panic!("wall_time: {other:?}"),
    };
    let step = match field(&msg, 2) {
        Some(Wire::Varint(v)) => *v as i64,
        None => 0,
        other => panic!("step: {other:?}"),
    };
    let mut event = Event {
        wall_time,
        step,
        file_version: field(&msg, 3).map(text_of),
        scalars: vec![],
        plugins: vec![],
    };
    if let Some(summary) = field(&msg, 5) {
        for (n, value) in fields(bytes_of(summary)) {
            assert_eq!(n, 1, "Summary has only `value`");
            let v = fields(bytes_of(&value));
            let tag = text_of(field(&v, 1).expect("a tag"));
            if let Some(Wire::Fixed32(b)) = field(&v, 2) {
                event.scalars.push((tag.clone(), f32::from_le_bytes(*b)));
            }
            if let Some(meta) = field(&v, 9) {
                let plugin = fields(bytes_of(field(&fields(bytes_of(meta)), 1).unwrap()));
                event.plugins.push((
                    tag,
                    text_of(field(&plugin, 1).unwrap()),
                    bytes_of(field(&plugin, 2).unwrap()).to_vec(),
                ));
            }
        }
    }
    event
}

/// The hparams of an hparams-plugin `HParamsPluginData` holding a `session_start_info`,
/// as JSON values (numbers, strings, bools).
fn session_hparams(content: &[u8]) -> BTreeMap<String, Json> {
    let data = fields(content);
    let start = fields(bytes_of(field(&data, 3).expect("session_start_info")));
    let mut out = BTreeMap::new();
    for (n, entry) in start {
        if n != 1 {
            continue;
        }
        let entry = fields(bytes_of(&entry));
        let key = text_of(field(&entry, 1).unwrap());
        let value = fields(bytes_of(field(&entry, 2).unwrap()));
        let v = match &value[..] {
            [(2, Wire::Fixed64(b))] => json!(f64::from_le_bytes(*b)),
            [(3, s)] => json!(text_of(s)),
            [(4, Wire::Varint(b))] => json!(*b != 0),
            other => panic!("hparam `{key}`: {other:?}"),
        };
        out.insert(key, v);
    }
    out
}

/// The event files of a run, in name order, each decoded.
fn run_events(run: &Path) -> Vec<Vec<Event>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(run.join("tensorboard"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in &files {
        let name = f.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("events.out.tfevents."), "{name}");
    }
    files
        .iter()
        .map(|f| read_records(f).iter().map(|r| decode_event(r)).collect())
        .collect()
}

/// Every (step, tag, value) of the scalar events of `events`, in order.
fn scalars(events: &[Event]) -> Vec<(i64, String, f32)> {
    events
        .iter()
        .flat_map(|e| e.scalars.iter().map(|(t, v)| (e.step, t.clone(), *v)))
        .collect()
}

/// What `metrics.csv` says the scalars must be: per row, step `x` (the column
/// `x_column`, or iterations done), each non-NaN metric as an `f32`.
fn expected_scalars(run: &Path, x_column: Option<&str>) -> Vec<(i64, String, f32)> {
    let (cols, rows) = read_metrics_csv(&run.join("metrics.csv")).unwrap();
    let col = |name: &str| cols.iter().position(|c| c == name).unwrap();
    let mut out = vec![];
    for row in &rows {
        let step = match x_column {
            Some(c) => row[col(c)],
            None => row[col("iteration")] + 1.0,
        } as i64;
        for (name, v) in cols.iter().zip(row).skip(3) {
            if !v.is_nan() {
                out.push((step, name.clone(), *v as f32));
            }
        }
    }
    out
}

// ---- The tests ---------------------------------------------------------------------------

#[test]
fn events_hold_every_metric_of_metrics_csv() {
    let root = scratch("metrics");
    let out = train(
        &root,
        "small.rlp",
        SMALL,
        &["--seed", "3", "--set", "lr=2e-2"],
    );
    let files = run_events(&out);
    assert_eq!(files.len(), 1, "one event file");
    let events = &files[0];
    assert_eq!(events[0].file_version.as_deref(), Some("brain.Event:2"));
    assert!(events[0].scalars.is_empty() && events[0].plugins.is_empty());

    // The hyperparameters, as the hparams plugin reads them.
    let (tag, plugin, content) = &events[1].plugins[0];
    assert_eq!(
        (tag.as_str(), plugin.as_str()),
        ("_hparams_/session_start_info", "hparams")
    );
    let file = s(&root.join("small.rlp")).to_string();
    let hp = session_hparams(content);
    let expected = json!({
        "hidden": "[8]", "lr": 0.02, "gamma": 0.99, "greedy": false, "name": "small",
        "run.seed": 3.0, "run.iterations": 9.0, "run.backend": "jit", "run.file": file,
    });
    assert_eq!(serde_json::to_value(&hp).unwrap(), expected);
    // hparams.json: the same map, flat, lists and integers kept as they are.
    let written: Json =
        serde_json::from_slice(&std::fs::read(out.join("hparams.json")).unwrap()).unwrap();
    let expected = json!({
        "hidden": [8], "lr": 0.02, "gamma": 0.99, "greedy": false, "name": "small",
        "run.seed": 3, "run.iterations": 9, "run.backend": "jit", "run.file": file,
    });
    assert_eq!(written, expected);

    // One event per iteration: the metrics of its metrics.csv row at its env steps.
    let want = expected_scalars(&out, Some("env_steps"));
    assert_eq!(scalars(events), want);
    assert!(
        want.iter().any(|(_, t, v)| t == "zero" && *v == 0.0),
        "a zero is written"
    );
    // A NaN (no episode has ended yet) is left out.
    let (_, rows) = read_metrics_csv(&out.join("metrics.csv")).unwrap();
    assert!(
        rows[0][3].is_nan(),
        "the first return is missing (the test needs one)"
    );
    assert!(!want.iter().any(|(step, t, _)| *step == 20 && t == "return"));
    assert!(want.iter().any(|(_, t, _)| t == "return"));
    let steps: Vec<i64> = events[2..].iter().map(|e| e.step).collect();
    assert_eq!(steps, (1..=9).map(|k| 20 * k).collect::<Vec<_>>());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    for pair in events.windows(2) {
        assert!(pair[0].wall_time <= pair[1].wall_time);
    }
    assert!(events.iter().all(|e| (now - e.wall_time).abs() < 600.0));
    // settings.json keeps the flag, for --resume.
    let settings: Json =
        serde_json::from_slice(&std::fs::read(out.join("settings.json")).unwrap()).unwrap();
    assert_eq!(settings["tensorboard"], json!(true));
}

/// A run killed after iteration 5 (checkpoint after 4) and resumed: a second event
/// file, starting after the last step of the first (iteration 4's row is logged again
/// by the resumed run, but not written twice), and together the same scalars as an
/// uninterrupted run's.
#[test]
fn a_resumed_run_adds_a_file_without_repeating_steps() {
    let root = scratch("resume");
    let full = train(&root, "small.rlp", SMALL, &["--checkpoint-every", "2"]);
    let split = root.join("split");
    let file = root.join("small.rlp");
    ok(&[
        "run",
        s(&file),
        "--out",
        s(&split),
        "--quiet",
        "--tensorboard",
        "--checkpoint-every",
        "2",
        "--stop-after",
        "5",
    ]);
    let before = run_events(&split);
    assert_eq!(before.len(), 1);
    assert_eq!(
        scalars(&before[0]).last().unwrap().0,
        100,
        "5 iterations of 20 steps"
    );
    ok(&["run", "--resume", s(&split), "--quiet"]);

    let files = run_events(&split);
    assert_eq!(files.len(), 2, "the resumed run writes a file of its own");
    let (first, second) = (scalars(&files[0]), scalars(&files[1]));
    assert_eq!(
        first,
        scalars(&before[0]),
        "the first file is left as it was"
    );
    assert_eq!(
        second[0].0, 120,
        "the resumed file starts after the first one's steps"
    );
    assert_eq!(files[1][0].file_version.as_deref(), Some("brain.Event:2"));
    assert!(
        files[1].iter().all(|e| e.plugins.is_empty()),
        "hparams once per run"
    );
    let both: Vec<_> = first.into_iter().chain(second).collect();
    assert_eq!(both, scalars(&run_events(&full)[0]));
    assert_eq!(both, expected_scalars(&split, Some("env_steps")));
}

/// A fresh run into a directory that holds an earlier run's events replaces them, as
/// it replaces metrics.csv.
#[test]
fn a_fresh_run_replaces_earlier_events() {
    let root = scratch("fresh");
    let out = train(&root, "small.rlp", SMALL, &[]);
    let out2 = train(&root, "small.rlp", SMALL, &["--set", "lr=5e-2"]);
    assert_eq!(out, out2);
    let files = run_events(&out);
    assert_eq!(files.len(), 1);
    assert_eq!(
        scalars(&files[0]),
        expected_scalars(&out, Some("env_steps"))
    );
    assert_eq!(
        session_hparams(&files[0][1].plugins[0].2)["lr"],
        json!(0.05)
    );
}

/// Without an environment, env steps stay 0: the events are stepped by iterations done.
#[test]
fn a_program_without_environments_steps_by_iteration() {
    let root = scratch("no_env");
    let out = train(&root, "no_env.rlp", NO_ENV, &[]);
    let got = scalars(&run_events(&out)[0]);
    assert_eq!(got, expected_scalars(&out, None));
    let want: Vec<(i64, String, f32)> = [1.5, 3.0, 4.5, 6.0]
        .iter()
        .zip(1..)
        .map(|(v, k)| (k, "v".into(), *v))
        .collect();
    assert_eq!(got, want);
}

/// Without `--tensorboard`: no events, but `hparams.json` all the same.
#[test]
fn without_the_flag_there_are_no_events() {
    let root = scratch("no_flag");
    let file = root.join("small.rlp");
    std::fs::write(&file, SMALL).unwrap();
    let out = root.join("out");
    ok(&["run", s(&file), "--out", s(&out), "--quiet"]);
    assert!(!out.join("tensorboard").exists());
    let written: Json =
        serde_json::from_slice(&std::fs::read(out.join("hparams.json")).unwrap()).unwrap();
    assert_eq!(written["lr"], json!(0.01));
}

/// TensorBoard's Python reader, or `None` after a loud message when `RLPC_PYTHON` (else
/// `python3`) cannot import it — a failure under CI, which installs it.
fn tensorboard_python() -> Option<String> {
    let python = std::env::var("RLPC_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python)
        .args([
            "-c",
            "import tensorboard.backend.event_processing.event_accumulator",
        ])
        .output();
    let why = match probe {
        Err(e) => format!("cannot start `{python}`: {e}"),
        Ok(o) if !o.status.success() => format!("`{python}` cannot import tensorboard"),
        Ok(_) => return Some(python),
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must provide Python with tensorboard (RLPC_PYTHON={python}): {why}"
    );
    let test = std::thread::current().name().unwrap_or("?").to_string();
    let _ = writeln!(
        std::io::stderr(),
        "\n******** skipped: {test}: {why} (set $RLPC_PYTHON, or \
         `{python} -m pip install tensorboard`) ********\n"
    );
    None
}

/// Reads a run's events directory with TensorBoard's `EventAccumulator` and prints the
/// scalars and the hparams plugin's session hparams as JSON.
const READ_WITH_TENSORBOARD: &str = r#"
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2
from google.protobuf import json_format
acc = EventAccumulator(sys.argv[1])
acc.Reload()
scalars = {t: [[e.step, e.value] for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}
contents = acc.PluginTagToContent("hparams")
start = plugin_data_pb2.HParamsPluginData.FromString(
    contents["_hparams_/session_start_info"]).session_start_info
hparams = {k: json_format.MessageToDict(v) for k, v in start.hparams.items()}
print(json.dumps({"scalars": scalars, "hparams": hparams}))
"#;

#[test]
fn tensorboard_reads_the_same_scalars_and_hparams() {
    let Some(python) = tensorboard_python() else {
        return;
    };
    let root = scratch("python");
    // Killed and resumed, so TensorBoard merges two files.
    let file = root.join("small.rlp");
    std::fs::write(&file, SMALL).unwrap();
    let out = root.join("out");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            s(&file),
            "--out",
            s(&out),
            "--quiet",
            "--tensorboard",
        ];
        args.extend(extra);
        ok(&args);
    };
    run(&[
        "--checkpoint-every",
        "2",
        "--stop-after",
        "5",
        "--set",
        "greedy=true",
    ]);
    ok(&["run", "--resume", s(&out), "--quiet"]);
    let dir = out.join("tensorboard");
    let o = Command::new(&python)
        .args(["-c", READ_WITH_TENSORBOARD, s(&dir)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got: Json = serde_json::from_slice(&o.stdout).unwrap();

    let mut want: BTreeMap<String, Vec<Json>> = BTreeMap::new();
    for (step, tag, v) in expected_scalars(&out, Some("env_steps")) {
        want.entry(tag).or_default().push(json!([step, v]));
    }
    assert_eq!(got["scalars"], serde_json::to_value(&want).unwrap());
    let hp = &got["hparams"];
    assert_eq!(hp["lr"], json!(0.01));
    assert_eq!(hp["greedy"], json!(true));
    assert_eq!(hp["name"], json!("small"));
    assert_eq!(hp["run.seed"], json!(0.0));
    assert_eq!(hp["run.backend"], json!("jit"));
}
