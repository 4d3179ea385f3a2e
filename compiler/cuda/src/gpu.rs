//! The NVIDIA GPU as a [`Device`]: NVRTC compiles the module, cudarc launches it on one
//! stream, cuBLAS multiplies matrices.
//!
//! Everything is loaded at run time (cudarc's dynamic loading), so the binary builds
//! and runs without CUDA; [`available`] looks for the libraries before cudarc is asked
//! for anything, because cudarc panics when a library or symbol is missing.

use crate::device::{Device, launch_shape};
use crate::emit::Module;
use cudarc::cublas::{CudaBlas, result as blas, sys as blas_sys};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, DevicePtr, LaunchConfig,
    PushKernelArg, result as drv,
};
use cudarc::nvrtc::{CompileOptions, compile_ptx_with_opts};
use rlp_jit::kernel::{MatMul, Matrix};
use rlp_runtime::{DType, RunError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// The process's context and stream on device 0, made once.
struct Shared {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
}

static SHARED: OnceLock<Result<Shared, String>> = OnceLock::new();

/// Whether the driver, NVRTC and cuBLAS libraries can be loaded and a device opened;
/// otherwise why not, in words for the user.
pub fn available() -> Result<(), String> {
    shared().map(|_| ())
}

fn shared() -> Result<&'static Shared, String> {
    SHARED
        .get_or_init(|| {
            // SAFETY: these only try to open the libraries by name.
            let (driver, nvrtc, cublas) = unsafe {
                (
                    cudarc::driver::sys::is_culib_present(),
                    cudarc::nvrtc::sys::is_culib_present(),
                    cudarc::cublas::sys::is_culib_present(),
                )
            };
            let missing: Vec<&str> = [
                (driver, "the CUDA driver (libcuda)"),
                (nvrtc, "NVRTC (libnvrtc)"),
                (cublas, "cuBLAS (libcublas)"),
            ]
            .iter()
            .filter(|(ok, _)| !ok)
            .map(|(_, name)| *name)
            .collect();
            if !missing.is_empty() {
                return Err(format!(
                    "the CUDA backend needs an NVIDIA GPU with {} installed; not found: {}",
                    "the driver, NVRTC and cuBLAS",
                    missing.join(", ")
                ));
            }
            let ctx =
                CudaContext::new(0).map_err(|e| format!("cannot open CUDA device 0: {e:?}"))?;
            let stream = ctx.default_stream();
            Ok(Shared { ctx, stream })
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// A module loaded on the GPU.
pub struct GpuDevice {
    /// With `RLPC_CUDA_PROFILE` set: per function, launches and seconds (each launch
    /// timed between two stream synchronisations), printed when the module is dropped.
    profile: Option<Mutex<Vec<(u64, f64)>>>,
    names: Vec<String>,
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    functions: Vec<CudaFunction>,
    gemm: [CudaFunction; 2],
    blas: CudaBlas,
    _module: Arc<CudaModule>,
}

/// Device memory.
pub struct GpuMem(CudaSlice<u8>);

fn driver_error(what: &str, e: impl std::fmt::Debug) -> RunError {
    RunError::new(format!("CUDA: {what}: {e:?}"))
}

impl GpuDevice {
    /// Compiles `module` with NVRTC for device 0 and loads it.
    pub fn new(module: &Module) -> Result<GpuDevice, String> {
        let shared = shared()?;
        let (major, minor) = shared
            .ctx
            .compute_capability()
            .map_err(|e| format!("CUDA: compute capability: {e:?}"))?;
        let opts = CompileOptions {
            // Each operation rounds once, as in the interpreter.
            fmad: Some(false),
            ftz: Some(false),
            prec_div: Some(true),
            prec_sqrt: Some(true),
            options: vec![
                format!("--gpu-architecture=compute_{major}{minor}"),
                "--std=c++17".into(),
            ],
            ..Default::default()
        };
        let ptx = compile_ptx_with_opts(&module.source, opts)
            .map_err(|e| format!("NVRTC rejected the generated source: {e:?}"))?;
        let loaded = shared
            .ctx
            .load_module(ptx)
            .map_err(|e| format!("CUDA: loading the module: {e:?}"))?;
        let load = |name: &str| {
            loaded
                .load_function(name)
                .map_err(|e| format!("CUDA: function {name}: {e:?}"))
        };
        let functions = module
            .functions
            .iter()
            .map(|f| load(&f.name))
            .collect::<Result<_, _>>()?;
        let gemm = [load("rlp_gemm_f32")?, load("rlp_gemm_f64")?];
        let blas = CudaBlas::new(shared.stream.clone()).map_err(|e| format!("cuBLAS: {e:?}"))?;
        let profile = std::env::var_os("RLPC_CUDA_PROFILE")
            .map(|_| Mutex::new(vec![(0, 0.0); module.functions.len()]));
        Ok(GpuDevice {
            profile,
            names: module.functions.iter().map(|f| f.name.clone()).collect(),
            ctx: shared.ctx.clone(),
            stream: shared.stream.clone(),
            functions,
            gemm,
            blas,
            _module: loaded,
        })
    }

    /// Makes the context current on this thread: the raw driver calls (copies, cuBLAS)
    /// need it, and a stage may run on another thread than the one that compiled it.
    fn bind(&self) -> Result<(), RunError> {
        self.ctx
            .bind_to_thread()
            .map_err(|e| driver_error("binding the context", e))
    }

    fn launch_raw(&self, f: &CudaFunction, args: &[u64], units: u64) -> Result<(), RunError> {
        let (grid, block) = launch_shape(units, crate::device::MAX_GRID);
        let mut b = self.stream.launch_builder(f);
        for a in args {
            b.arg(a);
        }
        let cfg = LaunchConfig {
            grid_dim: (grid, 1, 1),
            block_dim: (block, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: the arguments match the generated signature (buffer addresses of
        // their declared sizes, the unit count, the status word).
        unsafe { b.launch(cfg) }.map_err(|e| driver_error("launch", e))?;
        Ok(())
    }
}

/// `(transpose, leading dimension)` of a row-major-indexed operand `x[r, c]` (at
/// `r·rs + c·cs`, `rows × cols`) as cuBLAS's column-major `xᵀ`, when its layout allows
/// one: no transpose when `cs` is 1, a transpose when `rs` is 1, and a leading
/// dimension no smaller than cuBLAS requires.
fn blas_layout(x: &Matrix, rows: usize, cols: usize) -> Option<(bool, i32)> {
    if x.cs == 1 && x.rs >= cols.max(1) as isize {
        Some((false, i32::try_from(x.rs).ok()?))
    } else if x.rs == 1 && x.cs >= rows.max(1) as isize {
        Some((true, i32::try_from(x.cs).ok()?))
    } else {
        None
    }
}

impl Device for GpuDevice {
    type Mem = GpuMem;

    fn alloc(&self, bytes: usize) -> Result<GpuMem, RunError> {
        self.stream
            .alloc_zeros::<u8>(bytes.max(1))
            .map(GpuMem)
            .map_err(|e| driver_error(&format!("allocating {bytes} bytes"), e))
    }

    fn addr(&self, mem: &GpuMem) -> u64 {
        let (ptr, _sync) = mem.0.device_ptr(&self.stream);
        ptr
    }

    fn upload(&self, dst: u64, src: &[u8]) -> Result<(), RunError> {
        crate::device::count_transfer(true, src.len());
        self.bind()?;
        // SAFETY: `dst` addresses an allocation of at least `src.len()` bytes; the copy
        // is complete before `src` can change (the stream is synchronised).
        unsafe { drv::memcpy_htod_async(dst, src, self.stream.cu_stream()) }
            .map_err(|e| driver_error("upload", e))?;
        self.stream
            .synchronize()
            .map_err(|e| driver_error("upload", e))
    }

    fn download(&self, src: u64, dst: &mut [u8]) -> Result<(), RunError> {
        crate::device::count_transfer(false, dst.len());
        self.bind()?;
        // SAFETY: `src` addresses an allocation of at least `dst.len()` bytes.
        unsafe { drv::memcpy_dtoh_async(dst, src, self.stream.cu_stream()) }
            .map_err(|e| driver_error("download", e))?;
        self.stream
            .synchronize()
            .map_err(|e| driver_error("download", e))
    }

    fn copy(&self, dst: u64, src: u64, bytes: usize) -> Result<(), RunError> {
        self.bind()?;
        // SAFETY: both ranges lie within allocations and do not overlap.
        unsafe { drv::memcpy_dtod_async(dst, src, bytes, self.stream.cu_stream()) }
            .map_err(|e| driver_error("copy", e))
    }

    fn launch(&self, function: usize, args: &[u64], units: u64) -> Result<(), RunError> {
        let Some(profile) = &self.profile else {
            return self.launch_raw(&self.functions[function], args, units);
        };
        let sync = |what| self.stream.synchronize().map_err(|e| driver_error(what, e));
        sync("profile")?;
        let t0 = Instant::now();
        self.launch_raw(&self.functions[function], args, units)?;
        sync("profile")?;
        let mut p = profile.lock().unwrap_or_else(|e| e.into_inner());
        p[function].0 += 1;
        p[function].1 += t0.elapsed().as_secs_f64();
        Ok(())
    }

    fn matmul(&self, m: &MatMul, lhs: u64, rhs: u64, out: u64) -> Result<(), RunError> {
        self.bind()?;
        let size = m.dtype.size_bytes() as u64;
        let at = |base: u64, x: &Matrix| base + x.offset as u64 * size;
        let (a, w, c) = (at(lhs, &m.lhs), at(rhs, &m.rhs), out);
        // Row-major out = lhs·rhs is column-major outᵀ = rhsᵀ·lhsᵀ: cuBLAS's A is rhs.
        let layouts = (blas_layout(&m.rhs, m.k, m.n), blas_layout(&m.lhs, m.m, m.k));
        let dims = (
            i32::try_from(m.n),
            i32::try_from(m.m),
            i32::try_from(m.k),
            i32::try_from(m.batch),
        );
        if let ((Some((ta, lda)), Some((tb, ldb))), (Ok(n), Ok(mm), Ok(k), Ok(batch))) =
            (layouts, dims)
        {
            let op = |t: bool| {
                if t {
                    blas_sys::cublasOperation_t::CUBLAS_OP_T
                } else {
                    blas_sys::cublasOperation_t::CUBLAS_OP_N
                }
            };
            let (sa, sb, sc) = (m.rhs.bs as i64, m.lhs.bs as i64, (m.m * m.n) as i64);
            let h = *self.blas.handle();
            // SAFETY: the operands are device allocations sized for these shapes and
            // strides; alpha and beta are host scalars that outlive the call.
            let r = unsafe {
                match m.dtype {
                    DType::F32 => blas::sgemm_strided_batched(
                        h,
                        op(ta),
                        op(tb),
                        n,
                        mm,
                        k,
                        &1.0f32,
                        w as *const f32,
                        lda,
                        sa,
                        a as *const f32,
                        ldb,
                        sb,
                        &0.0f32,
                        c as *mut f32,
                        n,
                        sc,
                        batch,
                    ),
                    _ => blas::dgemm_strided_batched(
                        h,
                        op(ta),
                        op(tb),
                        n,
                        mm,
                        k,
                        &1.0f64,
                        w as *const f64,
                        lda,
                        sa,
                        a as *const f64,
                        ldb,
                        sb,
                        &0.0f64,
                        c as *mut f64,
                        n,
                        sc,
                        batch,
                    ),
                }
            };
            return r.map_err(|e| driver_error("cuBLAS gemm", e));
        }
        // Operands cuBLAS cannot describe: the plain kernel.
        let units = (m.batch * m.m * m.n) as u64;
        let f = &self.gemm[usize::from(m.dtype == DType::F64)];
        let args = [
            at(lhs, &m.lhs),
            at(rhs, &m.rhs),
            out,
            m.m as u64,
            m.n as u64,
            m.k as u64,
            m.lhs.rs as u64,
            m.lhs.cs as u64,
            m.lhs.bs as u64,
            m.rhs.rs as u64,
            m.rhs.cs as u64,
            m.rhs.bs as u64,
            units,
            0,
        ];
        self.launch_raw(f, &args, units)
    }
}

impl Drop for GpuDevice {
    fn drop(&mut self) {
        if let Some(p) = &self.profile {
            let p = p.lock().unwrap_or_else(|e| e.into_inner());
            for (name, &(calls, secs)) in self.names.iter().zip(p.iter()) {
                if calls > 0 {
                    eprintln!("rlpc-cuda-profile {name} {calls} {secs:.6}");
                }
            }
        }
    }
}
