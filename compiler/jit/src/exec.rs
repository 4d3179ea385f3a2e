//! The executor: runs a compiled schedule on host tensors.
//!
//! Why a separate stage: fusion and codegen run once per graph; this runs every training
//! step. It checks the caller's tensors against the graph's input types, hands each step
//! its buffers (recycling temporaries after their last use, and with
//! [`Executable::run_into`] the memory of the caller's previous outputs, so a loop that
//! runs one graph per iteration allocates no tensor memory once warm), splits large
//! kernels across rayon threads, runs host-loop scans, and turns failed runtime checks
//! into [`RunError`]s that name the op.
//!
//! Thread count never changes results: a kernel's units are independent and each unit's
//! arithmetic (including reduction order) is fixed by the kernel, not by the split.

use crate::JitError;
use crate::buffer::{Storage, tensor_ptr};
use crate::callouts::{self, Fault};
use crate::codegen::{self, Code, KernelFn, NON_FINITE_STORED};
use crate::fuse::step_buffers;
use crate::kernel::{BufId, BufferKind, HostScan, Kernel, PostOp, Schedule, Step, for_each_kernel};
use crate::native;
use rlp_ir::TensorType;
use rlp_runtime::exec::{check_reused_outputs, same_shape};
use rlp_runtime::{DType, Executable, RunError, Tensor};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::pool::{Job, SpinPool};
use crate::warm;

/// Kernels with fewer scalar operations than this run on the calling thread: below it,
/// waking other threads costs more than it saves.
pub const PARALLEL_MIN_WORK: usize = 32 * 1024;

/// A graph compiled by the JIT, ready to run.
pub struct JitExecutable {
    inputs: Vec<TensorType>,
    /// Each graph output's type, in order.
    outputs: Vec<(DType, Vec<usize>)>,
    program: Program,
    threads: Threads,
    /// Temporaries kept between runs: a training loop runs the same graph thousands of
    /// times, and fresh large allocations cost a page fault per 4 KiB on first touch.
    spare: Mutex<Spare>,
    /// Per output: whether the last run vouched for it being finite (see
    /// [`Executable::output_known_finite`]); empty when no output can be.
    known_finite: Vec<AtomicBool>,
    // Declared last so the code outlives every use of the function pointers above.
    _code: Code,
}

/// A schedule with its compiled kernels and literal data, mirroring the step list.
struct Program {
    schedule: Schedule,
    steps: Vec<StepCode>,
    /// `writes[s]`: the buffers step `s` writes (allocated just before it runs).
    writes: Vec<Vec<BufId>>,
    /// Literal buffers' contents, by buffer index.
    literals: Vec<(BufId, Storage)>,
    /// `direct[b]`: the output that temporary `b` can be written straight into, when
    /// the caller provides the outputs' memory ([`Executable::run_into`]): the first
    /// output position of each written buffer. Outputs that are inputs, literals or a
    /// second mention of a buffer are copied instead.
    direct: Vec<Option<usize>>,
    /// `vouched[i]`: the step whose kernel writes all of output `i` and reports whether
    /// it stored a NaN or ±Inf ([`codegen::reports_non_finite`]), when there is one and
    /// no other step writes that buffer.
    vouched: Vec<Option<usize>>,
    /// `warm[s]`: rows to prefetch before step `s` (module `warm`).
    warm: Vec<Vec<warm::Warm>>,
}

enum StepCode {
    Kernel {
        f: KernelFn,
        /// The buffer of each kernel parameter, in argument order.
        params: Vec<BufId>,
        units: usize,
        work: usize,
        /// What a thread's chunk of units is a multiple of ([`codegen::chunk_align`]).
        align: usize,
        post: Option<PostOp>,
    },
    Scan(Box<Program>),
    /// A matrix product, with its epilogue kernel, that kernel's buffers and its native
    /// root op if any.
    MatMul(Option<(KernelFn, Vec<BufId>, Option<PostOp>)>),
    Other,
}

impl Program {
    fn new(schedule: Schedule, fns: &mut impl Iterator<Item = KernelFn>) -> Program {
        let mut steps = Vec::with_capacity(schedule.steps.len());
        for step in &schedule.steps {
            steps.push(match step {
                Step::Kernel(k) => StepCode::Kernel {
                    f: fns.next().expect("one function per kernel"),
                    params: k.params.iter().map(|p| p.buf).collect(),
                    units: k.units(),
                    work: k.work_per_unit(),
                    align: codegen::chunk_align(k),
                    post: k.post,
                },
                Step::Scan(s) => StepCode::Scan(Box::new(Program::new(s.body.clone(), fns))),
                Step::MatMul(m) => StepCode::MatMul(m.epilogue.as_ref().map(|k| {
                    let f = fns.next().expect("one function per kernel");
                    (f, k.params.iter().map(|p| p.buf).collect(), k.post)
                })),
                Step::Native(_) => StepCode::Other,
            });
        }
        let literals = schedule
            .buffers
            .iter()
            .enumerate()
            .filter_map(|(i, b)| match &b.kind {
                BufferKind::Literal(data) => {
                    Some((BufId(i as u32), Storage::from_f64(b.dtype, data)))
                }
                _ => None,
            })
            .collect();
        let writes: Vec<Vec<BufId>> = schedule.steps.iter().map(|s| step_buffers(s).1).collect();
        let mut direct = vec![None; schedule.buffers.len()];
        for (i, b) in schedule.outputs.iter().enumerate() {
            if schedule.buffers[b.index()].kind == BufferKind::Temp && direct[b.index()].is_none() {
                direct[b.index()] = Some(i);
            }
        }
        let vouched = vouching_steps(&schedule, &writes);
        let warm = warm::plan(&schedule);
        Program {
            schedule,
            steps,
            writes,
            literals,
            direct,
            vouched,
            warm,
        }
    }
}

/// [`Program::vouched`] of a schedule whose steps write `writes`.
fn vouching_steps(schedule: &Schedule, writes: &[Vec<BufId>]) -> Vec<Option<usize>> {
    let vouches = |b: BufId| -> Option<usize> {
        let buf = &schedule.buffers[b.index()];
        let mut writers = writes.iter().enumerate().filter(|(_, w)| w.contains(&b));
        let (s, _) = writers.next()?;
        if writers.next().is_some() || buf.kind != BufferKind::Temp {
            return None;
        }
        let Step::Kernel(k) = &schedule.steps[s] else {
            return None;
        };
        let whole = |(param, p): (usize, &crate::kernel::Param)| {
            p.buf == b && p.write && codegen::writes_whole(k, param, buf.len)
        };
        (codegen::reports_non_finite(k)
            && k.post.is_none()
            && k.params.iter().enumerate().any(whole))
        .then_some(s)
    };
    schedule.outputs.iter().map(|&b| vouches(b)).collect()
}

impl JitExecutable {
    /// Compiles every kernel of `schedule` (made for a graph with these input types and
    /// output shapes) and prepares to run it with `opts.threads` threads (0: rayon's
    /// global pool).
    pub fn new(
        inputs: Vec<TensorType>,
        output_shapes: Vec<Vec<usize>>,
        mut schedule: Schedule,
        opts: &crate::JitOptions,
    ) -> Result<JitExecutable, JitError> {
        crate::post::split_native_roots(&mut schedule);
        let outputs: Vec<(DType, Vec<usize>)> = schedule
            .outputs
            .iter()
            .zip(output_shapes)
            .map(|(b, shape)| (schedule.buffers[b.index()].dtype, shape))
            .collect();
        let mut kernels: Vec<&Kernel> = vec![];
        for_each_kernel(&schedule, &mut |k| kernels.push(k));
        let (code, fns) = codegen::compile(&kernels, opts.fma)?;
        let program = Program::new(schedule, &mut fns.into_iter());
        let threads = match opts.threads {
            0 => Threads::Global,
            1 => Threads::One,
            n => Threads::Pool(
                SpinPool::new(n)
                    .map_err(|e| JitError::Unsupported(format!("cannot start {n} threads: {e}")))?,
            ),
        };
        // None when no output can be vouched for: then a run records nothing.
        let vouches = program.vouched.iter().any(Option::is_some);
        let known_finite = (0..outputs.len())
            .filter(|_| vouches)
            .map(|_| AtomicBool::new(false))
            .collect();
        Ok(JitExecutable {
            inputs,
            outputs,
            program,
            threads,
            spare: Mutex::new(Spare::default()),
            known_finite,
            _code: code,
        })
    }

    /// Returns the spare buffers a run took (see `run_checked`).
    fn give_back(&self, spare: Spare) {
        let mut kept = self.spare.lock().unwrap_or_else(|e| e.into_inner());
        if kept.0.is_empty() {
            // The usual case, one run at a time: no merging.
            *kept = spare;
        } else {
            kept.merge(spare);
        }
    }

    /// Records which outputs the run just made is known finite by: those a vouching
    /// kernel wrote ([`Program::vouched`]) when it did not report a non-finite store
    /// (`flagged`: the steps that did). Nothing is known of a failed run.
    fn note_finite(&self, flagged: &[usize], ran: bool) {
        for (known, vouched) in self.known_finite.iter().zip(&self.program.vouched) {
            let finite = ran && vouched.is_some_and(|s| !flagged.contains(&s));
            known.store(finite, Ordering::Relaxed);
        }
    }

    /// The schedule being run (for `explain` and tests).
    pub fn schedule(&self) -> &Schedule {
        &self.program.schedule
    }

    fn check_inputs(&self, inputs: &[Tensor]) -> Result<(), RunError> {
        check_inputs(&self.inputs, inputs)
    }

    /// Runs on checked inputs; `reuse` joins the spare buffers first, so outputs of its
    /// types and sizes are written into that memory rather than fresh allocations.
    fn run_checked(
        &self,
        inputs: &[&Tensor],
        reuse: Vec<Storage>,
    ) -> Result<Vec<Tensor>, RunError> {
        let standard = standard_inputs(inputs);
        let ptrs = input_ptrs(inputs, &standard);
        // Concurrent runs each take the spares (or allocate); both give theirs back.
        let mut spare = std::mem::take(&mut *self.spare.lock().unwrap_or_else(|e| e.into_inner()));
        for s in reuse {
            spare.give(s);
        }
        let mut flagged = vec![];
        let outs = run_program(
            &self.program,
            &ptrs,
            &mut spare,
            &self.threads,
            &mut flagged,
        );
        self.give_back(spare);
        self.note_finite(&flagged, outs.is_ok());
        let outs = outs?;
        Ok(outs
            .into_iter()
            .zip(&self.outputs)
            .map(|(s, (_, shape))| s.into_tensor(shape))
            .collect())
    }

    /// Runs on checked inputs, writing the outputs into `outputs` (checked: the output
    /// types, standard layout): each written output buffer is the output tensor's own
    /// memory, the rest are copied in. No tensor is made or unmade, which in a step-wise
    /// program (thousands of runs of small graphs per second) is a good part of a run.
    fn run_in_place(&self, inputs: &[&Tensor], outputs: &mut [Tensor]) -> Result<(), RunError> {
        let standard = standard_inputs(inputs);
        let ptrs = input_ptrs(inputs, &standard);
        let outs: Vec<*mut u8> = outputs.iter_mut().map(tensor_ptr_mut).collect();
        let mut spare = std::mem::take(&mut *self.spare.lock().unwrap_or_else(|e| e.into_inner()));
        let mut frame = Frame::new(&self.program, &ptrs, &mut spare, &self.threads);
        frame.direct = Some(&outs);
        let result = frame.run();
        if result.is_ok() {
            frame.copy_outputs(&outs);
        }
        frame.release_all();
        self.note_finite(&frame.flagged, result.is_ok());
        drop(frame);
        self.give_back(spare);
        result?;
        for t in outputs.iter_mut() {
            if let Tensor::Bool(a) = t {
                // Kernels write 0 or 1; as in `Storage::into_tensor`, any other byte
                // becomes `true` rather than being trusted.
                let bytes = a.as_mut_ptr().cast::<u8>();
                for k in 0..a.len() {
                    // SAFETY: the tensor is in standard layout, `len` bytes from its
                    // first element; they are read as bytes, never as `bool`s, until
                    // every one of them is 0 or 1.
                    unsafe { *bytes.add(k) = u8::from(*bytes.add(k) != 0) };
                }
            }
        }
        Ok(())
    }
}

/// Row-major copies of the inputs that are not in row-major order (generated code reads
/// inputs in that order), by input position; empty when all are, as they nearly always
/// are.
fn standard_inputs(inputs: &[&Tensor]) -> Vec<(usize, Tensor)> {
    inputs
        .iter()
        .enumerate()
        .filter(|(_, t)| !is_standard(t))
        .map(|(k, t)| (k, (*t).clone().into_standard()))
        .collect()
}

/// The address each input is read from: the tensor's own memory, or its row-major copy.
fn input_ptrs(inputs: &[&Tensor], standard: &[(usize, Tensor)]) -> Vec<*const u8> {
    let mut ptrs: Vec<*const u8> = inputs.iter().map(|t| tensor_ptr(t)).collect();
    for (k, t) in standard {
        ptrs[*k] = tensor_ptr(t);
    }
    ptrs
}

/// The address of a standard-layout tensor's first element, for writing.
fn tensor_ptr_mut(t: &mut Tensor) -> *mut u8 {
    match t {
        Tensor::F32(a) => a.as_mut_ptr().cast(),
        Tensor::F64(a) => a.as_mut_ptr().cast(),
        Tensor::I32(a) => a.as_mut_ptr().cast(),
        Tensor::Bool(a) => a.as_mut_ptr().cast(),
    }
}

/// Checks the caller's tensors against a graph's input types: the count, and each one's
/// dtype and shape (shared with the other executors of fused schedules).
pub fn check_inputs(want: &[TensorType], inputs: &[Tensor]) -> Result<(), RunError> {
    check_input_refs(want, inputs.iter())
}

/// [`check_inputs`] on tensors lent one by one.
fn check_input_refs<'a>(
    want: &[TensorType],
    inputs: impl ExactSizeIterator<Item = &'a Tensor>,
) -> Result<(), RunError> {
    if inputs.len() != want.len() {
        return Err(RunError::new(format!(
            "expected {} inputs, got {}",
            want.len(),
            inputs.len()
        )));
    }
    for (k, (t, want)) in inputs.zip(want).enumerate() {
        if t.dtype() != want.dtype || !same_shape(t.shape(), &want.shape) {
            let got = TensorType::new(t.dtype(), t.shape().to_vec());
            return Err(RunError::new(format!(
                "input {k}: expected {want}, got {got}"
            )));
        }
    }
    Ok(())
}

fn is_standard(t: &Tensor) -> bool {
    match t {
        Tensor::F32(a) => a.is_standard_layout(),
        Tensor::F64(a) => a.is_standard_layout(),
        Tensor::I32(a) => a.is_standard_layout(),
        Tensor::Bool(a) => a.is_standard_layout(),
    }
}

impl Executable for JitExecutable {
    fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>, RunError> {
        self.check_inputs(inputs)?;
        let inputs: Vec<&Tensor> = inputs.iter().collect();
        self.run_checked(&inputs, vec![])
    }

    /// Writes into the memory of `outputs`: straight into it when they are given (see
    /// `run_in_place`), else output buffers come from the spare buffers as temporaries do.
    fn run_into(&self, inputs: &[Tensor], outputs: &mut Vec<Tensor>) -> Result<(), RunError> {
        self.check_inputs(inputs)?;
        let inputs: Vec<&Tensor> = inputs.iter().collect();
        self.run_checked_into(&inputs, outputs)
    }

    /// Takes the inputs by reference: they are only ever read.
    fn run_borrowed_into(
        &self,
        inputs: &[&Tensor],
        outputs: &mut Vec<Tensor>,
    ) -> Option<Result<(), RunError>> {
        Some(
            check_input_refs(&self.inputs, inputs.iter().copied())
                .and_then(|()| self.run_checked_into(inputs, outputs)),
        )
    }

    fn output_known_finite(&self, k: usize) -> bool {
        self.known_finite
            .get(k)
            .is_some_and(|f| f.load(Ordering::Relaxed))
    }
}

impl JitExecutable {
    /// [`Executable::run_into`] on checked inputs.
    fn run_checked_into(
        &self,
        inputs: &[&Tensor],
        outputs: &mut Vec<Tensor>,
    ) -> Result<(), RunError> {
        check_reused_outputs(
            outputs,
            self.outputs.iter().map(|(d, shape)| (*d, shape.as_slice())),
        )?;
        if outputs.is_empty() || !outputs.iter().all(is_standard) {
            let reuse = outputs.drain(..).filter_map(Storage::reuse).collect();
            *outputs = self.run_checked(inputs, reuse)?;
            return Ok(());
        }
        let result = self.run_in_place(inputs, outputs);
        if result.is_err() {
            // What a failed run left there is no value (bytes of a boolean output may be
            // neither 0 nor 1): the outputs are dropped, as `run_checked`'s are.
            outputs.clear();
        }
        result
    }
}

/// Where large kernels run. The schedule itself always runs on the caller's thread:
/// handing a whole run to a pool costs microseconds, more than a small graph takes.
enum Threads {
    /// The process-wide pool (as many threads as rayon's global pool).
    Global,
    /// The caller's thread only.
    One,
    /// A pool of its own.
    Pool(SpinPool),
}

impl Threads {
    fn pool(&self) -> Option<&SpinPool> {
        match self {
            Threads::Global => Some(SpinPool::global()),
            Threads::One => None,
            Threads::Pool(p) => Some(p),
        }
    }

    /// How many threads a split may use.
    fn count(&self) -> usize {
        self.pool().map_or(1, SpinPool::threads)
    }

    /// Runs `f` over `0..units` in chunks, possibly in parallel; `f` returns a status.
    /// Chunks hold a multiple of `align` units where every thread still gets one.
    fn split(
        &self,
        units: usize,
        work: usize,
        align: usize,
        f: &(dyn Fn(usize, usize) -> i32 + Sync),
    ) -> i32 {
        let count = self.count();
        if count <= 1 || units < 2 || units.saturating_mul(work) < PARALLEL_MIN_WORK {
            return f(0, units);
        }
        let chunks = (count * 4).min(units);
        let per = units.div_ceil(chunks);
        // Chunks start at multiples of four where that costs no parallelism, so that
        // four-unit groups (and their random draws) stay aligned; at multiples of
        // `align` (a blocked scan's block) when there are blocks enough for every thread.
        let per = if align > 4 && units >= align * count {
            per.next_multiple_of(align)
        } else if per >= 4 {
            per.next_multiple_of(4)
        } else {
            per
        };
        let job = Arc::new(SplitJob {
            f: erase(f),
            units,
            per,
            chunks,
            next: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            statuses: (0..chunks).map(|_| AtomicI32::new(0)).collect(),
        });
        // The caller works too, and alone when another caller holds the pool.
        let pool = self.pool().expect("count > 1 means a pool");
        if !pool.run(Arc::clone(&job) as Arc<dyn Job>) {
            job.work();
        }
        // Chunks claimed by helpers may still be running; they are short.
        let mut spins = 0u32;
        while job.done.load(Ordering::Acquire) < chunks {
            spins += 1;
            if spins < 1 << 12 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        // The first failure in unit order (the same error whatever the split), with a
        // non-finite store reported by any chunk.
        let statuses = job.statuses.iter().map(|s| s.load(Ordering::Relaxed));
        let stored = statuses.clone().fold(0, |f, s| f | (s & NON_FINITE_STORED));
        let first = statuses
            .map(|s| s & !NON_FINITE_STORED)
            .find(|&s| s != 0)
            .unwrap_or(0);
        first | stored
    }
}

/// One split kernel call shared by the caller and the pool's helpers: each claims the
/// next chunk until none is left. A helper that starts after the last chunk is claimed
/// touches only the counters, which the `Arc` keeps alive.
struct SplitJob {
    /// The caller's closure with its lifetime erased: called only for claimed chunks,
    /// and the caller does not return before every claimed chunk is done.
    f: &'static (dyn Fn(usize, usize) -> i32 + Sync),
    units: usize,
    per: usize,
    chunks: usize,
    next: AtomicUsize,
    done: AtomicUsize,
    statuses: Vec<AtomicI32>,
}

impl Job for SplitJob {
    fn run(&self) {
        self.work();
    }
}

impl SplitJob {
    fn work(&self) {
        loop {
            let c = self.next.fetch_add(1, Ordering::Relaxed);
            if c >= self.chunks {
                return;
            }
            let start = c * self.per;
            let status = (self.f)(start, ((c + 1) * self.per).min(self.units).max(start));
            self.statuses[c].store(status, Ordering::Relaxed);
            self.done.fetch_add(1, Ordering::Release);
        }
    }
}

/// Erases the lifetime of a split's closure (see [`SplitJob::f`]).
fn erase<'a>(
    f: &'a (dyn Fn(usize, usize) -> i32 + Sync + 'a),
) -> &'static (dyn Fn(usize, usize) -> i32 + Sync) {
    // SAFETY: `Threads::split` waits until every claimed chunk has finished before it
    // returns, and no chunk is claimed after that, so no call outlives `f`.
    unsafe { std::mem::transmute(f) }
}

/// Buffer addresses shared with kernel calls on other threads.
#[derive(Clone, Copy)]
struct Args<'a>(&'a [*mut u8]);

// SAFETY: the pointers address buffers that outlive the parallel call; concurrent calls
// write disjoint unit ranges and only read the rest.
unsafe impl Send for Args<'_> {}
unsafe impl Sync for Args<'_> {}

/// Calls a kernel over `0..units`, split across threads when the work is large
/// enough, each chunk followed by the kernel's native root op on the chunk's units.
/// Returns the kernel status (0, or a failed check's id + 1); a failure's details go to
/// `fault`.
#[allow(clippy::too_many_arguments)]
fn call_kernel(
    threads: &Threads,
    f: KernelFn,
    args: &[*mut u8],
    units: usize,
    work: usize,
    align: usize,
    post: Option<PostOp>,
    fault: &FirstFault,
) -> i32 {
    if units == 0 {
        return 0;
    }
    let args = Args(args);
    threads.split(units, work, align, &move |start, end| {
        let args = args;
        if start >= end {
            return 0;
        }
        // SAFETY: `args` holds every parameter's buffer, sized as the kernel expects;
        // concurrent calls cover disjoint unit ranges (a map kernel's units are the
        // elements it stores, which its root op then rewrites).
        let status = unsafe { f(args.0.as_ptr(), start as i64, end as i64) };
        match (status & !NON_FINITE_STORED, post) {
            // SAFETY: as for the call, on the units it has just written.
            (0, Some(p)) => unsafe { p.apply(args.0, start, end) },
            (0, None) => {}
            _ => fault.note(start),
        }
        status
    })
}

/// A kernel's status as a result: 0 is success, else the failed check (id + 1) as an
/// error naming its node and op, with the value and scan step the kernel recorded.
fn kernel_status(k: &Kernel, status: i32, fault: &FirstFault) -> Result<(), RunError> {
    match status {
        0 => Ok(()),
        status => {
            let check = &k.checks[status as usize - 1];
            let f = fault.take();
            let (value, step) = (f.and_then(|f| f.value), f.and_then(|f| f.step));
            Err(RunError::new(check.describe(value, step))
                .with_origin(check.origin.map(Into::into)))
        }
    }
}

/// The details recorded by the failing chunk of a split kernel call that comes first in
/// unit order — the chunk whose status the split returns.
#[derive(Default)]
struct FirstFault(Mutex<Option<(usize, Fault)>>);

impl FirstFault {
    /// After a chunk starting at unit `start` returned a failed check: keeps the fault
    /// its kernel recorded on this thread if no earlier chunk's is kept.
    fn note(&self, start: usize) {
        if let Some(f) = callouts::take_fault() {
            let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
            if kept.is_none_or(|(s, _)| start < s) {
                *kept = Some((start, f));
            }
        }
    }

    fn take(&self) -> Option<Fault> {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        kept.take().map(|(_, f)| f)
    }
}

/// A matrix product and its epilogue, block of rows by block of rows (blocks split
/// across threads when the product is large): each block's epilogue runs right after
/// its rows are computed, while they are in cache. Returns the epilogue's status.
fn matmul_with_epilogue(
    threads: &Threads,
    m: &crate::kernel::MatMul,
    ptrs: &[*mut u8],
    f: KernelFn,
    args: &[*mut u8],
    post: Option<PostOp>,
    fault: &FirstFault,
) -> i32 {
    let blocks = m.blocks(threads.count());
    let work =
        m.k.saturating_mul(m.n)
            .saturating_mul(blocks.first().map_or(0, |b| b.2 - b.1));
    let (ptrs, args) = (Args(ptrs), Args(args));
    threads.split(blocks.len(), work, 1, &move |b0, b1| {
        let (ptrs, args) = (ptrs, args);
        // The split may hand out empty ranges past the end.
        for &(p, r0, r1) in blocks.get(b0..b1).unwrap_or(&[]) {
            // Rows r0..r1 of product p: elements from (p·m + r0)·n of the result.
            let (e0, e1) = ((p * m.m + r0) * m.n, (p * m.m + r1) * m.n);
            // SAFETY: the buffers are allocated with their declared sizes; blocks cover
            // disjoint rows of the product and of the epilogue's elementwise outputs.
            let status = unsafe {
                native::product_rows(m, ptrs.0, p, r0, r1, gemm::Parallelism::None);
                let status = f(args.0.as_ptr(), e0 as i64, e1 as i64);
                if let (0, Some(post)) = (status, post) {
                    post.apply(args.0, e0, e1);
                }
                status
            };
            if status != 0 {
                fault.note(e0);
                return status;
            }
        }
        0
    })
}

/// A matrix product without an epilogue: by blocks of rows on the executor's threads
/// when it is cut into several, else one `gemm` call (which may use rayon's threads for
/// a large product of few rows).
///
/// # Safety
/// As [`native::matmul`].
unsafe fn matmul(threads: &Threads, m: &crate::kernel::MatMul, ptrs: &[*mut u8]) {
    let blocks = m.blocks(threads.count());
    if blocks.len() <= 1 {
        // SAFETY: forwarded from the caller.
        return unsafe { native::matmul(m, ptrs) };
    }
    let work =
        m.k.saturating_mul(m.n)
            .saturating_mul(blocks.first().map_or(0, |b| b.2 - b.1));
    let ptrs = Args(ptrs);
    threads.split(blocks.len(), work, 1, &move |b0, b1| {
        let ptrs = ptrs;
        for &(p, r0, r1) in blocks.get(b0..b1).unwrap_or(&[]) {
            // SAFETY: blocks cover disjoint rows of the product's output.
            unsafe { native::product_rows(m, ptrs.0, p, r0, r1, gemm::Parallelism::None) };
        }
        0
    });
}

/// Released buffers by dtype and length, ready for reuse.
///
/// A short list searched linearly rather than a hash map: a schedule has a few dozen
/// distinct buffer sizes at most, and a host-loop scan takes and gives buffers several
/// times per step, where hashing showed up in profiles.
#[derive(Default)]
struct Spare(Vec<((DType, usize), Vec<Storage>)>);

impl Spare {
    fn slot(&mut self, key: (DType, usize)) -> &mut Vec<Storage> {
        let i = match self.0.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                self.0.push((key, vec![]));
                self.0.len() - 1
            }
        };
        &mut self.0[i].1
    }

    /// A buffer of `len` elements of `dtype`: a released one, else fresh memory (an
    /// error naming the size when the allocator refuses).
    fn take(&mut self, dtype: DType, len: usize) -> Result<Storage, RunError> {
        match self
            .0
            .iter_mut()
            .find(|(k, _)| *k == (dtype, len))
            .and_then(|(_, v)| v.pop())
        {
            Some(s) => Ok(s),
            None => Storage::zeroed(dtype, len).map_err(|e| {
                RunError::new(format!(
                    "out of memory: {e} for a tensor of {len} {dtype} values"
                ))
            }),
        }
    }

    fn give(&mut self, s: Storage) {
        self.slot((s.dtype(), s.len())).push(s);
    }

    fn merge(&mut self, other: Spare) {
        for (key, mut v) in other.0 {
            self.slot(key).append(&mut v);
        }
    }
}

/// The per-run state of one schedule: buffer addresses and the temporaries it owns.
struct Frame<'p, 's> {
    program: &'p Program,
    threads: &'p Threads,
    ptrs: Vec<*mut u8>,
    owned: Vec<Option<Storage>>,
    spare: &'s mut Spare,
    /// Scratch for a kernel call's argument addresses (kept to avoid an allocation per call).
    args: Vec<*mut u8>,
    /// The caller's output memory, one address per output, when the outputs are written
    /// in place ([`Program::direct`]); `None` for a frame that returns storage.
    direct: Option<&'p [*mut u8]>,
    /// The steps whose kernel reported storing a NaN or ±Inf.
    flagged: Vec<usize>,
}

impl<'p, 's> Frame<'p, 's> {
    fn new(
        program: &'p Program,
        inputs: &[*const u8],
        spare: &'s mut Spare,
        threads: &'p Threads,
    ) -> Frame<'p, 's> {
        let n = program.schedule.buffers.len();
        let mut ptrs = vec![std::ptr::null_mut(); n];
        for (b, s) in &program.literals {
            ptrs[b.index()] = s.as_ptr().cast_mut();
        }
        let mut frame = Frame {
            program,
            threads,
            ptrs,
            owned: (0..n).map(|_| None).collect(),
            spare,
            args: vec![],
            direct: None,
            flagged: vec![],
        };
        frame.bind(inputs);
        frame
    }

    /// Points the schedule's inputs at `inputs` (a frame is reused across the steps of a
    /// host-loop scan, rebinding only its inputs).
    fn bind(&mut self, inputs: &[*const u8]) {
        for (k, &b) in self.program.schedule.inputs.iter().enumerate() {
            // Inputs are only ever read.
            self.ptrs[b.index()] = inputs[k].cast_mut();
        }
    }

    /// Gives `b` storage (recycled when a freed buffer has the same type and size).
    fn allocate(&mut self, b: BufId) -> Result<(), RunError> {
        if self.owned[b.index()].is_some() {
            return Ok(());
        }
        if let (Some(outs), Some(i)) = (self.direct, self.program.direct[b.index()]) {
            self.ptrs[b.index()] = outs[i];
            return Ok(());
        }
        let buf = &self.program.schedule.buffers[b.index()];
        let mut s = self.spare.take(buf.dtype, buf.len)?;
        self.ptrs[b.index()] = s.as_mut_ptr();
        self.owned[b.index()] = Some(s);
        Ok(())
    }

    fn release(&mut self, b: BufId) {
        if let Some(s) = self.owned[b.index()].take() {
            self.spare.give(s);
        }
    }

    fn run(&mut self) -> Result<(), RunError> {
        let program: &'p Program = self.program;
        let schedule = &program.schedule;
        for (s, step) in schedule.steps.iter().enumerate() {
            for &b in &program.writes[s] {
                self.allocate(b)?;
            }
            for w in &program.warm[s] {
                // SAFETY: every buffer is allocated with its declared length, and an
                // index buffer is written before the first step that gathers with it.
                unsafe { warm::prefetch(w, &self.ptrs) };
            }
            self.step(s, step, &program.steps[s])?;
            for &b in &schedule.frees[s] {
                self.release(b);
            }
        }
        Ok(())
    }

    fn step(&mut self, s: usize, step: &Step, code: &StepCode) -> Result<(), RunError> {
        match (step, code) {
            (
                Step::Kernel(k),
                StepCode::Kernel {
                    f,
                    params,
                    units,
                    work,
                    align,
                    post,
                },
            ) => {
                let mut args = std::mem::take(&mut self.args);
                args.clear();
                args.extend(params.iter().map(|b| self.ptrs[b.index()]));
                let fault = FirstFault::default();
                let status = call_kernel(
                    self.threads,
                    *f,
                    &args,
                    *units,
                    *work,
                    *align,
                    *post,
                    &fault,
                );
                self.args = args;
                if status & NON_FINITE_STORED != 0 {
                    self.flagged.push(s);
                }
                kernel_status(k, status & !NON_FINITE_STORED, &fault)
            }
            (Step::MatMul(m), StepCode::MatMul(Some((f, params, post)))) => {
                let args: Vec<*mut u8> = params.iter().map(|b| self.ptrs[b.index()]).collect();
                let fault = FirstFault::default();
                let status =
                    matmul_with_epilogue(self.threads, m, &self.ptrs, *f, &args, *post, &fault);
                let k = m
                    .epilogue
                    .as_ref()
                    .expect("an epilogue step has its kernel");
                kernel_status(k, status, &fault)
            }
            // SAFETY: every buffer a step touches is allocated with its declared size.
            (Step::MatMul(m), _) => {
                unsafe { matmul(self.threads, m, &self.ptrs) };
                Ok(())
            }
            (Step::Native(n), _) => {
                let out = self.program.writes[s][0];
                let dtype = self.program.schedule.buffers[out.index()].dtype;
                unsafe { native::run(n, &self.ptrs, dtype) }.map_err(RunError::new)
            }
            (Step::Scan(scan), StepCode::Scan(body)) => self.host_scan(scan, body),
            _ => unreachable!("program steps mirror schedule steps"),
        }
    }

    /// Runs a scan's body schedule once per step, carrying state between steps.
    ///
    /// One body frame serves every step (only its inputs are rebound), and sequence
    /// slices and invariants are read in place: per-step costs are the body's own steps,
    /// one copy of each per-step output into its stacked buffer, and no allocation once
    /// the spares are warm.
    fn host_scan(&mut self, scan: &HostScan, body: &Program) -> Result<(), RunError> {
        let program: &'p Program = self.program;
        let bufs = &program.schedule.buffers;
        let info = |b: BufId| (bufs[b.index()].dtype, bufs[b.index()].len);
        let n_carry = scan.n_carry;
        let mut carries: Vec<Storage> = scan.args[..n_carry]
            .iter()
            .map(|&b| {
                let (dtype, len) = info(b);
                let mut c = self.spare.take(dtype, len)?;
                // SAFETY: initial carries are allocated buffers of this length.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        self.ptrs[b.index()].cast_const(),
                        c.as_mut_ptr(),
                        len * dtype.size_bytes(),
                    )
                };
                Ok(c)
            })
            .collect::<Result<_, RunError>>()?;
        // Each sequence's base address and slice size in bytes (0 for invariants).
        let others: Vec<(*const u8, usize)> = scan.args[n_carry..]
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                let base = self.ptrs[b.index()].cast_const();
                if i < scan.n_seq {
                    let (dtype, len) = info(b);
                    (base, len / scan.length.max(1) * dtype.size_bytes())
                } else {
                    (base, 0)
                }
            })
            .collect();
        let out_bases: Vec<*mut u8> = scan.outs.iter().map(|b| self.ptrs[b.index()]).collect();
        let mut step_index = [0i32];
        let mut inputs: Vec<*const u8> = Vec::with_capacity(n_carry + others.len() + 1);
        inputs.extend(carries.iter().map(Storage::as_ptr));
        // SAFETY (each `add`): slice `t` of a sequence lies within its buffer.
        inputs.extend(others.iter().map(|&(base, _)| base));
        inputs.push(step_index.as_ptr().cast());
        let mut frame = Frame::new(body, &inputs, self.spare, self.threads);
        let mut result = Ok(());
        for k in 0..scan.length {
            let t = if scan.reverse { scan.length - 1 - k } else { k };
            step_index[0] = t as i32;
            inputs.clear();
            inputs.extend(carries.iter().map(Storage::as_ptr));
            inputs.extend(
                others
                    .iter()
                    .map(|&(base, size)| unsafe { base.add(t * size) }),
            );
            inputs.push(step_index.as_ptr().cast());
            frame.bind(&inputs);
            // A failure names the step, as the interpreter's does.
            result = frame.run().map_err(|e| RunError {
                message: format!("at step {t}: {}", e.message),
                ..e
            });
            if result.is_err() {
                break;
            }
            let outs = match frame.take_outputs() {
                Ok(outs) => outs,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            frame.release_all();
            for (i, out) in outs.into_iter().enumerate() {
                if i < n_carry {
                    let old = std::mem::replace(&mut carries[i], out);
                    frame.spare.give(old);
                } else {
                    let bytes = out.len() * out.dtype().size_bytes();
                    // SAFETY: the stacked output holds `length` slices of this size.
                    unsafe {
                        std::ptr::copy_nonoverlapping(
                            out.as_ptr(),
                            out_bases[i].add(t * bytes),
                            bytes,
                        );
                    }
                    frame.spare.give(out);
                }
            }
        }
        frame.release_all();
        drop(frame);
        result?;
        for (c, &dst) in carries.into_iter().zip(&out_bases[..n_carry]) {
            let bytes = c.len() * c.dtype().size_bytes();
            // SAFETY: a final carry's buffer has the carry's type.
            unsafe { std::ptr::copy_nonoverlapping(c.as_ptr(), dst, bytes) };
            self.spare.give(c);
        }
        Ok(())
    }

    fn release_all(&mut self) {
        for s in self.owned.iter_mut().filter_map(Option::take) {
            self.spare.give(s);
        }
    }

    /// Copies each output that was not written in place into the caller's memory `outs`
    /// (see [`Program::direct`]).
    fn copy_outputs(&self, outs: &[*mut u8]) {
        let schedule = &self.program.schedule;
        for (i, (&b, &dst)) in schedule.outputs.iter().zip(outs).enumerate() {
            if self.program.direct[b.index()] == Some(i) {
                continue;
            }
            let buf = &schedule.buffers[b.index()];
            // SAFETY: every output buffer is an input, literal or written temp of this
            // type and length, and `dst` is an output tensor of that type and length
            // (distinct from every input and from the other outputs).
            unsafe {
                std::ptr::copy_nonoverlapping(
                    self.ptrs[b.index()].cast_const(),
                    dst,
                    buf.len * buf.dtype.size_bytes(),
                )
            };
        }
    }

    /// The outputs, moving owned buffers out when no later output needs them too.
    fn take_outputs(&mut self) -> Result<Vec<Storage>, RunError> {
        let program: &'p Program = self.program;
        let schedule = &program.schedule;
        let outs = &schedule.outputs;
        (0..outs.len())
            .map(|i| {
                let b = outs[i];
                let last_use = !outs[i + 1..].contains(&b);
                match self.owned[b.index()].take() {
                    Some(s) if last_use => Ok(s),
                    other => {
                        self.owned[b.index()] = other;
                        let buf = &schedule.buffers[b.index()];
                        let mut c = self.spare.take(buf.dtype, buf.len)?;
                        // SAFETY: every output buffer is an input, literal or written temp
                        // of this type and length.
                        unsafe {
                            std::ptr::copy_nonoverlapping(
                                self.ptrs[b.index()].cast_const(),
                                c.as_mut_ptr(),
                                buf.len * buf.dtype.size_bytes(),
                            )
                        };
                        Ok(c)
                    }
                }
            })
            .collect()
    }
}

/// Runs a program on input buffers; returns one storage per output, and the steps that
/// reported a non-finite store in `flagged`. Temporaries come from and go back to `spare`.
fn run_program(
    program: &Program,
    inputs: &[*const u8],
    spare: &mut Spare,
    threads: &Threads,
    flagged: &mut Vec<usize>,
) -> Result<Vec<Storage>, RunError> {
    let mut frame = Frame::new(program, inputs, spare, threads);
    let result = frame.run();
    // Give temporaries back even when a step failed.
    let outs = result.and_then(|()| frame.take_outputs());
    frame.release_all();
    *flagged = std::mem::take(&mut frame.flagged);
    outs
}

#[cfg(test)]
mod tests {
    //! `run_into`: reused outputs give exactly what fresh ones do, whatever they held,
    //! and outputs of the wrong number, dtype or shape are an error, not a panic.

    use crate::{JitOptions, compile};
    use rlp_ir::interp::Interpreter;
    use rlp_ir::{BinaryOp, Graph, NodeId, Op, ReduceOp, Scan, TensorType, UnaryOp};
    use rlp_runtime::{DType, Executable, Tensor};

    const F: DType = DType::F32;

    fn ty(dtype: DType, shape: &[usize]) -> TensorType {
        TensorType::new(dtype, shape)
    }

    fn graph(
        inputs: &[TensorType],
        body: impl FnOnce(&mut Graph, &[NodeId]) -> Vec<NodeId>,
    ) -> Graph {
        let mut g = Graph::new();
        let ins: Vec<NodeId> = inputs.iter().map(|t| g.add_input(t.clone())).collect();
        g.outputs = body(&mut g, &ins);
        g
    }

    fn scan(
        g: &mut Graph,
        body: Graph,
        length: usize,
        reverse: bool,
        n_seq: usize,
        args: Vec<NodeId>,
    ) -> Vec<NodeId> {
        let n_out = body.outputs.len();
        let s = g
            .add(
                Op::Scan(Box::new(Scan {
                    length,
                    reverse,
                    n_carry: 1,
                    n_seq,
                    body,
                })),
                args,
            )
            .unwrap();
        (0..n_out).map(|k| g.project(s, k).unwrap()).collect()
    }

    /// Reverse discounted scan over `[t, n]` with done masks: one scan kernel, split
    /// across threads when `n` is large.
    fn advantage_scan(t: usize, n: usize) -> Graph {
        let e = [n];
        let body = graph(
            &[ty(F, &e), ty(F, &e), ty(F, &e), ty(DType::I32, &[])],
            |g, x| {
                let one = g.full(&ty(F, &e), 1.0).unwrap();
                let kept = g.binary(BinaryOp::Sub, one, x[2]).unwrap();
                let disc = g.binary_scalar(BinaryOp::Mul, x[0], 0.95).unwrap();
                let disc = g.binary(BinaryOp::Mul, disc, kept).unwrap();
                let next = g.binary(BinaryOp::Add, x[1], disc).unwrap();
                vec![next, next]
            },
        );
        graph(&[ty(F, &[t, n]), ty(F, &[t, n])], |g, x| {
            let init = g.full(&ty(F, &e), 0.0).unwrap();
            let outs = scan(g, body, t, true, 2, vec![init, x[0], x[1]]);
            vec![outs[1], outs[0]]
        })
    }

    /// Several outputs of different dtypes: a fused chain, a reduction, a mask, an input
    /// returned as is, and one value returned twice.
    fn mixed(rows: usize, cols: usize) -> Graph {
        graph(&[ty(F, &[rows, cols]), ty(DType::I32, &[cols])], |g, x| {
            let e = g.unary(UnaryOp::Tanh, x[0]).unwrap();
            let y = g.binary_scalar(BinaryOp::Mul, e, 3.0).unwrap();
            let s = g.reduce(ReduceOp::Sum, y, vec![1]).unwrap();
            let zero = g.full(&ty(F, &[rows, cols]), 0.0).unwrap();
            let mask = g.binary(BinaryOp::Gt, y, zero).unwrap();
            let k = g.binary_scalar(BinaryOp::Add, x[1], 1.0).unwrap();
            vec![y, s, mask, x[0], k, y]
        })
    }

    /// `h[t] = tanh(h[t-1] @ W + x[t])`: a body with a matmul runs as a host loop.
    fn host_loop(steps: usize, b: usize, h: usize) -> Graph {
        let body = graph(
            &[
                ty(F, &[b, h]),
                ty(F, &[b, h]),
                ty(F, &[h, h]),
                ty(DType::I32, &[]),
            ],
            |g, x| {
                let hw = g.add(Op::MatMul, vec![x[0], x[2]]).unwrap();
                let pre = g.binary(BinaryOp::Add, hw, x[1]).unwrap();
                let next = g.unary(UnaryOp::Tanh, pre).unwrap();
                vec![next, next]
            },
        );
        graph(
            &[ty(F, &[b, h]), ty(F, &[steps, b, h]), ty(F, &[h, h])],
            |g, x| scan(g, body, steps, false, 1, vec![x[0], x[1], x[2]]),
        )
    }

    /// Inputs from a small deterministic generator; `done`-like inputs (any named
    /// `mask_inputs`) are 0/1.
    fn inputs(g: &Graph, seed: u64, mask_inputs: &[usize]) -> Vec<Tensor> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        g.inputs
            .iter()
            .enumerate()
            .map(|(k, t)| {
                let v: Vec<f64> = (0..t.numel())
                    .map(|_| match (t.dtype, mask_inputs.contains(&k)) {
                        (_, true) => f64::from(next() < 0.1),
                        (DType::I32, _) => (next() * 11.0).floor() - 5.0,
                        _ => next() * 2.0 - 1.0,
                    })
                    .collect();
                Tensor::from_f64(t.dtype, &t.shape, &v)
            })
            .collect()
    }

    /// Same dtype, shape and bits.
    fn assert_same(got: &[Tensor], want: &[Tensor]) {
        assert_eq!(got.len(), want.len());
        for (k, (a, b)) in got.iter().zip(want).enumerate() {
            assert_eq!((a.dtype(), a.shape()), (b.dtype(), b.shape()), "output {k}");
            let bits =
                |t: &Tensor| -> Vec<u64> { t.to_f64_vec().iter().map(|v| v.to_bits()).collect() };
            assert!(bits(a) == bits(b), "output {k} differs");
        }
    }

    /// Outputs of the right types full of junk (NaN, -7, true): results must not depend
    /// on what reused memory held.
    fn junk_like(outs: &[Tensor]) -> Vec<Tensor> {
        outs.iter()
            .map(|t| {
                let v = match t.dtype() {
                    DType::F32 | DType::F64 => f64::NAN,
                    DType::I32 => -7.0,
                    DType::Bool => 1.0,
                };
                Tensor::full(t.dtype(), t.shape(), v)
            })
            .collect()
    }

    fn data_ptr(t: &Tensor) -> *const u8 {
        crate::buffer::tensor_ptr(t)
    }

    #[test]
    fn reused_outputs_give_the_same_results_as_fresh_ones() {
        let cases: Vec<(Graph, Vec<usize>)> = vec![
            (advantage_scan(6, 4099), vec![1]),
            (advantage_scan(3, 5), vec![1]),
            (mixed(37, 300), vec![]),
            (host_loop(5, 3, 4), vec![]),
        ];
        for (g, masks) in &cases {
            for threads in [1, 2] {
                for fuse in [true, false] {
                    let exe = compile(
                        g,
                        &JitOptions {
                            threads,
                            fuse,
                            ..JitOptions::default()
                        },
                    )
                    .unwrap();
                    let (a, b) = (inputs(g, 1, masks), inputs(g, 2, masks));
                    let (want_a, want_b) = (exe.run(&a).unwrap(), exe.run(&b).unwrap());
                    // Empty: filled as `run` would.
                    let mut outs = vec![];
                    exe.run_into(&a, &mut outs).unwrap();
                    assert_same(&outs, &want_a);
                    // Reused from the previous call, then junk of the right types.
                    exe.run_into(&b, &mut outs).unwrap();
                    assert_same(&outs, &want_b);
                    let mut outs = junk_like(&outs);
                    exe.run_into(&a, &mut outs).unwrap();
                    assert_same(&outs, &want_a);
                    // Fresh runs are unaffected by memory that went through `run_into`.
                    assert_same(&exe.run(&b).unwrap(), &want_b);
                }
            }
        }
    }

    #[test]
    fn lent_inputs_give_the_same_results_as_a_slice_of_them() {
        let cases: Vec<(Graph, Vec<usize>)> = vec![
            (advantage_scan(3, 5), vec![1]),
            (mixed(37, 300), vec![]),
            (host_loop(5, 3, 4), vec![]),
        ];
        for (g, masks) in &cases {
            let exe = compile(g, &JitOptions::default()).unwrap();
            let x = inputs(g, 6, masks);
            let want = exe.run(&x).unwrap();
            let lent: Vec<&Tensor> = x.iter().collect();
            let mut outs = vec![];
            exe.run_borrowed_into(&lent, &mut outs).unwrap().unwrap();
            assert_same(&outs, &want);
            // Into the previous outputs, then into junk of the right types.
            exe.run_borrowed_into(&lent, &mut outs).unwrap().unwrap();
            assert_same(&outs, &want);
            let mut outs = junk_like(&outs);
            exe.run_borrowed_into(&lent, &mut outs).unwrap().unwrap();
            assert_same(&outs, &want);
            // The wrong number of inputs is the same error as `run_into`'s.
            let e = exe
                .run_borrowed_into(&lent[1..], &mut outs)
                .unwrap()
                .unwrap_err();
            assert!(e.message.contains("inputs"), "{}", e.message);
        }
        // An input not in row-major order (a transposed array) reads as its values.
        let g = mixed(6, 5);
        let exe = compile(&g, &JitOptions::default()).unwrap();
        let x = inputs(&g, 7, &[]);
        let Tensor::F32(a) = &x[0] else {
            unreachable!()
        };
        use ndarray::ShapeBuilder;
        let mut f = ndarray::ArrayD::<f32>::zeros(ndarray::IxDyn(&[6, 5]).f());
        f.assign(a);
        let strided = Tensor::F32(f);
        assert!(!super::is_standard(&strided));
        assert_eq!(strided.to_f64_vec(), x[0].to_f64_vec());
        let mut outs = junk_like(&exe.run(&x).unwrap());
        exe.run_borrowed_into(&[&strided, &x[1]], &mut outs)
            .unwrap()
            .unwrap();
        assert_same(&outs, &exe.run(&x).unwrap());
    }

    #[test]
    fn a_reused_output_is_written_in_place() {
        let g = advantage_scan(64, 4096);
        let exe = compile(&g, &JitOptions::default()).unwrap();
        let x = inputs(&g, 3, &[1]);
        let mut outs = vec![];
        exe.run_into(&x, &mut outs).unwrap();
        let before: Vec<*const u8> = outs.iter().map(data_ptr).collect();
        for _ in 0..3 {
            exe.run_into(&x, &mut outs).unwrap();
            let after: Vec<*const u8> = outs.iter().map(data_ptr).collect();
            // The same allocations come back (possibly swapped between same-sized outputs).
            let mut sorted = (before.clone(), after);
            sorted.0.sort();
            sorted.1.sort();
            assert_eq!(sorted.0, sorted.1);
        }
    }

    #[test]
    fn outputs_of_the_wrong_number_or_type_are_an_error() {
        let g = mixed(4, 3);
        let jit = compile(&g, &JitOptions::default()).unwrap();
        let interp = Interpreter::new(g.clone()).unwrap();
        let backends: [&dyn Executable; 2] = [jit.as_ref(), &interp];
        let x = inputs(&g, 4, &[]);
        let good = jit.run(&x).unwrap();
        for exe in backends {
            let cases: Vec<(Vec<Tensor>, &str)> = vec![
                (
                    good[..2].to_vec(),
                    "outputs to reuse: expected 6 tensors (or none), got 2",
                ),
                (
                    [good.clone(), good[..1].to_vec()].concat(),
                    "outputs to reuse: expected 6 tensors (or none), got 7",
                ),
                (
                    {
                        let mut o = good.clone();
                        o[1] = Tensor::zeros(F, &[5]);
                        o
                    },
                    "output 1 to reuse: expected f32[4], got f32[5]",
                ),
                (
                    {
                        let mut o = good.clone();
                        o[2] = Tensor::zeros(F, &[4, 3]);
                        o
                    },
                    "output 2 to reuse: expected bool[4,3], got f32[4,3]",
                ),
                (
                    {
                        let mut o = good.clone();
                        o[0] = Tensor::zeros(F, &[3, 4]);
                        o
                    },
                    "output 0 to reuse: expected f32[4,3], got f32[3,4]",
                ),
            ];
            for (bad, message) in cases {
                let mut outs = bad.clone();
                let e = exe.run_into(&x, &mut outs).unwrap_err();
                assert_eq!(e.message, message);
                // Left untouched.
                assert_same(&outs, &bad);
            }
            // Wrong inputs: the inputs' error, outputs untouched.
            let mut outs = junk_like(&good);
            let e = exe.run_into(&x[..1], &mut outs).unwrap_err();
            assert!(e.message.contains("expected 2 inputs"), "{}", e.message);
            assert_same(&outs, &junk_like(&good));
            // And the right outputs still work.
            exe.run_into(&x, &mut outs).unwrap();
            assert_same(&outs, &good);
        }
    }

    #[test]
    fn a_failed_run_leaves_outputs_usable() {
        let g = graph(&[ty(F, &[5, 2]), ty(DType::I32, &[])], |g, x| {
            let row = g.add(Op::DynIndex, vec![x[0], x[1]]).unwrap();
            vec![g.binary(BinaryOp::Add, row, row).unwrap()]
        });
        let exe = compile(&g, &JitOptions::default()).unwrap();
        let x = inputs(&g, 5, &[])[0].clone();
        let at = |i: f64| vec![x.clone(), Tensor::from_f64(DType::I32, &[], &[i])];
        let mut outs = vec![];
        exe.run_into(&at(1.0), &mut outs).unwrap();
        let e = exe.run_into(&at(5.0), &mut outs).unwrap_err();
        assert!(e.message.contains("dyn_index"), "{}", e.message);
        assert!(outs.is_empty() || outs.len() == 1);
        exe.run_into(&at(4.0), &mut outs).unwrap();
        assert_same(&outs, &exe.run(&at(4.0)).unwrap());
    }
}
