//! Kernel IR → Cranelift IR → machine code, with `cranelift-jit`.
//!
//! Why Cranelift: it compiles in milliseconds (a training run compiles each stage once,
//! at start-up), needs no toolchain on the user's machine, and its scalar code is within
//! a small factor of rustc's for these loops.
//!
//! Every kernel becomes one function with the ABI
//!
//! ```text
//! extern "C" fn(args: *const *mut u8, start: i64, end: i64) -> i32
//! ```
//!
//! `args[i]` is the base address of parameter `i`; the function processes parallel units
//! `start..end` (see [`Kernel`]) and returns 0, or `check + 1` when a runtime check fails.
//! A unit's result never depends on which call processes it, so the executor may split
//! units across threads freely.
//!
//! Elementwise `f32` kernels without calls run four lanes at a time with a scalar tail
//! (module `simd`); lane-wise IEEE operations round exactly as the scalar ones.
//!
//! Scan kernels of any dtype run four units at a time with their carries in registers
//! (module `lanes`, with deferred selects from module `lazy`); uniform draws are inline
//! Philox rounds (module `random`). `RLP_JIT_DISASM=1` prints each kernel's machine code
//! to stderr as it is compiled, for performance work.
//!
//! Semantics that must match the interpreter exactly are written out here: no fused
//! multiply-add is ever emitted; f32 `exp`, `log` and `tanh` are emitted inline as
//! `rlp_runtime::math`'s operation sequences (module `math`), the interpreter's
//! definitions; other transcendental functions call the same Rust `std` functions the
//! interpreter uses (module `callouts`); integer division never traps.

use crate::JitError;
use crate::callouts::{self, Arg};
use crate::kernel::{IndexId, Kernel, KernelKind, Op, ScanKernel, ValId};
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    AbiParam, Block, FuncRef, InstBuilder, MemFlagsData, Type, Value, types,
};
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable, SetError};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module, default_libcall_names};
use rlp_ir::{BinaryOp, Distribution, ReduceOp, UnaryOp};
use rlp_runtime::DType;
use std::collections::HashMap;
use std::sync::Mutex;

mod ahead;
mod lanes;
pub(crate) mod lazy;
mod math;
mod random;
mod simd;

/// A compiled kernel (see the module doc for the ABI).
pub type KernelFn = unsafe extern "C" fn(args: *const *mut u8, start: i64, end: i64) -> i32;

/// Owns the machine code of a set of kernels; frees it when dropped.
pub struct Code {
    // `JITModule` is `Send` but not `Sync`; the mutex is only touched on drop.
    module: Mutex<Option<JITModule>>,
}

impl Drop for Code {
    fn drop(&mut self) {
        if let Some(module) = self.module.get_mut().ok().and_then(Option::take) {
            // SAFETY: the executable that owns `Code` (and so every `KernelFn` into it) is
            // being dropped; no kernel can run any more.
            unsafe { module.free_memory() };
        }
    }
}

/// The host's instruction set with its detected features (less FMA when `!fma`), optimised
/// for speed, with absolute addresses (the JIT places code and data anywhere).
fn host_isa(fma: bool) -> Result<OwnedTargetIsa, JitError> {
    let err = |e: &dyn std::fmt::Display| codegen_err("<module>", e);
    let mut isa = cranelift_native::builder().map_err(|e| err(&e))?;
    // Only x86-64 has the setting: FMA is part of the other targets' base sets.
    if !fma {
        match isa.set("has_fma", "false") {
            Ok(()) | Err(SetError::BadName(_)) => {}
            Err(e) => return Err(err(&e)),
        }
    }
    let mut flags = settings::builder();
    for (name, value) in [
        ("opt_level", "speed"),
        ("use_colocated_libcalls", "false"),
        ("is_pic", "false"),
    ] {
        flags.set(name, value).map_err(|e| err(&e))?;
    }
    isa.finish(settings::Flags::new(flags)).map_err(|e| err(&e))
}

fn codegen_err(kernel: &str, e: impl std::fmt::Display) -> JitError {
    JitError::Codegen {
        kernel: kernel.to_string(),
        message: e.to_string(),
    }
}

/// Compiles `kernels` into one module; the result holds one function per kernel, in order.
/// `fma`: use the host's fused multiply-add instructions if it has them (else libm's
/// `fma`, per lane).
pub fn compile(kernels: &[&Kernel], fma: bool) -> Result<(Code, Vec<KernelFn>), JitError> {
    let mut jb = JITBuilder::with_isa(host_isa(fma)?, default_libcall_names());
    let table = callouts::table();
    for c in &table {
        jb.symbol(c.name, c.addr);
    }
    let mut module = JITModule::new(jb);
    let mut imports = HashMap::new();
    for c in &table {
        let mut sig = module.make_signature();
        sig.params
            .extend(c.params.iter().map(|&a| AbiParam::new(arg_type(a))));
        sig.returns.push(AbiParam::new(arg_type(c.ret)));
        let id = module
            .declare_function(c.name, Linkage::Import, &sig)
            .map_err(|e| codegen_err(c.name, e))?;
        imports.insert(c.name, id);
    }
    let ids = match define_all(&mut module, &imports, kernels) {
        Ok(ids) => ids,
        Err(e) => {
            // SAFETY: nothing has been handed out from this module.
            unsafe { module.free_memory() };
            return Err(e);
        }
    };
    let fns = ids
        .iter()
        .map(|&id| {
            let ptr = module.get_finalized_function(id);
            // SAFETY: the function was declared with exactly `KernelFn`'s signature under
            // the platform's default (C) calling convention.
            unsafe { std::mem::transmute::<*const u8, KernelFn>(ptr) }
        })
        .collect();
    Ok((
        Code {
            module: Mutex::new(Some(module)),
        },
        fns,
    ))
}

/// Defines one function per kernel and finalises the module.
fn define_all(
    module: &mut JITModule,
    imports: &HashMap<&'static str, FuncId>,
    kernels: &[&Kernel],
) -> Result<Vec<FuncId>, JitError> {
    let mut ctx = module.make_context();
    let mut fctx = FunctionBuilderContext::new();
    let mut ids = Vec::with_capacity(kernels.len());
    // Kernels that differ only in the buffers they are called with (the same update
    // unrolled over minibatches, one layer's step per parameter) share one function.
    let mut seen: HashMap<String, FuncId> = HashMap::new();
    for kernel in kernels {
        let kernel = kernel.coalesced();
        let key = shape_key(&kernel);
        if let Some(&id) = seen.get(&key) {
            ids.push(id);
            continue;
        }
        let mut sig = module.make_signature();
        sig.params.extend([AbiParam::new(types::I64); 3]);
        sig.returns.push(AbiParam::new(types::I32));
        let id = module
            .declare_function(&kernel.name, Linkage::Local, &sig)
            .map_err(|e| codegen_err(&kernel.name, e))?;
        ctx.func.signature = sig;
        let config = module.target_config();
        {
            let b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
            let mut e = Emitter::new(&kernel, b, module, imports);
            e.emit();
            let mut b = e.b;
            b.seal_all_blocks();
            b.finalize(config);
        }
        let disasm = std::env::var_os("RLP_JIT_DISASM").is_some();
        ctx.set_disasm(disasm);
        module
            .define_function(id, &mut ctx)
            .map_err(|e| codegen_err(&kernel.name, format!("{e:?}")))?;
        if disasm && let Some(code) = ctx.compiled_code() {
            eprintln!(
                "=== {}\n{}",
                kernel.name,
                code.vcode.as_deref().unwrap_or("")
            );
        }
        module.clear_context(&mut ctx);
        seen.insert(key, id);
        ids.push(id);
    }
    module
        .finalize_definitions()
        .map_err(|e| codegen_err("<module>", e))?;
    Ok(ids)
}

/// Everything that decides a kernel's machine code, and nothing else: not its name,
/// not the buffers bound to its parameters, not the graph nodes it came from.
fn shape_key(k: &Kernel) -> String {
    let params: Vec<_> = k.params.iter().map(|p| (p.dtype, p.write)).collect();
    let checks: Vec<_> = k.checks.iter().map(|c| c.op).collect();
    format!(
        "{params:?}|{:?}|{:?}|{:?}|{:?}|{checks:?}",
        k.space, k.kind, k.indices, k.insts
    )
}

fn arg_type(a: Arg) -> Type {
    match a {
        Arg::F32 => types::F32,
        Arg::F64 => types::F64,
        Arg::I32 => types::I32,
        Arg::I64 => types::I64,
    }
}

/// The register type of a dtype (`Bool` is a byte holding 0 or 1).
fn clif_type(d: DType) -> Type {
    match d {
        DType::F32 => types::F32,
        DType::F64 => types::F64,
        DType::I32 => types::I32,
        DType::Bool => types::I8,
    }
}

/// Whether a reduction folds four units side by side: when it has at least four units
/// with long folds (at least 256 elements each) of a short element computation (at most
/// 24 instructions), and no runtime checks (whose first failure is reported in unit
/// order).
///
/// Why: a unit's fold is one chain of dependent operations (an in-order sum waits the
/// add's latency at every element); four units' chains side by side keep the processor
/// busy. Each unit still folds its own elements in order, so results are unchanged. The
/// limits keep the four copies of the element computation to kernels where the chain
/// dominates, so that compile time does not grow for the many small reductions of a
/// training step.
fn interleaves_units(k: &Kernel, n_kept: usize) -> bool {
    let units: usize = k.space[..n_kept].iter().product();
    let folded: usize = k.space[n_kept..].iter().product();
    k.checks.is_empty() && units >= 4 && folded >= 256 && k.insts.len() <= 24
}

/// Whether a four-lane reduction also folds sixteen units at a time, four vectors side by
/// side (`Emitter::reduce_unit_lanes`): when sixteen units and a fold of some length make
/// the add latency the cost, and the element computation is small enough to copy four
/// times.
fn groups_units(k: &Kernel, n_kept: usize) -> bool {
    let units: usize = k.space[..n_kept].iter().product();
    let folded: usize = k.space[n_kept..].iter().product();
    units >= 16 && folded >= 32 && k.insts.len() <= 24
}

/// Whether a scan kernel runs step-major ([`Emitter::emit_scan_step_major`]): whenever
/// it has more than one unit (one unit keeps its carries in registers), except with
/// runtime checks, whose first failure is reported in the element-major order the
/// executor documents. `RLP_JIT_ELEMENT_MAJOR_SCANS` (set at compile time) forces the
/// element-major loop, for before/after benchmarks (`bench_gae`).
fn step_major(k: &Kernel, s: &ScanKernel) -> bool {
    !k.space.is_empty() && k.checks.is_empty() && s.dense && !forced_element_major()
}

/// Whether a scan kernel runs four units at a time in every dtype (module `lanes`): the
/// dispatch in `Emitter::emit`, which tries the `f32` step-major form first.
fn runs_lanes(k: &Kernel, s: &ScanKernel) -> bool {
    !(step_major(k, s) && simd::fits_scan(k)) && lanes::fits(k) && !forced_element_major()
}

/// The unit count a thread's chunk of kernel `k` is best a multiple of: a blocked scan's
/// whole blocks (module `lanes`), else four-unit groups.
pub fn chunk_align(k: &Kernel) -> usize {
    match &k.kind {
        KernelKind::Scan(s) if runs_lanes(k, s) && lanes::blocked(k, s) => lanes::BLOCK_UNITS,
        _ => 4,
    }
}

/// Set in a kernel's status (with no failed check) when it stored a NaN or ±Inf to a
/// float output.
pub const NON_FINITE_STORED: i32 = 1 << 30;

/// Whether kernel `k` reports non-finite float stores in its status
/// ([`NON_FINITE_STORED`]), so a caller that sees every element of an output written by
/// it knows the output finite without reading it back. The lanes scans do (environment
/// rollouts, whose stored batches are the largest outputs a step makes).
pub fn reports_non_finite(k: &Kernel) -> bool {
    matches!(&k.kind, KernelKind::Scan(s) if runs_lanes(k, s))
}

/// Whether kernel `k` (one that [`reports_non_finite`]) writes each of the `len`
/// elements of its parameter `param` exactly once per call over all its units: per-step
/// stores (or final ones) of the same strides whose offsets are `0..stride` along a
/// single space dim, stepping through the whole `[length, units, stride]` block.
pub fn writes_whole(k: &Kernel, param: usize, len: usize) -> bool {
    let KernelKind::Scan(s) = &k.kind else {
        return false;
    };
    let units: usize = k.space.iter().product();
    let step: Vec<IndexId> = (s.step_stores.iter())
        .filter(|x| x.0 == param)
        .map(|x| x.2)
        .collect();
    let finals: Vec<IndexId> = (s.final_stores.iter())
        .filter(|x| x.0 == param)
        .map(|x| x.1)
        .collect();
    let (ixs, steps) = match (step.is_empty(), finals.is_empty()) {
        (false, true) => (step, s.length),
        (true, false) => (finals, 1),
        _ => return false,
    };
    let of = |i: &IndexId| &k.indices[i.index()];
    let first = of(&ixs[0]);
    let Ok(stride) = usize::try_from(first.strides.first().copied().unwrap_or(0)) else {
        return false;
    };
    let step_stride = if steps > 1 { units * stride } else { 0 };
    let mut offsets: Vec<i64> = ixs.iter().map(|i| of(i).offset).collect();
    offsets.sort_unstable();
    k.space.len() == 1
        && stride == ixs.len()
        && ixs.iter().all(|i| {
            let ix = of(i);
            ix.dynamic.is_empty()
                && ix.strides == first.strides
                && ix.step_stride == step_stride as i64
        })
        && offsets.iter().enumerate().all(|(j, &o)| o == j as i64)
        && steps * units * stride == len
}

fn forced_element_major() -> bool {
    std::env::var_os("RLP_JIT_ELEMENT_MAJOR_SCANS").is_some()
}

/// The condition code of a float comparison op (`Ne` for any other op).
fn float_cc(op: BinaryOp) -> FloatCC {
    match op {
        BinaryOp::Lt => FloatCC::LessThan,
        BinaryOp::Le => FloatCC::LessThanOrEqual,
        BinaryOp::Gt => FloatCC::GreaterThan,
        BinaryOp::Ge => FloatCC::GreaterThanOrEqual,
        BinaryOp::Eq => FloatCC::Equal,
        _ => FloatCC::NotEqual,
    }
}

/// The condition code of a signed integer comparison op (`Ne` for any other op).
fn int_cc(op: BinaryOp) -> IntCC {
    match op {
        BinaryOp::Lt => IntCC::SignedLessThan,
        BinaryOp::Le => IntCC::SignedLessThanOrEqual,
        BinaryOp::Gt => IntCC::SignedGreaterThan,
        BinaryOp::Ge => IntCC::SignedGreaterThanOrEqual,
        BinaryOp::Eq => IntCC::Equal,
        _ => IntCC::NotEqual,
    }
}

/// Emits one kernel function.
struct Emitter<'a, 'f> {
    k: &'a Kernel,
    b: FunctionBuilder<'f>,
    module: &'a mut JITModule,
    imports: &'a HashMap<&'static str, FuncId>,
    funcs: HashMap<&'static str, FuncRef>,
    /// Parameter base addresses.
    ptrs: Vec<Value>,
    vals: Vec<Option<Value>>,
    /// Per index: its value without the innermost-loop, step and dynamic terms.
    bases: Vec<Option<Value>>,
    /// The innermost loop's space dim and coordinate, when there is one.
    inner: Option<(usize, Value)>,
    /// The scan step `t` (i64), inside a scan's step loop.
    step: Option<Value>,
    carries: Vec<Variable>,
    /// In a step-major scan, the current unit's flat index: carries then live in their
    /// final-store buffers at this index rather than in variables.
    carry_unit: Option<Value>,
    /// Blocks returning a failed check's code, emitted at the end; each takes the value
    /// the check refused and the scan step (or [`callouts::UNKNOWN`]), which it records
    /// for the error message.
    fails: HashMap<usize, Block>,
    /// Philox blocks computed in the current emission scope (cleared with `vals`).
    blocks: HashMap<random::BlockKey, [Value; 4]>,
    /// Four-lane values of a lanes scan group (module `lanes`).
    lanes: Vec<Option<lanes::Lanes>>,
    /// The carries of a lanes scan group: one variable per part.
    lane_carries: Vec<Vec<Variable>>,
    /// The lane the scalar emitter is computing for a lanes group, if any.
    lane_tag: Option<u8>,
    /// In a scalar map's group of four elements sharing their draws' Philox blocks: which
    /// of the four is being emitted (module `random`, [`random::quad_counters`]).
    quad: Option<u8>,
    /// The element counters of the draws that share blocks in a group of four.
    quad_counters: Vec<IndexId>,
    /// `(sin, cos)` of `f64` lane values computed in the current lanes scope.
    trig: HashMap<ValId, (lanes::Lanes, lanes::Lanes)>,
    /// The words of this step's draws computed ahead (module `ahead`), by draw.
    ahead: HashMap<ValId, Value>,
    /// In a kernel that reports non-finite stores ([`reports_non_finite`]): a four-lane
    /// mask and a scalar flag that every float value stored is folded into.
    stored_non_finite: Option<(Variable, Variable)>,
}

impl<'a, 'f> Emitter<'a, 'f> {
    fn new(
        k: &'a Kernel,
        b: FunctionBuilder<'f>,
        module: &'a mut JITModule,
        imports: &'a HashMap<&'static str, FuncId>,
    ) -> Self {
        Emitter {
            k,
            b,
            module,
            imports,
            funcs: HashMap::new(),
            ptrs: vec![],
            vals: vec![None; k.insts.len()],
            bases: vec![None; k.indices.len()],
            inner: None,
            step: None,
            carries: vec![],
            carry_unit: None,
            fails: HashMap::new(),
            blocks: HashMap::new(),
            lanes: vec![],
            lane_carries: vec![],
            lane_tag: None,
            quad: None,
            quad_counters: vec![],
            trig: HashMap::new(),
            ahead: HashMap::new(),
            stored_non_finite: None,
        }
    }

    fn ins(&mut self) -> cranelift_frontend::FuncInstBuilder<'_, 'f> {
        self.b.ins()
    }

    fn emit(&mut self) {
        let entry = self.b.create_block();
        self.b.append_block_params_for_function_params(entry);
        self.b.switch_to_block(entry);
        let params = self.b.block_params(entry).to_vec();
        let (args, start, end) = (params[0], params[1], params[2]);
        for i in 0..self.k.params.len() {
            let p = self
                .b
                .ins()
                .load(types::I64, MemFlagsData::trusted(), args, (i * 8) as i32);
            self.ptrs.push(p);
        }
        let k: &'a Kernel = self.k;
        match &k.kind {
            KernelKind::Map { stores } => self.emit_map(start, end, stores),
            KernelKind::Reduce {
                op,
                n_kept,
                value,
                out,
            } => self.emit_reduce(start, end, *n_kept, *value, *out, Fold::Reduce(*op)),
            KernelKind::ArgMax { n_kept, value, out } => {
                self.emit_reduce(start, end, *n_kept, *value, *out, Fold::ArgMax)
            }
            KernelKind::Scan(s) if step_major(k, s) && simd::fits_scan(k) => {
                self.emit_scan_step_major(start, end, s)
            }
            KernelKind::Scan(s) if runs_lanes(k, s) => self.emit_scan_lanes(start, end, s),
            KernelKind::Scan(s) if step_major(k, s) => self.emit_scan_step_major(start, end, s),
            KernelKind::Scan(s) => self.emit_scan(start, end, s),
        }
        let fails: Vec<(usize, Block)> = self.fails.iter().map(|(&c, &b)| (c, b)).collect();
        for (check, block) in fails {
            self.b.switch_to_block(block);
            self.b.set_cold_block(block);
            let (value, step) = match self.b.block_params(block) {
                &[value, step] => (value, step),
                _ => unreachable!("fail blocks take a value and a step"),
            };
            let code = self.b.ins().iconst(types::I32, check as i64 + 1);
            let code = self.call("rlp_record_fault", &[code, value, step]);
            self.b.ins().return_(&[code]);
        }
    }

    // ---- loop skeletons ----

    /// `for i in start..end`, visiting the space in rows of its last dim: four lanes at
    /// a time where the kernel vectorises, then the scalar tail.
    fn emit_map(&mut self, start: Value, end: Value, stores: &[(usize, ValId)]) {
        let vector = simd::fits(self.k);
        if !vector {
            self.quad_counters = random::quad_counters(self.k);
        }
        self.emit_rows(start, end, vector, &mut |e, iv, lanes| {
            if lanes {
                e.emit_vector(iv, stores);
            } else {
                e.emit_insts(0..e.k.insts.len());
                for &(param, v) in stores {
                    e.store(param, iv, v);
                }
            }
        });
        let ok = self.b.ins().iconst(types::I32, 0);
        self.b.ins().return_(&[ok]);
    }

    /// `for unit in start..end { acc = fold over reduced dims; out[unit] = acc }`, four
    /// units at a time while four remain when that pays ([`interleaves_units`]), then one
    /// at a time.
    fn emit_reduce(
        &mut self,
        start: Value,
        end: Value,
        n_kept: usize,
        value: ValId,
        out: usize,
        fold: Fold,
    ) {
        let units: usize = self.k.space[..n_kept].iter().product();
        let vector = matches!(fold, Fold::Reduce(_)) && units >= 4 && simd::fits_reduce(self.k);
        let widths: &[usize] = if vector && groups_units(self.k, n_kept) {
            &[16, 4, 1]
        } else if vector || interleaves_units(self.k, n_kept) {
            &[4, 1]
        } else {
            &[1]
        };
        let u = self.b.declare_var(types::I64);
        self.b.def_var(u, start);
        let exit = self.b.create_block();
        for (i, &w) in widths.iter().enumerate() {
            let [head, body] = std::array::from_fn(|_| self.b.create_block());
            let next = if i + 1 == widths.len() {
                exit
            } else {
                self.b.create_block()
            };
            self.b.ins().jump(head, &[]);
            self.b.switch_to_block(head);
            let uv = self.b.use_var(u);
            let uw = self.b.ins().iadd_imm_s(uv, w as i64);
            let room = self.b.ins().icmp(IntCC::SignedLessThanOrEqual, uw, end);
            self.b.ins().brif(room, body, &[], next, &[]);

            self.b.switch_to_block(body);
            let uv = self.b.use_var(u);
            if vector && w % simd::LANES == 0 {
                self.reduce_unit_lanes(uv, w / simd::LANES, n_kept, value, out, fold);
            } else {
                self.reduce_units(uv, w, n_kept, value, out, fold);
            }
            let uv = self.b.use_var(u);
            let uw = self.b.ins().iadd_imm_s(uv, w as i64);
            self.b.def_var(u, uw);
            self.b.ins().jump(head, &[]);
            if next != exit {
                self.b.switch_to_block(next);
            }
        }
        self.exit(exit);
    }

    /// The folds of units `first..first + width`, their elements interleaved: element
    /// `e` of every unit, then element `e + 1`.
    fn reduce_units(
        &mut self,
        first: Value,
        width: usize,
        n_kept: usize,
        value: ValId,
        out: usize,
        fold: Fold,
    ) {
        let rank = self.k.space.len();
        let dtype = self.k.insts[value.index()].dtype;
        let accs: Vec<Variable> = (0..width)
            .map(|_| self.b.declare_var(clif_type(dtype)))
            .collect();
        let args: Vec<Variable> = (0..width).map(|_| self.b.declare_var(types::I32)).collect();
        let init = match fold {
            Fold::Reduce(op) => self.reduce_identity(op, dtype),
            Fold::ArgMax => self.reduce_identity(ReduceOp::Max, dtype),
        };
        let zero32 = self.b.ins().iconst(types::I32, 0);
        for k in 0..width {
            self.b.def_var(accs[k], init);
            self.b.def_var(args[k], zero32);
        }
        self.unit_loops(first, width, n_kept, &mut |e, row_bases, cv| {
            for k in 0..width {
                e.bases = row_bases[k].clone();
                e.inner = Some((rank - 1, cv));
                e.emit_insts(0..e.k.insts.len());
                let v = e.val(value);
                e.fold_element(fold, dtype, v, cv, accs[k], args[k]);
            }
        });
        for k in 0..width {
            let result = match fold {
                Fold::Reduce(_) => self.b.use_var(accs[k]),
                Fold::ArgMax => self.b.use_var(args[k]),
            };
            let uv = self.b.ins().iadd_imm_s(first, k as i64);
            self.store_raw(out, uv, result);
        }
        self.inner = None;
    }

    /// The folds of units `first..first + 4·groups` as `groups` four-lane folds, a unit
    /// per lane (module `simd`): the element computation is emitted once per group, on
    /// vectors whose lanes gather the units' elements, and each lane folds in the scalar
    /// order. Several groups keep several independent chains of vector adds in flight
    /// where one would wait on each add's latency (a bias gradient's sum over a batch).
    fn reduce_unit_lanes(
        &mut self,
        first: Value,
        groups: usize,
        n_kept: usize,
        value: ValId,
        out: usize,
        fold: Fold,
    ) {
        let Fold::Reduce(op) = fold else {
            unreachable!("only sums, maxima and minima fold in lanes")
        };
        let init = self.reduce_identity(op, DType::F32);
        let init = self.b.ins().splat(types::F32X4, init);
        let accs: Vec<Variable> = (0..groups)
            .map(|_| {
                let acc = self.b.declare_var(types::F32X4);
                self.b.def_var(acc, init);
                acc
            })
            .collect();
        let bop = match op {
            ReduceOp::Sum => BinaryOp::Add,
            ReduceOp::Max => BinaryOp::Max,
            ReduceOp::Min => BinaryOp::Min,
        };
        let width = groups * simd::LANES;
        self.unit_loops(first, width, n_kept, &mut |e, row_bases, cv| {
            for (g, &acc) in accs.iter().enumerate() {
                let lanes = &row_bases[g * simd::LANES..(g + 1) * simd::LANES];
                let vals = e.lane_values(None, &mut |e, param, index| {
                    e.gather_units(param, index, lanes, cv, n_kept)
                });
                let v = vals[value.index()].expect("the folded value is computed");
                let a = e.b.use_var(acc);
                let next = e.vector_binary(bop, DType::F32, a, v);
                e.b.def_var(acc, next);
            }
        });
        for (g, &acc) in accs.iter().enumerate() {
            let result = self.b.use_var(acc);
            let at = self.b.ins().iadd_imm_s(first, (g * simd::LANES) as i64);
            self.store_vector(out, at, result);
        }
        self.inner = None;
    }

    /// The longest last dim a fold runs column by column in line (see `unit_loops`).
    const UNROLLED_ROWS: i64 = 8;

    /// The loops over the folded elements of units `first..first + width`: the rows of
    /// the folded dims but the last, then the columns of the last; `body` gets each
    /// unit's index bases for the current row and the column. Ends in the block after
    /// the loops.
    fn unit_loops(
        &mut self,
        first: Value,
        width: usize,
        n_kept: usize,
        body: &mut dyn FnMut(&mut Self, &[Vec<Option<Value>>], Value),
    ) {
        let rank = self.k.space.len();
        let kept: Vec<usize> = (0..n_kept).collect();
        let red_outer: Vec<usize> = (n_kept..rank - 1).collect();
        let red_rows: i64 = self.k.space[n_kept..rank - 1].iter().product::<usize>() as i64;
        let row_len = self.k.space[rank - 1] as i64;

        let r = self.b.declare_var(types::I64);
        let [row_head, row_body, row_next, done] = std::array::from_fn(|_| self.b.create_block());

        let mut unit_bases = Vec::with_capacity(width);
        for k in 0..width {
            let uv = self.b.ins().iadd_imm_s(first, k as i64);
            let coords = self.decompose(uv, &kept);
            self.set_bases(None, &kept, &coords);
            unit_bases.push(self.bases.clone());
        }
        let zero = self.b.ins().iconst(types::I64, 0);
        self.b.def_var(r, zero);
        self.b.ins().jump(row_head, &[]);

        self.b.switch_to_block(row_head);
        let rv = self.b.use_var(r);
        let more = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, rv, red_rows);
        self.b.ins().brif(more, row_body, &[], done, &[]);

        self.b.switch_to_block(row_body);
        let rv = self.b.use_var(r);
        let coords = self.decompose(rv, &red_outer);
        let mut row_bases = Vec::with_capacity(width);
        for bases in &unit_bases {
            self.set_bases(Some(bases), &red_outer, &coords);
            row_bases.push(self.bases.clone());
        }
        if row_len <= Self::UNROLLED_ROWS {
            // A short last dim (a gathered `[4]` row, a pair): its columns in line, each
            // at a constant, so what depends only on the row — a gathered row's index,
            // its bounds check — is computed once per row by Cranelift's redundant-load
            // elimination instead of once per element. Same elements, same order.
            for col in 0..row_len {
                let cv = self.b.ins().iconst(types::I64, col);
                body(self, &row_bases, cv);
            }
            self.b.ins().jump(row_next, &[]);
        } else {
            let c = self.b.declare_var(types::I64);
            let [inner_head, inner_body] = std::array::from_fn(|_| self.b.create_block());
            let zero = self.b.ins().iconst(types::I64, 0);
            self.b.def_var(c, zero);
            self.b.ins().jump(inner_head, &[]);

            self.b.switch_to_block(inner_head);
            let cv = self.b.use_var(c);
            let more = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, cv, row_len);
            self.b.ins().brif(more, inner_body, &[], row_next, &[]);

            self.b.switch_to_block(inner_body);
            let cv = self.b.use_var(c);
            body(self, &row_bases, cv);
            let c1 = self.b.ins().iadd_imm_s(cv, 1);
            self.b.def_var(c, c1);
            self.b.ins().jump(inner_head, &[]);
        }

        self.b.switch_to_block(row_next);
        let rv = self.b.use_var(r);
        let r1 = self.b.ins().iadd_imm_s(rv, 1);
        self.b.def_var(r, r1);
        self.b.ins().jump(row_head, &[]);

        self.b.switch_to_block(done);
    }

    /// Folds element `v` (at column `cv` of its row) into `acc` (and, for `ArgMax`, its
    /// index into `arg`).
    fn fold_element(
        &mut self,
        fold: Fold,
        dtype: DType,
        v: Value,
        cv: Value,
        acc: Variable,
        arg: Variable,
    ) {
        let a = self.b.use_var(acc);
        match fold {
            Fold::Reduce(op) => {
                let next = self.combine(op, dtype, a, v);
                self.b.def_var(acc, next);
            }
            Fold::ArgMax => {
                // The first maximum, a NaN counting as larger than anything (so the first
                // NaN wins): take the first element, then a value when the best so far is
                // not NaN and the value is NaN or strictly greater.
                let first = self.b.ins().icmp_imm_s(IntCC::Equal, cv, 0);
                let mut later = self.compare(BinaryOp::Gt, dtype, v, a);
                if dtype.is_float() {
                    let v_nan = self.b.ins().fcmp(FloatCC::Unordered, v, v);
                    let best_ok = self.b.ins().fcmp(FloatCC::Ordered, a, a);
                    let bigger = self.b.ins().bor(v_nan, later);
                    later = self.b.ins().band(best_ok, bigger);
                }
                let take = self.b.ins().bor(first, later);
                let next = self.select(take, v, a);
                self.b.def_var(acc, next);
                let cur = self.b.use_var(arg);
                let c32 = self.b.ins().ireduce(types::I32, cv);
                let next_arg = self.b.ins().select(take, c32, cur);
                self.b.def_var(arg, next_arg);
            }
        }
    }

    /// `for j in start..end { carries = init; for t in steps { body } ; store finals }`.
    fn emit_scan(&mut self, start: Value, end: Value, s: &ScanKernel) {
        let all: Vec<usize> = (0..self.k.space.len()).collect();
        self.counted_loop(start, end, 1, &mut |e, j| {
            let coords = e.decompose(j, &all);
            e.set_bases(None, &all, &coords);
            e.scan_unit(s);
        });
        let ok = self.b.ins().iconst(types::I32, 0);
        self.b.ins().return_(&[ok]);
    }

    /// `for i in (start..end).step_by(by) { body(i) }` on an `i64` counter; leaves the
    /// builder in the block after the loop.
    fn counted_loop(
        &mut self,
        start: Value,
        end: Value,
        by: i64,
        body: &mut dyn FnMut(&mut Self, Value),
    ) {
        let i = self.b.declare_var(types::I64);
        self.b.def_var(i, start);
        let [head, block, exit] = std::array::from_fn(|_| self.b.create_block());
        self.b.ins().jump(head, &[]);

        self.b.switch_to_block(head);
        let iv = self.b.use_var(i);
        let more = self.b.ins().icmp(IntCC::SignedLessThan, iv, end);
        self.b.ins().brif(more, block, &[], exit, &[]);

        self.b.switch_to_block(block);
        let iv = self.b.use_var(i);
        body(self, iv);
        let next = self.b.ins().iadd_imm_s(iv, by);
        self.b.def_var(i, next);
        self.b.ins().jump(head, &[]);

        self.b.switch_to_block(exit);
    }

    /// `for t in steps (counting down when reverse) { body }` with `self.step` set to `t`
    /// inside; leaves the builder in the block after the loop, `self.step` cleared.
    fn step_loop(&mut self, s: &ScanKernel, body: &mut dyn FnMut(&mut Self)) {
        let zero = self.b.ins().iconst(types::I64, 0);
        let length = self.b.ins().iconst(types::I64, s.length as i64);
        self.counted_loop(zero, length, 1, &mut |e, k| {
            let t = if s.reverse {
                let last = e.b.ins().iconst(types::I64, s.length as i64 - 1);
                e.b.ins().isub(last, k)
            } else {
                k
            };
            e.step = Some(t);
            body(e);
        });
        self.step = None;
    }

    /// The whole scan for the unit at the current point (bases and the innermost
    /// coordinate set): carries in variables, the step loop, the final stores. Leaves the
    /// builder in the block after the loop.
    fn scan_unit(&mut self, s: &ScanKernel) {
        self.clear_vals();
        self.emit_list(&s.prologue);
        self.carries.clear();
        for &init in &s.init {
            let ty = clif_type(self.k.insts[init.index()].dtype);
            let var = self.b.declare_var(ty);
            let v = self.val(init);
            self.b.def_var(var, v);
            self.carries.push(var);
        }
        self.step_loop(s, &mut |e| {
            for &v in &s.body {
                e.vals[v.index()] = None;
            }
            e.blocks.clear();
            e.emit_list(&s.body);
            for &(param, v, index) in &s.step_stores {
                let at = e.index(index);
                e.store(param, at, v);
            }
            // Read every next carry before redefining any (a carry may pass to another).
            let next: Vec<Value> = s.next.iter().map(|&v| e.val(v)).collect();
            for (var, v) in e.carries.clone().into_iter().zip(next) {
                e.b.def_var(var, v);
            }
        });
        for (k, &(param, index)) in s.final_stores.iter().enumerate() {
            let v = self.b.use_var(self.carries[k]);
            let at = self.index(index);
            self.store_raw(param, at, v);
        }
    }

    /// The same scan with the loops swapped: `for t in steps { for j in start..end {
    /// body } }`, the carries of unit `j` kept in its final-store buffers.
    ///
    /// Why: units are the contiguous axis of every sequence and output (`t * units + j`),
    /// so the inner loop streams memory and runs four `f32` lanes at a time (module
    /// `simd`) where the element-major loop strides by `units` each step. Each unit still
    /// evaluates exactly the same instructions in the same step order, so results are
    /// unchanged; prologue values are recomputed each step instead of being kept.
    fn emit_scan_step_major(&mut self, start: Value, end: Value, s: &ScanKernel) {
        let units = self.k.space.iter().product::<usize>() as i64;
        let vector = simd::fits_scan(self.k);
        // Initial carries into the final-store buffers.
        self.emit_rows(start, end, false, &mut |e, iv, _| {
            e.clear_vals();
            e.emit_list(&s.prologue);
            for (k, &init) in s.init.iter().enumerate() {
                e.store(s.final_stores[k].0, iv, init);
            }
        });
        self.step_loop(s, &mut |e| {
            let t = e.step.expect("inside the step loop");
            let t_units = e.b.ins().imul_imm_s(t, units);
            e.emit_rows(start, end, vector, &mut |e, iv, lanes| {
                let at = e.b.ins().iadd(t_units, iv);
                if lanes {
                    let vals = e.vector_values(iv);
                    for &(param, v, _) in &s.step_stores {
                        let x = vals[v.index()].expect("stored values are computed");
                        e.store_vector(param, at, x);
                    }
                    for (k, &v) in s.next.iter().enumerate() {
                        let x = vals[v.index()].expect("carries are computed");
                        e.store_vector(s.final_stores[k].0, iv, x);
                    }
                } else {
                    e.carry_unit = Some(iv);
                    e.clear_vals();
                    e.emit_list(&s.prologue);
                    e.emit_list(&s.body);
                    for &(param, v, _) in &s.step_stores {
                        e.store(param, at, v);
                    }
                    // Every next carry is read (above, as a value) before any is stored.
                    let next: Vec<Value> = s.next.iter().map(|&v| e.val(v)).collect();
                    for (k, x) in next.into_iter().enumerate() {
                        e.store_raw(s.final_stores[k].0, iv, x);
                    }
                    e.carry_unit = None;
                }
            });
        });
        let ok = self.b.ins().iconst(types::I32, 0);
        self.b.ins().return_(&[ok]);
    }

    /// Visits flat units `start..end` in runs along the last space dim, calling `point`
    /// with the unit's flat index (`self.inner` and the row's bases set): for four units
    /// at a time while four remain in the run when `vector`, then one at a time. Leaves
    /// the builder in a fresh block after the loop.
    fn emit_rows(
        &mut self,
        start: Value,
        end: Value,
        vector: bool,
        point: &mut dyn FnMut(&mut Self, Value, bool),
    ) {
        let rank = self.k.space.len();
        let row_len = self.k.space[rank - 1].max(1) as i64;
        let i = self.b.declare_var(types::I64);
        let col = self.b.declare_var(types::I64);
        let col_end_var = self.b.declare_var(types::I64);
        self.b.def_var(i, start);
        let [row_head, row_body, inner_head, inner_body, exit] =
            std::array::from_fn(|_| self.b.create_block());
        self.b.ins().jump(row_head, &[]);

        self.b.switch_to_block(row_head);
        let iv = self.b.use_var(i);
        let more = self.b.ins().icmp(IntCC::SignedLessThan, iv, end);
        self.b.ins().brif(more, row_body, &[], exit, &[]);

        self.b.switch_to_block(row_body);
        let iv = self.b.use_var(i);
        let row = self.b.ins().udiv_imm_u(iv, row_len);
        let row_start = self.b.ins().imul_imm_s(row, row_len);
        let col0 = self.b.ins().isub(iv, row_start);
        let outer: Vec<usize> = (0..rank - 1).collect();
        let coords = self.decompose(row, &outer);
        self.set_bases(None, &outer, &coords);
        let left = self.b.ins().isub(end, iv);
        let to_end = self.b.ins().iadd(col0, left);
        let len = self.b.ins().iconst(types::I64, row_len);
        let col_end = self.b.ins().smin(to_end, len);
        self.b.def_var(col_end_var, col_end);
        self.b.def_var(col, col0);
        self.b.ins().jump(inner_head, &[]);

        self.b.switch_to_block(inner_head);
        if vector {
            let (vec_body, tail_head) = (self.b.create_block(), self.b.create_block());
            let c = self.b.use_var(col);
            let ce = self.b.use_var(col_end_var);
            let c4 = self.b.ins().iadd_imm_s(c, simd::LANES as i64);
            let room = self.b.ins().icmp(IntCC::SignedLessThanOrEqual, c4, ce);
            self.b.ins().brif(room, vec_body, &[], tail_head, &[]);

            self.b.switch_to_block(vec_body);
            let c = self.b.use_var(col);
            self.inner = Some((rank - 1, c));
            let iv = self.b.use_var(i);
            point(self, iv, true);
            let c = self.b.use_var(col);
            let iv = self.b.use_var(i);
            let c4 = self.b.ins().iadd_imm_s(c, simd::LANES as i64);
            let i4 = self.b.ins().iadd_imm_s(iv, simd::LANES as i64);
            self.b.def_var(col, c4);
            self.b.def_var(i, i4);
            self.b.ins().jump(inner_head, &[]);

            self.b.switch_to_block(tail_head);
        } else if !self.quad_counters.is_empty() {
            let (check, quad_body, tail_head) = (
                self.b.create_block(),
                self.b.create_block(),
                self.b.create_block(),
            );
            let c = self.b.use_var(col);
            let ce = self.b.use_var(col_end_var);
            let c4 = self.b.ins().iadd_imm_s(c, 4);
            let room = self.b.ins().icmp(IntCC::SignedLessThanOrEqual, c4, ce);
            self.b.ins().brif(room, check, &[], tail_head, &[]);

            // Four elements share each draw's block when the first one's counter is a
            // multiple of four (every draw's counter steps by one along the row).
            self.b.switch_to_block(check);
            let c = self.b.use_var(col);
            self.inner = Some((rank - 1, c));
            let mut misaligned = self.b.ins().iconst(types::I64, 0);
            for id in self.quad_counters.clone() {
                let at = self.index(id);
                let word = self.b.ins().band_imm_u(at, 3);
                misaligned = self.b.ins().bor(misaligned, word);
            }
            self.b
                .ins()
                .brif(misaligned, tail_head, &[], quad_body, &[]);

            self.b.switch_to_block(quad_body);
            let c = self.b.use_var(col);
            let iv = self.b.use_var(i);
            for j in 0..4u8 {
                let cj = self.b.ins().iadd_imm_s(c, i64::from(j));
                let ij = self.b.ins().iadd_imm_s(iv, i64::from(j));
                self.inner = Some((rank - 1, cj));
                self.quad = Some(j);
                point(self, ij, false);
            }
            self.quad = None;
            let c4 = self.b.ins().iadd_imm_s(c, 4);
            let i4 = self.b.ins().iadd_imm_s(iv, 4);
            self.b.def_var(col, c4);
            self.b.def_var(i, i4);
            self.b.ins().jump(inner_head, &[]);

            self.b.switch_to_block(tail_head);
        }
        let c = self.b.use_var(col);
        let ce = self.b.use_var(col_end_var);
        let more = self.b.ins().icmp(IntCC::SignedLessThan, c, ce);
        self.b.ins().brif(more, inner_body, &[], row_head, &[]);

        self.b.switch_to_block(inner_body);
        let c = self.b.use_var(col);
        self.inner = Some((rank - 1, c));
        let iv = self.b.use_var(i);
        point(self, iv, false);
        let c = self.b.use_var(col);
        let iv = self.b.use_var(i);
        let c1 = self.b.ins().iadd_imm_s(c, 1);
        let i1 = self.b.ins().iadd_imm_s(iv, 1);
        self.b.def_var(col, c1);
        self.b.def_var(i, i1);
        self.b.ins().jump(inner_head, &[]);

        self.b.switch_to_block(exit);
        self.inner = None;
    }

    fn exit(&mut self, exit: Block) {
        self.b.switch_to_block(exit);
        let ok = self.b.ins().iconst(types::I32, 0);
        self.b.ins().return_(&[ok]);
    }

    // ---- indices ----

    /// Row-major coordinates of `flat` over the space dims `dims`.
    fn decompose(&mut self, flat: Value, dims: &[usize]) -> Vec<Value> {
        let mut coords = vec![flat; dims.len()];
        let mut rest = flat;
        for (i, &d) in dims.iter().enumerate().rev() {
            if i == 0 {
                coords[0] = rest;
            } else {
                // A zero-size dim means the loop never runs; avoid dividing by zero anyway.
                let size = self.k.space[d].max(1) as i64;
                coords[i] = self.b.ins().urem_imm_u(rest, size);
                rest = self.b.ins().udiv_imm_u(rest, size);
            }
        }
        coords
    }

    /// `bases[ix] = parent[ix] (or the offset) + Σ coords[i]·strides[dims[i]]`.
    fn set_bases(&mut self, parent: Option<&[Option<Value>]>, dims: &[usize], coords: &[Value]) {
        let k: &'a Kernel = self.k;
        for (id, ix) in k.indices.iter().enumerate() {
            let mut v = match parent {
                Some(p) => p[id].expect("parent bases set"),
                None => self.b.ins().iconst(types::I64, ix.offset),
            };
            for (&d, &c) in dims.iter().zip(coords) {
                let s = ix.strides[d];
                if s != 0 {
                    let term = self.b.ins().imul_imm_s(c, s);
                    v = self.b.ins().iadd(v, term);
                }
            }
            self.bases[id] = Some(v);
        }
    }

    /// The full value of an index at the current point, checking dynamic terms.
    fn index(&mut self, id: IndexId) -> Value {
        let k: &'a Kernel = self.k;
        let ix = &k.indices[id.index()];
        let mut v = self.bases[id.index()].expect("bases set before use");
        if let Some((d, c)) = self.inner
            && ix.strides[d] != 0
        {
            let term = self.b.ins().imul_imm_s(c, ix.strides[d]);
            v = self.b.ins().iadd(v, term);
        }
        if ix.step_stride != 0 {
            let t = self.step.expect("step stride outside a scan step");
            let term = self.b.ins().imul_imm_s(t, ix.step_stride);
            v = self.b.ins().iadd(v, term);
        }
        for d in &ix.dynamic {
            let raw = self.val(d.value);
            let x = self.b.ins().sextend(types::I64, raw);
            let bad = self
                .b
                .ins()
                .icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, x, d.bound as i64);
            self.fail_unless(bad, false, d.check, Some(x));
            let term = self.b.ins().imul_imm_s(x, d.stride);
            v = self.b.ins().iadd(v, term);
        }
        v
    }

    fn address(&mut self, param: usize, index: Value) -> Value {
        let size = self.k.params[param].dtype.size_bytes() as i64;
        let bytes = self.b.ins().imul_imm_s(index, size);
        self.b.ins().iadd(self.ptrs[param], bytes)
    }

    fn store(&mut self, param: usize, index: Value, v: ValId) {
        let x = self.val(v);
        self.store_raw(param, index, x);
    }

    fn store_raw(&mut self, param: usize, index: Value, x: Value) {
        self.note_stored(param, x);
        let addr = self.address(param, index);
        self.b.ins().store(MemFlagsData::trusted(), x, addr, 0);
    }

    /// Folds a float value about to be stored into the non-finite flags, when the
    /// kernel keeps them: `x - x` is NaN exactly when `x` is NaN or ±Inf.
    fn note_stored(&mut self, param: usize, x: Value) {
        let Some((mask, flag)) = self.stored_non_finite else {
            return;
        };
        // Read as the output's float type, whatever register type carries the bits.
        let ty = match (self.k.params[param].dtype, self.b.func.dfg.value_type(x)) {
            (DType::F32, t) if t.is_vector() => types::F32X4,
            (DType::F32, _) => types::F32,
            (DType::F64, t) if t.is_vector() => types::F64X2,
            (DType::F64, _) => types::F64,
            _ => return,
        };
        let x = if self.b.func.dfg.value_type(x) == ty {
            x
        } else {
            self.b.ins().bitcast(ty, lanes::little(), x)
        };
        let z = self.b.ins().fsub(x, x);
        let bad = self.b.ins().fcmp(FloatCC::Unordered, z, z);
        if ty.is_vector() {
            let bad = match ty {
                types::F64X2 => self.b.ins().bitcast(types::I32X4, lanes::little(), bad),
                _ => bad,
            };
            let m = self.b.use_var(mask);
            let m = self.b.ins().bor(m, bad);
            self.b.def_var(mask, m);
        } else {
            let bad = self.b.ins().uextend(types::I32, bad);
            let f = self.b.use_var(flag);
            let f = self.b.ins().bor(f, bad);
            self.b.def_var(flag, f);
        }
    }

    /// Starts the non-finite flags at zero (see [`reports_non_finite`]).
    fn keep_non_finite_flags(&mut self) {
        let mask = self.b.declare_var(types::I32X4);
        let flag = self.b.declare_var(types::I32);
        let zero = self.b.ins().iconst(types::I32, 0);
        let zeros = self.b.ins().splat(types::I32X4, zero);
        self.b.def_var(mask, zeros);
        self.b.def_var(flag, zero);
        self.stored_non_finite = Some((mask, flag));
    }

    /// The kernel's success status: [`NON_FINITE_STORED`] when a kept flag is set, else 0.
    fn success_status(&mut self) -> Value {
        let zero = self.b.ins().iconst(types::I32, 0);
        let Some((mask, flag)) = self.stored_non_finite else {
            return zero;
        };
        let m = self.b.use_var(mask);
        let any = self.b.ins().vany_true(m);
        let any = self.b.ins().uextend(types::I32, any);
        let f = self.b.use_var(flag);
        let bad = self.b.ins().bor(any, f);
        let code = self.b.ins().iconst(types::I32, NON_FINITE_STORED as i64);
        self.b.ins().select(bad, code, zero)
    }

    // ---- instructions ----

    fn clear_vals(&mut self) {
        self.vals.iter_mut().for_each(|v| *v = None);
        // The copies of a group of four keep the shared blocks the first one computed
        // (any other block depends on the element).
        if matches!(self.quad, Some(j) if j > 0) {
            self.blocks.retain(|key, _| random::shared_by_quad(key));
        } else {
            self.blocks.clear();
        }
    }

    fn emit_insts(&mut self, range: std::ops::Range<usize>) {
        self.clear_vals();
        for i in range {
            self.emit_inst(ValId(i as u32));
        }
    }

    fn emit_list(&mut self, list: &[ValId]) {
        for &v in list {
            self.emit_inst(v);
        }
    }

    fn val(&self, v: ValId) -> Value {
        self.vals[v.index()].unwrap_or_else(|| panic!("codegen: {:?} used before it is emitted", v))
    }

    fn emit_inst(&mut self, id: ValId) {
        let k: &'a Kernel = self.k;
        let inst = &k.insts[id.index()];
        let dtype = inst.dtype;
        let v = match inst.op.clone() {
            Op::Load { param, index } => {
                let ix = self.index(index);
                let addr = self.address(param, ix);
                self.b
                    .ins()
                    .load(clif_type(dtype), MemFlagsData::trusted(), addr, 0)
            }
            Op::Const(c) => self.constant(dtype, c),
            Op::Coord(index) => {
                let ix = self.index(index);
                self.b.ins().ireduce(types::I32, ix)
            }
            Op::Unary(op, a) => {
                let a = self.val(a);
                self.unary(op, dtype, a)
            }
            Op::Binary(op, a, b) => {
                let operand = self.k.insts[a.index()].dtype;
                let (a, b) = (self.val(a), self.val(b));
                self.binary(op, operand, a, b)
            }
            Op::Select(c, a, b) => {
                let (c, a, b) = (self.val(c), self.val(a), self.val(b));
                self.select(c, a, b)
            }
            Op::Cast(a) => {
                let from = self.k.insts[a.index()].dtype;
                let a = self.val(a);
                self.cast(a, from, dtype)
            }
            ref op @ Op::Random {
                dist: Distribution::Uniform,
                ..
            } => {
                let u = random::Uniform::of(op).expect("a uniform draw");
                self.uniform_scalar(u, dtype)
            }
            ref op @ Op::Random {
                dist: Distribution::Normal,
                ..
            } => {
                let u = random::Uniform::of_normal(op).expect("a normal draw");
                self.normal_scalar(u, dtype)
            }
            Op::Carry(c) => match self.carry_unit {
                Some(unit) => {
                    let param = match &k.kind {
                        KernelKind::Scan(s) => s.final_stores[c].0,
                        _ => unreachable!("carries only occur in scan kernels"),
                    };
                    let addr = self.address(param, unit);
                    self.b
                        .ins()
                        .load(clif_type(dtype), MemFlagsData::trusted(), addr, 0)
                }
                None => self.b.use_var(self.carries[c]),
            },
            Op::Step => {
                let t = self.step.expect("step outside a scan step");
                self.b.ins().ireduce(types::I32, t)
            }
            Op::Assert(cond, check, value) => {
                let c = self.val(cond);
                let value = value.map(|x| {
                    let x = self.val(x);
                    self.b.ins().sextend(types::I64, x)
                });
                self.fail_unless(c, true, check, value);
                c
            }
        };
        self.vals[id.index()] = Some(v);
    }

    /// Branches to `check`'s fail block when `cond` is not `ok_when` (passing the refused
    /// `value`, an i64, and the scan step), and continues in a fresh block otherwise.
    fn fail_unless(&mut self, cond: Value, ok_when: bool, check: usize, value: Option<Value>) {
        let fail = match self.fails.get(&check) {
            Some(&b) => b,
            None => {
                let b = self.b.create_block();
                self.b.append_block_param(b, types::I64);
                self.b.append_block_param(b, types::I64);
                self.fails.insert(check, b);
                b
            }
        };
        let unknown = |e: &mut Self| e.b.ins().iconst(types::I64, callouts::UNKNOWN);
        let value = value.unwrap_or_else(|| unknown(self));
        let step = self.step.unwrap_or_else(|| unknown(self));
        let args = [value.into(), step.into()];
        let ok = self.b.create_block();
        if ok_when {
            self.b.ins().brif(cond, ok, &[], fail, &args);
        } else {
            self.b.ins().brif(cond, fail, &args, ok, &[]);
        }
        self.b.switch_to_block(ok);
    }

    fn call(&mut self, name: &'static str, args: &[Value]) -> Value {
        let f = match self.funcs.get(name) {
            Some(&f) => f,
            None => {
                let id = self.imports[name];
                let f = self.module.declare_func_in_func(id, self.b.func);
                self.funcs.insert(name, f);
                f
            }
        };
        let call = self.b.ins().call(f, args);
        self.b.inst_results(call)[0]
    }

    /// `c ? a : b` without a branch. Cranelift lowers a float `select` to a jump over a
    /// move, which mispredicts on data-dependent conditions (a 5x slowdown measured on
    /// `max` of random data); selecting the bit patterns uses `cmov` instead.
    fn select(&mut self, c: Value, a: Value, b: Value) -> Value {
        let ty = self.b.func.dfg.value_type(a);
        let int = match ty {
            types::F32 => types::I32,
            types::F64 => types::I64,
            _ => return self.b.ins().select(c, a, b),
        };
        let ai = self.b.ins().bitcast(int, MemFlagsData::new(), a);
        let bi = self.b.ins().bitcast(int, MemFlagsData::new(), b);
        let r = self.b.ins().select(c, ai, bi);
        self.b.ins().bitcast(ty, MemFlagsData::new(), r)
    }

    fn constant(&mut self, dtype: DType, c: f64) -> Value {
        match dtype {
            DType::F32 => self.b.ins().f32const(c as f32),
            DType::F64 => self.b.ins().f64const(c),
            DType::I32 => self.b.ins().iconst(types::I32, c as i32 as i64),
            DType::Bool => self.b.ins().iconst(types::I8, i64::from(c != 0.0)),
        }
    }

    /// An emitter of the inline f32 math sequences, on scalars or on four lanes.
    fn math(&mut self, vector: bool) -> math::MathEmitter<'_, 'f> {
        math::MathEmitter {
            b: &mut self.b,
            vector,
        }
    }

    /// Calls the `f32` or `f64` flavour of a math callout.
    fn float_call(
        &mut self,
        f32_name: &'static str,
        f64_name: &'static str,
        dtype: DType,
        args: &[Value],
    ) -> Value {
        self.call(
            if dtype == DType::F64 {
                f64_name
            } else {
                f32_name
            },
            args,
        )
    }

    fn unary(&mut self, op: UnaryOp, dtype: DType, a: Value) -> Value {
        match (op, dtype) {
            (UnaryOp::Not, _) => {
                let one = self.ins().iconst(types::I8, 1);
                self.ins().bxor(a, one)
            }
            (UnaryOp::Neg, DType::I32) => self.ins().ineg(a),
            (UnaryOp::Abs, DType::I32) => self.ins().iabs(a),
            (UnaryOp::Sign, DType::I32) => {
                let lo = self.ins().iconst(types::I32, -1);
                let hi = self.ins().iconst(types::I32, 1);
                let x = self.ins().smax(a, lo);
                self.ins().smin(x, hi)
            }
            (UnaryOp::Neg, _) => self.ins().fneg(a),
            (UnaryOp::Abs, _) => self.ins().fabs(a),
            (UnaryOp::Sqrt, _) => self.ins().sqrt(a),
            (UnaryOp::Floor, _) => self.ins().floor(a),
            (UnaryOp::Sign, _) => {
                // -1, 1, or the operand itself for ±0 and NaN.
                let zero = self.constant(dtype, 0.0);
                let one = self.constant(dtype, 1.0);
                let minus = self.constant(dtype, -1.0);
                let pos = self.ins().fcmp(FloatCC::GreaterThan, a, zero);
                let neg = self.ins().fcmp(FloatCC::LessThan, a, zero);
                let x = self.select(neg, minus, a);
                self.select(pos, one, x)
            }
            (UnaryOp::Exp, DType::F32) => self.math(false).exp(a),
            (UnaryOp::Log, DType::F32) => self.math(false).ln(a),
            (UnaryOp::Tanh, DType::F32) => self.math(false).tanh(a),
            (UnaryOp::Exp, _) => self.call("rlp_exp_f64", &[a]),
            (UnaryOp::Log, _) => self.call("rlp_ln_f64", &[a]),
            (UnaryOp::Tanh, _) => self.call("rlp_tanh_f64", &[a]),
            (UnaryOp::Sin, _) => self.float_call("rlp_sin_f32", "rlp_sin_f64", dtype, &[a]),
            (UnaryOp::Cos, _) => self.float_call("rlp_cos_f32", "rlp_cos_f64", dtype, &[a]),
        }
    }

    /// A binary op on operands of `dtype` (the result of a comparison is a bool byte).
    fn binary(&mut self, op: BinaryOp, dtype: DType, a: Value, b: Value) -> Value {
        if op.is_comparison() {
            return self.compare(op, dtype, a, b);
        }
        match dtype {
            DType::F32 | DType::F64 => self.float_binary(op, dtype, a, b),
            DType::I32 => self.int_binary(op, a, b),
            DType::Bool => match op {
                BinaryOp::And => self.b.ins().band(a, b),
                BinaryOp::Or => self.b.ins().bor(a, b),
                _ => unreachable!("type rules allow only logic on bools"),
            },
        }
    }

    fn float_binary(&mut self, op: BinaryOp, dtype: DType, a: Value, b: Value) -> Value {
        match op {
            BinaryOp::Add => self.b.ins().fadd(a, b),
            BinaryOp::Sub => self.b.ins().fsub(a, b),
            BinaryOp::Mul => self.b.ins().fmul(a, b),
            BinaryOp::Div => self.b.ins().fdiv(a, b),
            BinaryOp::Rem => self.floored_rem(a, b),
            BinaryOp::Pow => self.float_call("rlp_pow_f32", "rlp_pow_f64", dtype, &[a, b]),
            BinaryOp::Atan2 => self.float_call("rlp_atan2_f32", "rlp_atan2_f64", dtype, &[a, b]),
            // `a` when it is NaN or wins (ties included), else `b`: NaN if either is NaN,
            // and max(-0, +0) = -0. Cranelift's fmax/fmin order zeros and so differ.
            BinaryOp::Max | BinaryOp::Min => {
                let a_nan = self.b.ins().fcmp(FloatCC::Unordered, a, a);
                let cc = if op == BinaryOp::Max {
                    FloatCC::GreaterThanOrEqual
                } else {
                    FloatCC::LessThanOrEqual
                };
                let wins = self.b.ins().fcmp(cc, a, b);
                let take_a = self.b.ins().bor(a_nan, wins);
                self.select(take_a, a, b)
            }
            _ => unreachable!("comparisons and logic are handled elsewhere"),
        }
    }

    /// The floored float remainder of scalars or vectors alike, numpy's bit for bit
    /// (`rlp_runtime::math::floored_rem_f64`). Wherever the quotient's floor is exact
    /// and `b` finite (`|a / b| < 2^53`, `2^24` in f32) it takes the steps of
    /// `rlp_runtime::math::floored_rem_fast_f64`: one fused multiply-add, a second where
    /// the quotient had rounded up, a signed zero picked without a branch. A group with
    /// any lane outside that range branches to the runtime's definition lane by lane.
    fn floored_rem(&mut self, a: Value, b: Value) -> Value {
        let ty = self.b.func.dfg.value_type(a);
        let f32 = ty.lane_type() == types::F32;
        let q = self.b.ins().fdiv(a, b);
        let q = self.b.ins().floor(q);
        let neg_q = self.b.ins().fneg(q);
        let r0 = self.b.ins().fma(neg_q, b, a);
        let zero = self.float_like(a, 0.0);
        let r_neg = self.b.ins().fcmp(FloatCC::LessThan, r0, zero);
        let b_neg = self.b.ins().fcmp(FloatCC::LessThan, b, zero);
        let r_nonzero = self.b.ins().fcmp(FloatCC::NotEqual, r0, zero);
        let wrong_sign = self.b.ins().bxor(r_neg, b_neg);
        let rounded_up = self.b.ins().band(r_nonzero, wrong_sign);
        let one = self.float_like(a, 1.0);
        let q_down = self.b.ins().fsub(one, q);
        let r1 = self.b.ins().fma(q_down, b, a);
        let r = self.pick(rounded_up, r1, r0);
        // A zero takes the sign of `b`: `b`'s sign bit alone.
        let sign_bit = self.float_like(a, -0.0);
        let signed_zero = self.b.ins().band(b, sign_bit);
        let r_zero = self.b.ins().fcmp(FloatCC::Equal, r, zero);
        let fast = self.pick(r_zero, signed_zero, r);

        let limit = self.float_like(
            a,
            if f32 {
                16_777_216.0
            } else {
                9_007_199_254_740_992.0
            },
        );
        let q_abs = self.b.ins().fabs(q);
        let q_exact = self.b.ins().fcmp(FloatCC::LessThan, q_abs, limit);
        let inf = self.float_like(a, f64::INFINITY);
        let b_abs = self.b.ins().fabs(b);
        let b_finite = self.b.ins().fcmp(FloatCC::LessThan, b_abs, inf);
        let in_range = self.b.ins().band(q_exact, b_finite);
        let all_in_range = if ty.is_vector() {
            self.b.ins().vall_true(in_range)
        } else {
            in_range
        };
        let outside = self.b.create_block();
        let merge = self.b.create_block();
        let result = self.b.append_block_param(merge, ty);
        self.b
            .ins()
            .brif(all_in_range, merge, &[fast.into()], outside, &[]);

        self.b.switch_to_block(outside);
        let name = if f32 { "rlp_rem_f32" } else { "rlp_rem_f64" };
        let exact = if ty.is_vector() {
            let mut v = fast;
            for lane in 0..ty.lane_count() as u8 {
                let x = self.b.ins().extractlane(a, lane);
                let y = self.b.ins().extractlane(b, lane);
                let r = self.call(name, &[x, y]);
                v = self.b.ins().insertlane(v, r, lane);
            }
            v
        } else {
            self.call(name, &[a, b])
        };
        self.b.ins().jump(merge, &[exact.into()]);
        self.b.switch_to_block(merge);
        result
    }

    /// A float constant of `like`'s type: a scalar, or splat across a vector.
    fn float_like(&mut self, like: Value, c: f64) -> Value {
        let ty = self.b.func.dfg.value_type(like);
        let k = if ty.lane_type() == types::F32 {
            self.b.ins().f32const(c as f32)
        } else {
            self.b.ins().f64const(c)
        };
        if ty.is_vector() {
            self.b.ins().splat(ty, k)
        } else {
            k
        }
    }

    /// `c ? a : b` for scalars (a comparison's flag) or vectors (a comparison's mask).
    fn pick(&mut self, c: Value, a: Value, b: Value) -> Value {
        if self.b.func.dfg.value_type(a).is_vector() {
            self.blend(c, a, b)
        } else {
            self.select(c, a, b)
        }
    }

    fn int_binary(&mut self, op: BinaryOp, a: Value, b: Value) -> Value {
        match op {
            BinaryOp::Add => self.ins().iadd(a, b),
            BinaryOp::Sub => self.ins().isub(a, b),
            BinaryOp::Mul => self.ins().imul(a, b),
            BinaryOp::Max => self.ins().smax(a, b),
            BinaryOp::Min => self.ins().smin(a, b),
            BinaryOp::Div | BinaryOp::Rem => {
                // Never trap: x / 0 and x % 0 give 0; MIN / -1 wraps to MIN.
                let is_zero = self.ins().icmp_imm_s(IntCC::Equal, b, 0);
                let is_m1 = self.ins().icmp_imm_s(IntCC::Equal, b, -1);
                let special = self.ins().bor(is_zero, is_m1);
                let one = self.ins().iconst(types::I32, 1);
                let safe = self.ins().select(special, one, b);
                let zero = self.ins().iconst(types::I32, 0);
                let r = if op == BinaryOp::Div {
                    let q = self.ins().sdiv(a, safe);
                    let neg = self.ins().ineg(a);
                    self.ins().select(is_m1, neg, q)
                } else {
                    // Truncated remainder, moved to the divisor's sign when they differ.
                    let r = self.ins().srem(a, safe);
                    let nonzero = self.ins().icmp_imm_s(IntCC::NotEqual, r, 0);
                    let x = self.ins().bxor(r, b);
                    let signs = self.ins().icmp_imm_s(IntCC::SignedLessThan, x, 0);
                    let fix = self.ins().band(nonzero, signs);
                    let adj = self.ins().iadd(r, b);
                    self.ins().select(fix, adj, r)
                };
                self.ins().select(is_zero, zero, r)
            }
            _ => unreachable!("comparisons, logic and float ops are handled elsewhere"),
        }
    }

    fn compare(&mut self, op: BinaryOp, dtype: DType, a: Value, b: Value) -> Value {
        if dtype.is_float() {
            let cc = float_cc(op);
            self.b.ins().fcmp(cc, a, b)
        } else {
            let cc = int_cc(op);
            self.b.ins().icmp(cc, a, b)
        }
    }

    fn cast(&mut self, a: Value, from: DType, to: DType) -> Value {
        match (from, to) {
            _ if from == to => a,
            (DType::F32, DType::F64) => self.ins().fpromote(types::F64, a),
            (DType::F64, DType::F32) => self.ins().fdemote(types::F32, a),
            // Saturating, NaN to 0: Rust's `as`.
            (DType::F32 | DType::F64, DType::I32) => self.ins().fcvt_to_sint_sat(types::I32, a),
            (DType::F32 | DType::F64, DType::Bool) => {
                let zero = self.constant(from, 0.0);
                self.ins().fcmp(FloatCC::NotEqual, a, zero)
            }
            (DType::I32, DType::Bool) => self.ins().icmp_imm_s(IntCC::NotEqual, a, 0),
            (DType::I32, _) => self.ins().fcvt_from_sint(clif_type(to), a),
            (DType::Bool, DType::I32) => self.ins().uextend(types::I32, a),
            (DType::Bool, _) => {
                let i = self.ins().uextend(types::I32, a);
                self.ins().fcvt_from_sint(clif_type(to), i)
            }
            _ => unreachable!("all dtype pairs are covered"),
        }
    }

    // ---- reductions ----

    fn reduce_identity(&mut self, op: ReduceOp, dtype: DType) -> Value {
        let c = match (op, dtype) {
            (ReduceOp::Sum, _) => 0.0,
            (ReduceOp::Max, DType::I32) => f64::from(i32::MIN),
            (ReduceOp::Min, DType::I32) => f64::from(i32::MAX),
            (ReduceOp::Max, _) => f64::NEG_INFINITY,
            (ReduceOp::Min, _) => f64::INFINITY,
        };
        self.constant(dtype, c)
    }

    fn combine(&mut self, op: ReduceOp, dtype: DType, acc: Value, v: Value) -> Value {
        let bop = match op {
            ReduceOp::Sum => BinaryOp::Add,
            ReduceOp::Max => BinaryOp::Max,
            ReduceOp::Min => BinaryOp::Min,
        };
        self.binary(bop, dtype, acc, v)
    }
}

/// How a reduction skeleton folds its values.
#[derive(Clone, Copy)]
enum Fold {
    Reduce(ReduceOp),
    ArgMax,
}
