//! Runs a schedule's plan on a [`Device`]: every buffer lives in device memory for the
//! executable's lifetime, and the runtime checks of every kernel share one status word
//! that is read once at the end. Called with host tensors ([`Executable::run`]), inputs
//! go up and outputs come down once per call; called on device memory
//! ([`DeviceExecutable::run_bound`], what [`crate::store`] does with the trainer's
//! slots), nothing moves but the status word.
//!
//! Why allocate every buffer once instead of recycling per call like the CPU executor:
//! device allocation is slow (it can synchronise the device) and a stage's buffers are
//! needed again at its next call; the price is memory for all of a stage's temporaries
//! at once.

use crate::device::Device;
use crate::emit::{Action, Launch, Module, Plan, StepPlan};
use rlp_ir::TensorType;
use rlp_jit::kernel::{BufferKind, HostScan, Schedule, Step};
use rlp_runtime::{DType, Executable, RunError, Tensor};
use std::sync::Mutex;

/// A compiled graph on a device.
pub struct DeviceExecutable<D: Device> {
    device: D,
    inputs: Vec<TensorType>,
    outputs: Vec<(DType, Vec<usize>)>,
    schedule: Schedule,
    module: Module,
    state: Mutex<State<D>>,
}

/// The device memory of one run at a time.
struct State<D: Device> {
    frame: Frame<D>,
    status: D::Mem,
    /// The frame's own addresses, which [`DeviceExecutable::run_bound`] rebinds and every
    /// call restores first.
    homes: Vec<u64>,
}

/// Addresses of one schedule's buffers and the memory behind those it owns.
struct Frame<D: Device> {
    addrs: Vec<u64>,
    _owned: Vec<D::Mem>,
    /// Per step: the frame of a host-loop scan's body.
    scans: Vec<Option<ScanFrame<D>>>,
}

struct ScanFrame<D: Device> {
    body: Frame<D>,
    /// Two sets of carries: a step reads one and writes the other.
    carries: [Vec<u64>; 2],
    /// `0..length` as `i32`: step `t`'s index input is `steps + 4t`.
    steps: u64,
    _owned: Vec<D::Mem>,
}

fn bytes_of(schedule: &Schedule, b: rlp_jit::kernel::BufId) -> usize {
    let buf = &schedule.buffers[b.index()];
    buf.len * buf.dtype.size_bytes()
}

/// Little-endian bytes of `values` converted to `dtype` (literals).
fn literal_bytes(dtype: DType, values: &[f64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * dtype.size_bytes());
    for &v in values {
        match dtype {
            DType::F32 => out.extend_from_slice(&(v as f32).to_le_bytes()),
            DType::F64 => out.extend_from_slice(&v.to_le_bytes()),
            DType::I32 => out.extend_from_slice(&(v as i32).to_le_bytes()),
            DType::Bool => out.push(u8::from(v != 0.0)),
        }
    }
    out
}

/// A tensor's elements in row-major order as bytes.
pub(crate) fn tensor_bytes(t: &Tensor) -> Vec<u8> {
    match t {
        Tensor::F32(a) => a.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Tensor::F64(a) => a.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Tensor::I32(a) => a.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Tensor::Bool(a) => a.iter().map(|&x| u8::from(x)).collect(),
    }
}

/// A tensor of `dtype` and `shape` from row-major bytes.
pub(crate) fn tensor_from_bytes(dtype: DType, shape: &[usize], bytes: &[u8]) -> Tensor {
    fn arr<T>(shape: &[usize], v: Vec<T>) -> ndarray::ArrayD<T> {
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape), v).expect("sized by shape")
    }
    fn words<const N: usize>(bytes: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
        bytes
            .chunks_exact(N)
            .map(|c| c.try_into().expect("chunks of N bytes"))
    }
    match dtype {
        DType::F32 => Tensor::F32(arr(shape, words(bytes).map(f32::from_le_bytes).collect())),
        DType::F64 => Tensor::F64(arr(shape, words(bytes).map(f64::from_le_bytes).collect())),
        DType::I32 => Tensor::I32(arr(shape, words(bytes).map(i32::from_le_bytes).collect())),
        DType::Bool => Tensor::Bool(arr(shape, bytes.iter().map(|&b| b != 0).collect())),
    }
}

impl<D: Device> Frame<D> {
    /// Allocates the schedule's temporaries and literals (and, at the top level, its
    /// inputs); a scan body's inputs are bound per step instead.
    fn new(device: &D, schedule: &Schedule, own_inputs: bool) -> Result<Frame<D>, RunError> {
        let mut addrs = vec![0u64; schedule.buffers.len()];
        let mut owned = vec![];
        for (i, buf) in schedule.buffers.iter().enumerate() {
            let bytes = buf.len * buf.dtype.size_bytes();
            let own = match buf.kind {
                BufferKind::Input(_) => own_inputs,
                BufferKind::Literal(_) | BufferKind::Temp => true,
            };
            if !own {
                continue;
            }
            let mem = device.alloc(bytes.max(1))?;
            addrs[i] = device.addr(&mem);
            if let BufferKind::Literal(values) = &buf.kind {
                device.upload(addrs[i], &literal_bytes(buf.dtype, values))?;
            }
            owned.push(mem);
        }
        let scans = schedule
            .steps
            .iter()
            .map(|step| match step {
                Step::Scan(s) => ScanFrame::new(device, schedule, s).map(Some),
                _ => Ok(None),
            })
            .collect::<Result<_, _>>()?;
        Ok(Frame {
            addrs,
            _owned: owned,
            scans,
        })
    }
}

impl<D: Device> ScanFrame<D> {
    fn new(device: &D, outer: &Schedule, s: &HostScan) -> Result<ScanFrame<D>, RunError> {
        let body = Frame::new(device, &s.body, false)?;
        let mut owned = vec![];
        let mut carries = [vec![], vec![]];
        for set in &mut carries {
            for &b in &s.args[..s.n_carry] {
                let mem = device.alloc(bytes_of(outer, b).max(1))?;
                set.push(device.addr(&mem));
                owned.push(mem);
            }
        }
        let steps_mem = device.alloc((4 * s.length).max(1))?;
        let steps = device.addr(&steps_mem);
        let index: Vec<u8> = (0..s.length as i32).flat_map(|t| t.to_le_bytes()).collect();
        device.upload(steps, &index)?;
        owned.push(steps_mem);
        Ok(ScanFrame {
            body,
            carries,
            steps,
            _owned: owned,
        })
    }
}

impl<D: Device> DeviceExecutable<D> {
    /// An executable for `schedule` (emitted as `module`) on `device`, whose functions
    /// are the module's.
    pub fn new(
        device: D,
        inputs: Vec<TensorType>,
        output_shapes: Vec<Vec<usize>>,
        schedule: Schedule,
        module: Module,
    ) -> Result<Self, RunError> {
        let outputs = schedule
            .outputs
            .iter()
            .zip(output_shapes)
            .map(|(b, shape)| (schedule.buffers[b.index()].dtype, shape))
            .collect();
        let frame = Frame::new(&device, &schedule, true)?;
        let status = device.alloc(4)?;
        let homes = frame.addrs.clone();
        Ok(DeviceExecutable {
            inputs,
            outputs,
            state: Mutex::new(State {
                frame,
                status,
                homes,
            }),
            device,
            schedule,
            module,
        })
    }

    /// The module this executable runs.
    pub fn module(&self) -> &Module {
        &self.module
    }

    fn check_inputs(&self, inputs: &[Tensor]) -> Result<(), RunError> {
        rlp_jit::exec::check_inputs(&self.inputs, inputs)
    }

    /// The graph's inputs and outputs: dtype and shape of each.
    pub fn signature(&self) -> (&[TensorType], &[(DType, Vec<usize>)]) {
        (&self.inputs, &self.outputs)
    }

    /// Runs on device memory the caller holds: input `i` is read in place at address
    /// `inputs[i]` (memory of that input's size, not written), and `finish` receives
    /// the address of each output while the executable's memory is still reserved for
    /// this call (its own buffers, or an input's memory where an output is an input
    /// passed through). With `in_place: Some((k, i))`, output `k` is computed in input
    /// `i`'s memory instead of the executable's — for a graph whose output `k` rewrites
    /// input `i` (rows put into a buffer), where reading the rest of the input after
    /// writing part of it is not a hazard. A failed runtime check is an error, and
    /// `finish` does not run.
    pub fn run_bound<R>(
        &self,
        inputs: &[u64],
        in_place: Option<(usize, usize)>,
        finish: impl FnOnce(&D, &[u64]) -> Result<R, RunError>,
    ) -> Result<R, RunError> {
        if inputs.len() != self.schedule.inputs.len() {
            return Err(RunError::new(format!(
                "expected {} inputs, got {}",
                self.schedule.inputs.len(),
                inputs.len()
            )));
        }
        self.with_frame(|frame, status| {
            for (k, &b) in self.schedule.inputs.iter().enumerate() {
                frame.addrs[b.index()] = inputs[k];
            }
            if let Some((k, i)) = in_place {
                let out = self.schedule.outputs[k];
                if self.schedule.buffers[out.index()].kind == BufferKind::Temp {
                    frame.addrs[out.index()] = inputs[i];
                }
            }
            self.run_frame(frame, status)?;
            let outs: Vec<u64> = self
                .schedule
                .outputs
                .iter()
                .map(|b| frame.addrs[b.index()])
                .collect();
            finish(&self.device, &outs)
        })
    }

    /// Calls `f` with the executable's frame, every buffer at its home address, and the
    /// device address of its status word (one call at a time: the frame is locked).
    fn with_frame<R>(
        &self,
        f: impl FnOnce(&mut Frame<D>, u64) -> Result<R, RunError>,
    ) -> Result<R, RunError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let State {
            frame,
            status,
            homes,
        } = &mut *state;
        frame.addrs.clone_from(homes);
        let status = self.device.addr(status);
        f(frame, status)
    }

    /// Runs the plan with `frame`'s addresses bound, the status word reset before and
    /// read after: a failed check is an error with its message.
    fn run_frame(&self, frame: &mut Frame<D>, status: u64) -> Result<(), RunError> {
        self.device.upload(status, &0i32.to_le_bytes())?;
        run_plan(
            &self.device,
            &self.schedule,
            &self.module.plan,
            frame,
            status,
        )?;
        let mut word = [0u8; 4];
        self.device.download(status, &mut word)?;
        let failed = i32::from_le_bytes(word);
        if failed != 0 {
            let message = self
                .module
                .checks
                .get(failed as usize - 1)
                .cloned()
                .unwrap_or_else(|| format!("runtime check {failed} failed"));
            return Err(RunError::new(message));
        }
        Ok(())
    }
}

/// Runs `plan` (the plan of `schedule`) with `frame`'s buffers.
fn run_plan<D: Device>(
    device: &D,
    schedule: &Schedule,
    plan: &Plan,
    frame: &mut Frame<D>,
    status: u64,
) -> Result<(), RunError> {
    for (s, (step, sp)) in schedule.steps.iter().zip(&plan.steps).enumerate() {
        match (step, sp) {
            (_, StepPlan::Launches(actions)) => {
                for a in actions {
                    match a {
                        Action::Launch(l) => launch(device, l, &frame.addrs, status)?,
                        &Action::Copy { src, dst, bytes } => {
                            let (from, to) = (frame.addrs[src.index()], frame.addrs[dst.index()]);
                            if from != to && bytes > 0 {
                                device.copy(to, from, bytes)?;
                            }
                        }
                    }
                }
            }
            (Step::MatMul(m), StepPlan::MatMul(epilogue)) => {
                let a = &frame.addrs;
                device.matmul(
                    m,
                    a[m.lhs.buf.index()],
                    a[m.rhs.buf.index()],
                    a[m.out.index()],
                )?;
                if let Some(l) = epilogue {
                    launch(device, l, &frame.addrs, status)?;
                }
            }
            (Step::Scan(scan), StepPlan::Scan(body_plan)) => {
                let sf = frame.scans[s].as_mut().expect("a scan step has its frame");
                host_scan(device, schedule, scan, body_plan, &frame.addrs, sf, status)?;
            }
            _ => unreachable!("plans mirror their schedules"),
        }
    }
    Ok(())
}

fn launch<D: Device>(device: &D, l: &Launch, addrs: &[u64], status: u64) -> Result<(), RunError> {
    if l.units == 0 {
        return Ok(());
    }
    let mut args: Vec<u64> = l.params.iter().map(|b| addrs[b.index()]).collect();
    args.push(l.units);
    args.push(status);
    device.launch(l.function, &args, l.units)
}

/// A scan the host drives: the body's plan once per step, carries alternating between
/// two device copies, sequences and the step index bound by address (no copies).
fn host_scan<D: Device>(
    device: &D,
    outer: &Schedule,
    scan: &HostScan,
    plan: &Plan,
    addrs: &[u64],
    sf: &mut ScanFrame<D>,
    status: u64,
) -> Result<(), RunError> {
    let n_carry = scan.n_carry;
    for (i, &b) in scan.args[..n_carry].iter().enumerate() {
        device.copy(sf.carries[0][i], addrs[b.index()], bytes_of(outer, b))?;
    }
    let body = &scan.body;
    let slice_bytes: Vec<usize> = scan.args[n_carry..]
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if i < scan.n_seq {
                bytes_of(outer, b) / scan.length.max(1)
            } else {
                0
            }
        })
        .collect();
    let mut cur = 0;
    for k in 0..scan.length {
        let t = if scan.reverse { scan.length - 1 - k } else { k };
        let mut bound: Vec<u64> = sf.carries[cur].clone();
        for (i, &b) in scan.args[n_carry..].iter().enumerate() {
            bound.push(addrs[b.index()] + (t * slice_bytes[i]) as u64);
        }
        bound.push(sf.steps + 4 * t as u64);
        for (k_in, &b) in body.inputs.iter().enumerate() {
            sf.body.addrs[b.index()] = bound[k_in];
        }
        run_plan(device, body, plan, &mut sf.body, status)?;
        for (i, &out) in body.outputs.iter().enumerate() {
            let bytes = bytes_of(body, out);
            let from = sf.body.addrs[out.index()];
            if i < n_carry {
                device.copy(sf.carries[1 - cur][i], from, bytes)?;
            } else if bytes > 0 {
                let dst = addrs[scan.outs[i].index()] + (t * bytes) as u64;
                device.copy(dst, from, bytes)?;
            }
        }
        cur = 1 - cur;
    }
    for (i, &out) in scan.outs[..n_carry].iter().enumerate() {
        device.copy(addrs[out.index()], sf.carries[cur][i], bytes_of(outer, out))?;
    }
    Ok(())
}

impl<D: Device> Executable for DeviceExecutable<D> {
    fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>, RunError> {
        self.check_inputs(inputs)?;
        self.with_frame(|frame, status| {
            for (k, &b) in self.schedule.inputs.iter().enumerate() {
                self.device
                    .upload(frame.addrs[b.index()], &tensor_bytes(&inputs[k]))?;
            }
            self.run_frame(frame, status)?;
            self.schedule
                .outputs
                .iter()
                .zip(&self.outputs)
                .map(|(&b, (dtype, shape))| {
                    let mut bytes = vec![0u8; bytes_of(&self.schedule, b)];
                    self.device.download(frame.addrs[b.index()], &mut bytes)?;
                    Ok(tensor_from_bytes(*dtype, shape, &bytes))
                })
                .collect()
        })
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}
