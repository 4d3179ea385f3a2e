//! External environments: simulators the language cannot express (above all any Gymnasium
//! environment by id), hosted in worker processes.
//!
//! rlpc starts `workers` child processes (by default `python3 tools/rlpc_gym_worker.py`),
//! each hosting a slice of the `num_envs` environments, and talks to them over their
//! stdin/stdout: a one-line JSON handshake, then fixed-size little-endian binary frames.
//! All workers are stepped in parallel (one I/O thread per worker). The protocol is
//! specified in `docs/external-envs.md`; any program that speaks it can be a worker.
//!
//! Every reply is awaited with a timeout; a worker that dies or stops answering is
//! reported by index with its exit status and the last lines of its stderr, and the
//! environment refuses further use. Dropping an [`ExternalEnv`] asks each worker to quit,
//! kills any that has not exited after a short grace period and reaps them all.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use ndarray::{ArrayD, IxDyn};
use serde_json::Value;

use crate::tensor::Tensor;

/// The protocol version this runtime speaks (the `protocol` field of hello and spec).
pub const PROTOCOL_VERSION: u64 = 1;

/// The Gymnasium adapter, embedded so that a binary moved away from the repository still
/// works (it is then run with `python -c`).
const EMBEDDED_WORKER: &str = include_str!("../../tools/rlpc_gym_worker.py");
const WORKER_FILE: &str = "rlpc_gym_worker.py";
/// How many stderr lines of a worker are kept for error messages.
const STDERR_LINES: usize = 20;
/// How long a worker has to exit after `Q` (or after its pipe closed) before it is killed.
const GRACE: Duration = Duration::from_millis(1000);
/// Longest handshake line accepted.
const MAX_LINE: u64 = 1 << 20;

/// What an external environment looks like, learned from the worker's handshake.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvSpec {
    /// The shape of one observation (observations travel as f32).
    pub obs_shape: Vec<usize>,
    pub action: ActionSpace,
    /// The episode step limit after which the environment truncates (Gymnasium's
    /// `max_episode_steps`), if any.
    pub max_steps: Option<u64>,
}

/// The action space of an external environment.
#[derive(Clone, Debug, PartialEq)]
pub enum ActionSpace {
    /// Actions `0..n`, one i32 per environment.
    Discrete(usize),
    /// f32 actions of the given shape; `low` / `high` are flattened row-major, unbounded
    /// limits are ±infinity.
    Box {
        shape: Vec<usize>,
        low: Vec<f32>,
        high: Vec<f32>,
    },
}

/// How workers are started.
#[derive(Clone, Debug)]
pub struct ExternalOptions {
    /// The Python interpreter (default: `$RLPC_PYTHON`, else `python3` on the PATH).
    pub python: Option<PathBuf>,
    /// The worker script (default: `$RLPC_GYM_WORKER`, else `tools/rlpc_gym_worker.py`
    /// found next to the executable or in the repository it was built from, else the copy
    /// embedded in the runtime).
    pub worker_script: Option<PathBuf>,
    /// How long any single reply (handshake included) may take.
    pub timeout: Duration,
}

impl Default for ExternalOptions {
    fn default() -> Self {
        ExternalOptions {
            python: None,
            worker_script: None,
            timeout: Duration::from_secs(30),
        }
    }
}

/// Everything that can go wrong with an external environment.
#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    #[error(
        "cannot start Python `{}`: {source} (set $RLPC_PYTHON to a Python 3 interpreter with gymnasium installed)",
        python.display()
    )]
    PythonNotFound { python: PathBuf, source: io::Error },
    #[error("the environment worker script `{}` does not exist (set $RLPC_GYM_WORKER, or leave it unset to use the built-in one)", path.display())]
    WorkerScriptNotFound { path: PathBuf },
    #[error(
        "the Python `{}` cannot import `{module}` ({message}); install it with `{} -m pip install gymnasium numpy`, or point $RLPC_PYTHON at a Python that has it",
        python.display(), python.display()
    )]
    MissingPackage {
        python: PathBuf,
        module: String,
        message: String,
    },
    #[error("unknown environment `{id}`: {message}")]
    UnknownEnv { id: String, message: String },
    #[error("environment `{id}` cannot be created: {message}")]
    EnvCreation { id: String, message: String },
    #[error("environment `{id}` is not supported: {message}")]
    Unsupported { id: String, message: String },
    #[error("environment worker {worker} died ({status}){}", stderr_suffix(stderr))]
    WorkerDied {
        worker: usize,
        status: String,
        stderr: Vec<String>,
    },
    #[error("environment worker {worker} did not answer within {} s (it was killed){}", secs_str(*timeout), stderr_suffix(stderr))]
    Timeout {
        worker: usize,
        timeout: Duration,
        stderr: Vec<String>,
    },
    #[error("protocol error from environment worker {worker}: {message}")]
    Protocol { worker: usize, message: String },
    #[error("{0}")]
    BadArgument(String),
    #[error("the external environment is unusable after an earlier error ({0}); start a new one")]
    Broken(String),
}

fn secs_str(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s}")
    }
}

fn stderr_suffix(lines: &[String]) -> String {
    if lines.is_empty() {
        "; it wrote nothing on stderr".to_string()
    } else {
        let mut s = String::from("; last lines of its stderr:");
        for l in lines {
            s.push_str("\n    ");
            s.push_str(l);
        }
        s
    }
}

/// One step of every environment.
#[derive(Clone, Debug)]
pub struct StepResult {
    /// `[N, obs…]` f32: after any auto-reset (what the policy sees next).
    pub obs: Tensor,
    /// `[N, obs…]` f32: before the auto-reset (equal to `obs` where the episode goes on);
    /// bootstrap from it on truncation.
    pub final_obs: Tensor,
    /// `[N]` f32.
    pub reward: Tensor,
    /// `[N]` bool.
    pub terminated: Tensor,
    /// `[N]` bool.
    pub truncated: Tensor,
}

/// A request to a worker's I/O thread.
enum Req {
    /// Write these bytes, read one line back.
    Line(Vec<u8>),
    /// Write these bytes, read exactly `reply_len` bytes back.
    Frame { bytes: Vec<u8>, reply_len: usize },
    /// Write `Q`, close stdin, end the thread.
    Quit,
}

struct Worker {
    index: usize,
    child: Child,
    /// Requests to the I/O thread; `None` once told to quit.
    tx: Option<Sender<Req>>,
    rx: Receiver<io::Result<Vec<u8>>>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    stderr_thread: Option<thread::JoinHandle<()>>,
    /// How many environments it hosts, and the index of its first one.
    num_envs: usize,
    first_env: usize,
    reaped: bool,
}

/// Environments hosted by external worker processes, stepped in parallel.
pub struct ExternalEnv {
    id: String,
    spec: EnvSpec,
    num_envs: usize,
    obs_dim: usize,
    workers: Vec<Worker>,
    timeout: Duration,
    reset_done: bool,
    broken: Option<String>,
}

impl ExternalEnv {
    /// Starts one worker, reads the spec, stops it: used at compile time to check shapes.
    pub fn probe(id: &str, opts: &ExternalOptions) -> Result<EnvSpec, ExternalError> {
        let env = ExternalEnv::start(id, 1, 1, 0, opts)?;
        Ok(env.spec.clone())
    }

    /// Starts `workers` processes hosting `num_envs` environments in total (split as evenly
    /// as possible; at most one worker per environment), environment `i` seeded `seed + i`
    /// on its first reset.
    pub fn start(
        id: &str,
        num_envs: usize,
        workers: usize,
        seed: u64,
        opts: &ExternalOptions,
    ) -> Result<ExternalEnv, ExternalError> {
        if num_envs == 0 {
            return Err(ExternalError::BadArgument(format!(
                "external environment `{id}` needs at least one environment"
            )));
        }
        if seed.checked_add(num_envs as u64 - 1).is_none() {
            return Err(ExternalError::BadArgument(format!(
                "seed {seed} + {num_envs} environments overflows 64 bits"
            )));
        }
        let nworkers = workers.clamp(1, num_envs);
        let python = python_path(opts);
        let script = worker_script(opts)?;

        let mut env = ExternalEnv {
            id: id.to_string(),
            spec: EnvSpec {
                obs_shape: vec![],
                action: ActionSpace::Discrete(0),
                max_steps: None,
            },
            num_envs,
            obs_dim: 0,
            workers: Vec::with_capacity(nworkers),
            timeout: opts.timeout,
            reset_done: false,
            broken: None,
        };
        // Spawn everything first so the (slow) Python start-ups overlap.
        let mut first_env = 0;
        for w in 0..nworkers {
            let k = num_envs / nworkers + usize::from(w < num_envs % nworkers);
            env.workers
                .push(spawn_worker(w, &python, &script, k, first_env)?);
            first_env += k;
        }
        let start = Instant::now();
        for w in 0..nworkers {
            let hello = serde_json::json!({
                "protocol": PROTOCOL_VERSION,
                "env": id,
                "num_envs": env.workers[w].num_envs,
                "seed": seed + env.workers[w].first_env as u64,
            });
            let mut line = serde_json::to_vec(&hello).expect("hello serializes");
            line.push(b'\n');
            env.send(w, Req::Line(line))?;
        }
        let mut spec: Option<EnvSpec> = None;
        for w in 0..nworkers {
            let reply = env.await_reply(w, start)?;
            let s = env.parse_spec(w, &reply, &python)?;
            if let Some(first) = &spec {
                if *first != s {
                    return Err(env.fail(ExternalError::Protocol {
                        worker: w,
                        message: format!("its spec {s:?} differs from worker 0's {first:?}"),
                    }));
                }
            } else {
                spec = Some(s);
            }
        }
        env.spec = spec.expect("at least one worker");
        env.obs_dim = env.spec.obs_shape.iter().product();
        Ok(env)
    }

    pub fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    pub fn num_envs(&self) -> usize {
        self.num_envs
    }

    /// Resets every environment; returns observations `[num_envs, obs…]` f32.
    pub fn reset(&mut self) -> Result<Tensor, ExternalError> {
        self.check_usable()?;
        let start = Instant::now();
        for w in 0..self.workers.len() {
            let reply_len = self.workers[w].num_envs * self.obs_dim * 4;
            self.send(
                w,
                Req::Frame {
                    bytes: vec![b'R'],
                    reply_len,
                },
            )?;
        }
        let mut obs = Vec::with_capacity(self.num_envs * self.obs_dim);
        for w in 0..self.workers.len() {
            let reply = self.await_reply(w, start)?;
            push_f32(&mut obs, &reply);
        }
        self.reset_done = true;
        Ok(self.obs_tensor(obs))
    }

    /// One step of every environment (actions `[num_envs]` i32 for Discrete,
    /// `[num_envs, shape…]` f32 for Box), all workers in parallel; finished episodes are
    /// reset automatically by the worker.
    pub fn step(&mut self, actions: &Tensor) -> Result<StepResult, ExternalError> {
        self.check_usable()?;
        if !self.reset_done {
            return Err(ExternalError::BadArgument(format!(
                "external environment `{}`: step before the first reset",
                self.id
            )));
        }
        let per_env = self.encode_actions(actions)?;
        let start = Instant::now();
        let d = self.obs_dim;
        for w in 0..self.workers.len() {
            let (k, first) = (self.workers[w].num_envs, self.workers[w].first_env);
            let mut bytes = Vec::with_capacity(1 + per_env.len() / self.num_envs * k);
            bytes.push(b'S');
            let stride = per_env.len() / self.num_envs;
            bytes.extend_from_slice(&per_env[first * stride..(first + k) * stride]);
            let reply_len = k * (8 * d + 6);
            self.send(w, Req::Frame { bytes, reply_len })?;
        }
        let n = self.num_envs;
        let (mut obs, mut final_obs) = (Vec::with_capacity(n * d), Vec::with_capacity(n * d));
        let (mut reward, mut terminated, mut truncated) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for w in 0..self.workers.len() {
            let reply = self.await_reply(w, start)?;
            let k = self.workers[w].num_envs;
            let (o, rest) = reply.split_at(k * d * 4);
            let (f, rest) = rest.split_at(k * d * 4);
            let (r, rest) = rest.split_at(k * 4);
            let (te, tr) = rest.split_at(k);
            push_f32(&mut obs, o);
            push_f32(&mut final_obs, f);
            push_f32(&mut reward, r);
            for (flags, out) in [(te, &mut terminated), (tr, &mut truncated)] {
                for &b in flags {
                    match b {
                        0 => out.push(false),
                        1 => out.push(true),
                        _ => {
                            return Err(self.fail(ExternalError::Protocol {
                                worker: w,
                                message: format!("flag byte {b} is neither 0 nor 1"),
                            }));
                        }
                    }
                }
            }
        }
        Ok(StepResult {
            obs: self.obs_tensor(obs),
            final_obs: self.obs_tensor(final_obs),
            reward: Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[n]), reward).expect("shape")),
            terminated: Tensor::Bool(
                ArrayD::from_shape_vec(IxDyn(&[n]), terminated).expect("shape"),
            ),
            truncated: Tensor::Bool(ArrayD::from_shape_vec(IxDyn(&[n]), truncated).expect("shape")),
        })
    }

    fn obs_tensor(&self, values: Vec<f32>) -> Tensor {
        let mut shape = vec![self.num_envs];
        shape.extend_from_slice(&self.spec.obs_shape);
        Tensor::F32(ArrayD::from_shape_vec(IxDyn(&shape), values).expect("observation shape"))
    }

    /// The actions as little-endian bytes, `num_envs` equal-sized records.
    fn encode_actions(&self, actions: &Tensor) -> Result<Vec<u8>, ExternalError> {
        let n = self.num_envs;
        let bad = |what: String| {
            ExternalError::BadArgument(format!("external environment `{}`: {what}", self.id))
        };
        match &self.spec.action {
            ActionSpace::Discrete(count) => {
                let Tensor::I32(a) = actions else {
                    return Err(bad(format!(
                        "discrete actions must be i32, got {}",
                        actions.dtype()
                    )));
                };
                if a.shape() != [n] {
                    return Err(bad(format!(
                        "actions must have shape [{n}], got {:?}",
                        a.shape()
                    )));
                }
                let mut bytes = Vec::with_capacity(4 * n);
                for (i, &x) in a.iter().enumerate() {
                    if x < 0 || x as usize >= *count {
                        return Err(bad(format!(
                            "action {x} of environment {i} is outside 0..{count}"
                        )));
                    }
                    bytes.extend_from_slice(&x.to_le_bytes());
                }
                Ok(bytes)
            }
            ActionSpace::Box { shape, .. } => {
                let mut want = vec![n];
                want.extend_from_slice(shape);
                if actions.shape() != want.as_slice() {
                    return Err(bad(format!(
                        "actions must have shape {want:?}, got {:?}",
                        actions.shape()
                    )));
                }
                let mut bytes = Vec::with_capacity(4 * actions.len());
                match actions {
                    Tensor::F32(a) => a
                        .iter()
                        .for_each(|x| bytes.extend_from_slice(&x.to_le_bytes())),
                    Tensor::F64(a) => a
                        .iter()
                        .for_each(|&x| bytes.extend_from_slice(&(x as f32).to_le_bytes())),
                    other => {
                        return Err(bad(format!(
                            "continuous actions must be f32, got {}",
                            other.dtype()
                        )));
                    }
                }
                Ok(bytes)
            }
        }
    }

    fn parse_spec(
        &mut self,
        w: usize,
        reply: &[u8],
        python: &Path,
    ) -> Result<EnvSpec, ExternalError> {
        let text = String::from_utf8_lossy(reply);
        let value: Value = match serde_json::from_str(text.trim()) {
            Ok(v) => v,
            Err(e) => {
                let shown: String = text.trim().chars().take(200).collect();
                return Err(self.fail(ExternalError::Protocol {
                    worker: w,
                    message: format!("the handshake reply is not JSON ({e}): {shown:?}"),
                }));
            }
        };
        let id = self.id.clone();
        if let Some(err) = value.get("error") {
            let message = err
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| err.to_string());
            let kind = value.get("kind").and_then(Value::as_str).unwrap_or("error");
            let e = match kind {
                "missing_module" => ExternalError::MissingPackage {
                    python: python.to_path_buf(),
                    module: value
                        .get("module")
                        .and_then(Value::as_str)
                        .unwrap_or("gymnasium")
                        .to_string(),
                    message,
                },
                "unknown_env" => ExternalError::UnknownEnv { id, message },
                "unsupported" => ExternalError::Unsupported { id, message },
                "protocol" => ExternalError::Protocol { worker: w, message },
                _ => ExternalError::EnvCreation { id, message },
            };
            return Err(self.fail(e));
        }
        match parse_spec_value(&value) {
            Ok(spec) => Ok(spec),
            Err(message) => Err(self.fail(ExternalError::Protocol { worker: w, message })),
        }
    }

    fn check_usable(&self) -> Result<(), ExternalError> {
        match &self.broken {
            Some(why) => Err(ExternalError::Broken(why.clone())),
            None => Ok(()),
        }
    }

    /// Records an error as fatal for this environment and returns it.
    fn fail(&mut self, e: ExternalError) -> ExternalError {
        if self.broken.is_none() {
            let text = e.to_string();
            let line = text.lines().next().unwrap_or("");
            let short = line
                .split("; last lines of its stderr")
                .next()
                .unwrap_or(line);
            self.broken = Some(
                short
                    .split("; it wrote nothing")
                    .next()
                    .unwrap_or(short)
                    .to_string(),
            );
        }
        e
    }

    fn send(&mut self, w: usize, req: Req) -> Result<(), ExternalError> {
        let sent = self.workers[w]
            .tx
            .as_ref()
            .is_some_and(|tx| tx.send(req).is_ok());
        if sent {
            Ok(())
        } else {
            let e = self.workers[w].died(None);
            Err(self.fail(e))
        }
    }

    /// Waits for worker `w`'s reply to a request sent at `sent`.
    fn await_reply(&mut self, w: usize, sent: Instant) -> Result<Vec<u8>, ExternalError> {
        let left = self.timeout.saturating_sub(sent.elapsed());
        let worker = &mut self.workers[w];
        let e = match worker.rx.recv_timeout(left) {
            Ok(Ok(reply)) if !reply.is_empty() => return Ok(reply),
            Ok(Ok(_)) => worker.died(None),
            Ok(Err(e)) => worker.died(Some(e)),
            Err(RecvTimeoutError::Disconnected) => worker.died(None),
            Err(RecvTimeoutError::Timeout) => {
                worker.kill();
                ExternalError::Timeout {
                    worker: w,
                    timeout: self.timeout,
                    stderr: worker.stderr_tail(),
                }
            }
        };
        Err(self.fail(e))
    }
}

impl Drop for ExternalEnv {
    fn drop(&mut self) {
        for w in &mut self.workers {
            if let Some(tx) = w.tx.take() {
                let _ = tx.send(Req::Quit);
            }
        }
        let deadline = Instant::now() + GRACE;
        for w in &mut self.workers {
            w.reap_by(deadline);
        }
    }
}

impl Worker {
    /// Kills the process (if still running) and reaps it.
    fn kill(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.reaped = true;
        }
        self.tx = None;
    }

    /// Waits for the process to exit until `deadline`, then kills it; returns its status.
    fn reap_by(&mut self, deadline: Instant) -> Option<ExitStatus> {
        if self.reaped {
            return self.child.try_wait().ok().flatten();
        }
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.reaped = true;
                    return Some(status);
                }
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
                _ => {
                    self.kill();
                    return None;
                }
            }
        }
    }

    /// The error for a worker whose pipe broke: waits briefly for its exit status and for
    /// its last stderr lines.
    fn died(&mut self, io_error: Option<io::Error>) -> ExternalError {
        self.tx = None;
        let status = match self.reap_by(Instant::now() + GRACE) {
            Some(s) => s.to_string(),
            None => match &io_error {
                Some(e) => format!("its pipe failed: {e}; it was killed"),
                None => "it closed its stdout; it was killed".to_string(),
            },
        };
        // Its stderr closes when it exits; give the reader thread a moment to drain it.
        if let Some(h) = self.stderr_thread.take() {
            let until = Instant::now() + Duration::from_millis(500);
            while !h.is_finished() && Instant::now() < until {
                thread::sleep(Duration::from_millis(5));
            }
            if h.is_finished() {
                let _ = h.join();
            }
        }
        ExternalError::WorkerDied {
            worker: self.index,
            status,
            stderr: self.stderr_tail(),
        }
    }

    fn stderr_tail(&self) -> Vec<String> {
        self.stderr
            .lock()
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default()
    }
}

fn spawn_worker(
    index: usize,
    python: &Path,
    script: &Script,
    num_envs: usize,
    first_env: usize,
) -> Result<Worker, ExternalError> {
    let mut cmd = Command::new(python);
    match script {
        Script::File(p) => cmd.arg(p),
        Script::Embedded => cmd.arg("-c").arg(EMBEDDED_WORKER),
    };
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|source| ExternalError::PythonNotFound {
            python: python.to_path_buf(),
            source,
        })?;
    let stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");

    let tail = Arc::new(Mutex::new(VecDeque::new()));
    let echo = std::env::var_os("RLPC_WORKER_STDERR").is_some_and(|v| !v.is_empty() && v != "0");
    let stderr_thread = {
        let tail = Arc::clone(&tail);
        thread::Builder::new()
            .name(format!("rlpc-env-worker-{index}-stderr"))
            .spawn(move || {
                let mut reader = BufReader::new(stderr);
                let mut line = Vec::new();
                loop {
                    line.clear();
                    match reader.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                    let text = String::from_utf8_lossy(&line).trim_end().to_string();
                    if echo {
                        eprintln!("[env worker {index}] {text}");
                    }
                    if let Ok(mut t) = tail.lock() {
                        if t.len() == STDERR_LINES {
                            t.pop_front();
                        }
                        t.push_back(text);
                    }
                }
            })
            .expect("spawn thread")
    };
    let (req_tx, req_rx) = mpsc::channel();
    let (reply_tx, reply_rx) = mpsc::channel();
    thread::Builder::new()
        .name(format!("rlpc-env-worker-{index}"))
        .spawn(move || io_loop(stdin, stdout, req_rx, reply_tx))
        .expect("spawn thread");
    Ok(Worker {
        index,
        child,
        tx: Some(req_tx),
        rx: reply_rx,
        stderr: tail,
        stderr_thread: Some(stderr_thread),
        num_envs,
        first_env,
        reaped: false,
    })
}

/// A worker's I/O thread: performs one request at a time, blocking on the pipes, so that the
/// caller can wait for all workers in parallel and with a timeout.
fn io_loop(
    mut stdin: ChildStdin,
    stdout: ChildStdout,
    requests: Receiver<Req>,
    replies: Sender<io::Result<Vec<u8>>>,
) {
    let mut reader = BufReader::new(stdout);
    for req in requests {
        let result = match req {
            Req::Quit => {
                let _ = stdin.write_all(b"Q").and_then(|_| stdin.flush());
                return; // drops stdin: the worker sees end of file
            }
            Req::Line(bytes) => stdin
                .write_all(&bytes)
                .and_then(|_| stdin.flush())
                .and_then(|_| {
                    let mut line = Vec::new();
                    (&mut reader).take(MAX_LINE).read_until(b'\n', &mut line)?;
                    Ok(line)
                }),
            Req::Frame { bytes, reply_len } => stdin
                .write_all(&bytes)
                .and_then(|_| stdin.flush())
                .and_then(|_| {
                    let mut buf = vec![0u8; reply_len];
                    reader.read_exact(&mut buf)?;
                    Ok(buf)
                }),
        };
        let failed = result.is_err();
        if replies.send(result).is_err() || failed {
            return;
        }
    }
}

fn push_f32(out: &mut Vec<f32>, bytes: &[u8]) {
    out.extend(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
    );
}

fn parse_spec_value(v: &Value) -> Result<EnvSpec, String> {
    if let Some(p) = v.get("protocol")
        && p.as_u64() != Some(PROTOCOL_VERSION)
    {
        return Err(format!(
            "it speaks protocol {p}, this runtime speaks {PROTOCOL_VERSION}"
        ));
    }
    let dims = |field: &Value, name: &str| -> Result<Vec<usize>, String> {
        field
            .as_array()
            .ok_or_else(|| format!("`{name}` is not an array"))?
            .iter()
            .map(|d| {
                d.as_u64()
                    .map(|d| d as usize)
                    .ok_or_else(|| format!("`{name}` holds {d}"))
            })
            .collect()
    };
    let obs_shape = dims(v.get("obs_shape").unwrap_or(&Value::Null), "obs_shape")?;
    let action = v.get("action").ok_or("the spec has no `action`")?;
    let action = match action.get("type").and_then(Value::as_str) {
        Some("discrete") => {
            let n = action
                .get("n")
                .and_then(Value::as_u64)
                .ok_or("discrete action without `n`")?;
            if n == 0 || n > i32::MAX as u64 {
                return Err(format!("discrete action count {n}"));
            }
            ActionSpace::Discrete(n as usize)
        }
        Some("box") => {
            let shape = dims(action.get("shape").unwrap_or(&Value::Null), "action.shape")?;
            let size: usize = shape.iter().product();
            let limits = |name: &str, unbounded: f32| -> Result<Vec<f32>, String> {
                let xs = action
                    .get(name)
                    .and_then(Value::as_array)
                    .ok_or_else(|| format!("box action without `{name}`"))?;
                if xs.len() != size {
                    return Err(format!(
                        "`{name}` has {} values for shape {shape:?}",
                        xs.len()
                    ));
                }
                xs.iter()
                    .map(|x| match x {
                        Value::Null => Ok(unbounded),
                        x => x
                            .as_f64()
                            .map(|x| x as f32)
                            .ok_or_else(|| format!("`{name}` holds {x}")),
                    })
                    .collect()
            };
            let low = limits("low", f32::NEG_INFINITY)?;
            let high = limits("high", f32::INFINITY)?;
            ActionSpace::Box { shape, low, high }
        }
        other => return Err(format!("unknown action type {other:?}")),
    };
    let max_steps = match v.get("max_steps") {
        None | Some(Value::Null) => None,
        Some(m) => Some(m.as_u64().ok_or_else(|| format!("`max_steps` is {m}"))?),
    };
    Ok(EnvSpec {
        obs_shape,
        action,
        max_steps,
    })
}

fn python_path(opts: &ExternalOptions) -> PathBuf {
    if let Some(p) = &opts.python {
        return p.clone();
    }
    match std::env::var_os("RLPC_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from("python3"),
    }
}

enum Script {
    File(PathBuf),
    Embedded,
}

/// The worker script: the option, `$RLPC_GYM_WORKER`, `tools/rlpc_gym_worker.py` next to the
/// executable or up to four directories above it (`target/release/rlpc` in a checkout), the
/// repository the runtime was built from, else the embedded copy.
fn worker_script(opts: &ExternalOptions) -> Result<Script, ExternalError> {
    let explicit: Option<PathBuf> = opts.worker_script.clone().or_else(|| {
        std::env::var_os("RLPC_GYM_WORKER")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
    });
    if let Some(path) = explicit {
        return if path.is_file() {
            Ok(Script::File(path))
        } else {
            Err(ExternalError::WorkerScriptNotFound { path })
        };
    }
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1).take(5) {
            candidates.push(dir.join("tools").join(WORKER_FILE));
        }
    }
    let repo: OsString = concat!(env!("CARGO_MANIFEST_DIR"), "/../tools/").into();
    candidates.push(PathBuf::from(repo).join(WORKER_FILE));
    Ok(candidates
        .into_iter()
        .find(|p| p.is_file())
        .map(Script::File)
        .unwrap_or(Script::Embedded))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        let v: Value = serde_json::from_str(
            r#"{"protocol":1,"obs_shape":[3],"action":{"type":"box","shape":[1],"low":[-2.0],"high":[null]},"max_steps":200}"#,
        )
        .unwrap();
        assert_eq!(
            parse_spec_value(&v).unwrap(),
            EnvSpec {
                obs_shape: vec![3],
                action: ActionSpace::Box {
                    shape: vec![1],
                    low: vec![-2.0],
                    high: vec![f32::INFINITY]
                },
                max_steps: Some(200),
            }
        );
        let v: Value = serde_json::from_str(
            r#"{"obs_shape":[4],"action":{"type":"discrete","n":2},"max_steps":null}"#,
        )
        .unwrap();
        assert_eq!(
            parse_spec_value(&v).unwrap().action,
            ActionSpace::Discrete(2)
        );
        let v: Value = serde_json::from_str(r#"{"protocol":2,"obs_shape":[4]}"#).unwrap();
        assert!(parse_spec_value(&v).unwrap_err().contains("protocol"));
    }
}
