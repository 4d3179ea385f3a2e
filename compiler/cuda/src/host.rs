//! The generated CUDA source compiled for the CPU as C++, run as a [`Device`].
//!
//! Why: the backend's semantics — every kernel, native step, scan and training
//! iteration — must be checked on every CI run, and CI has no GPU. A small shim maps
//! `blockIdx`/`threadIdx` to loops over the launch's blocks and threads, so the very
//! text NVRTC would compile (grid-stride loops included) runs here, against the
//! interpreter. Matrix products use the CPU executor's `gemm` path; cuBLAS is the one
//! part only a GPU run checks.

use crate::device::{Device, launch_shape};
use crate::emit::Module;
use rlp_jit::kernel::{BufId, MatMul, Matrix};
use rlp_runtime::RunError;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Definitions that stand in for the CUDA runtime in the CPU build. No standard headers:
/// parsing them costs a C++ compiler ten times what a module does, and the libm
/// functions the prelude calls are declared here instead (the same glibc functions Rust
/// calls).
const SHIM: &str = r#"// ---- CPU shim: CUDA's launch model as loops ----
#define RLP_CPU 1
#define RLP_DEV static inline
#define RLP_GLOBAL extern "C"
typedef long long i64;
typedef unsigned long long u64;
typedef unsigned int u32;
typedef unsigned char u8;
extern "C" {
float sinf(float); float cosf(float); float powf(float, float); float atan2f(float, float);
float sqrtf(float); float floorf(float); float fabsf(float); float fmodf(float, float);
float copysignf(float, float);
double exp(double); double log(double); double tanh(double); double sin(double);
double cos(double); double pow(double, double); double atan2(double, double);
double sqrt(double); double floor(double); double fabs(double); double fmod(double, double);
double copysign(double, double); double fma(double, double, double); double rint(double);
}
struct rlp_dim { u32 x; };
static rlp_dim blockIdx, threadIdx, blockDim, gridDim;
RLP_DEV float rlp_bits_f32(u32 b) { float x; __builtin_memcpy(&x, &b, 4); return x; }
RLP_DEV u32 rlp_f32_bits(float x) { u32 b; __builtin_memcpy(&b, &x, 4); return b; }
RLP_DEV double rlp_bits_f64(u64 b) { double x; __builtin_memcpy(&x, &b, 8); return x; }
RLP_DEV u64 rlp_f64_bits(double x) { u64 b; __builtin_memcpy(&b, &x, 8); return b; }
RLP_DEV void rlp_fail(int* status, int id) { if (*status == 0) *status = id; }
#define RLP_UNITS(u, n) for (i64 u = (i64)blockIdx.x * blockDim.x + threadIdx.x; u < (n); u += (i64)gridDim.x * blockDim.x)
#define RLP_LAUNCH(grid, block, call) \
  gridDim.x = grid; blockDim.x = block; \
  for (u32 b_ = 0; b_ < grid; b_++) { blockIdx.x = b_; \
    for (u32 t_ = 0; t_ < block; t_++) { threadIdx.x = t_; call; } }
"#;

/// The full C++ translation unit for `module`: shim, module source, one launcher per
/// function that unpacks its 64-bit arguments and loops over the grid.
pub fn cpu_source(module: &Module) -> String {
    let mut s = String::from(SHIM);
    s.push_str(&module.source);
    s.push_str("\n// ---- launchers ----\n");
    for f in &module.functions {
        let mut args: Vec<String> = f
            .params
            .iter()
            .enumerate()
            .map(|(i, t)| format!("({t})a[{i}]"))
            .collect();
        args.push(format!("(i64)a[{}]", f.params.len()));
        args.push(format!("(int*)a[{}]", f.params.len() + 1));
        s.push_str(&format!(
            "extern \"C\" void rlp_launch_{0}(const u64* a, u32 grid, u32 block) {{ RLP_LAUNCH(grid, block, {0}({1})) }}\n",
            f.name,
            args.join(", ")
        ));
    }
    s
}

type LaunchFn = unsafe extern "C" fn(*const u64, u32, u32);

/// A module compiled for this CPU.
pub struct HostDevice {
    lib: Arc<Loaded>,
}

/// A loaded library and its launchers, shared by every module of the same source.
struct Loaded {
    launchers: Vec<LaunchFn>,
    /// Held by each launch: the shim's block and thread indices are the library's
    /// globals, so two threads must not run its functions at once (two trainers of one
    /// program, or the finite checks every store shares).
    running: Mutex<()>,
    _lib: libloading::Library,
}

/// Libraries already built in this process, by their source (tests compile the same
/// graph many times).
static BUILT: Mutex<Vec<(String, Arc<Loaded>)>> = Mutex::new(Vec::new());

/// Zeroed host memory, 8-byte aligned.
pub struct HostMem(Vec<u64>);

static BUILDS: AtomicU64 = AtomicU64::new(0);

/// The C++ compiler: `$CXX`, else `c++`.
fn compiler() -> String {
    std::env::var("CXX").unwrap_or_else(|_| "c++".into())
}

/// Whether a C++ compiler is available (the CPU build's tests skip without one).
pub fn compiler_available() -> bool {
    Command::new(compiler())
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

impl HostDevice {
    /// Compiles `module` with the system C++ compiler and loads it.
    pub fn new(module: &Module) -> Result<HostDevice, String> {
        let source = cpu_source(module);
        let built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, lib)) = built.iter().find(|(s, _)| *s == source) {
            return Ok(HostDevice { lib: lib.clone() });
        }
        drop(built);
        let lib = Arc::new(Self::build(module, &source)?);
        let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
        if built.len() >= 64 {
            built.remove(0);
        }
        built.push((source, lib.clone()));
        Ok(HostDevice { lib })
    }

    fn build(module: &Module, source: &str) -> Result<Loaded, String> {
        let dir = std::env::temp_dir().join(format!(
            "rlpc-cuda-cpu-{}-{}",
            std::process::id(),
            BUILDS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let src: PathBuf = dir.join("module.cpp");
        let lib: PathBuf = dir.join("module.so");
        std::fs::write(&src, source).map_err(|e| format!("{}: {e}", src.display()))?;
        // No fused multiply-adds and no fast math: each operation rounds once, as on the
        // GPU with `--fmad=false` and in the interpreter.
        let out = Command::new(compiler())
            .args(["-std=c++17", "-O1", "-shared", "-fPIC", "-ffp-contract=off"])
            .args(["-fno-fast-math", "-w", "-o"])
            .arg(&lib)
            .arg(&src)
            .output()
            .map_err(|e| format!("cannot run the C++ compiler `{}`: {e}", compiler()))?;
        if !out.status.success() {
            return Err(format!(
                "the C++ compiler rejected the generated source ({}):\n{}",
                src.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        // SAFETY: the library is the one just built from our source; it has no
        // initialisers beyond the C++ runtime's.
        let library = unsafe { libloading::Library::new(&lib) }
            .map_err(|e| format!("cannot load {}: {e}", lib.display()))?;
        let launchers = module
            .functions
            .iter()
            .map(|f| {
                let name = format!("rlp_launch_{}", f.name);
                // SAFETY: every launcher is defined with exactly this signature.
                unsafe { library.get::<LaunchFn>(name.as_bytes()) }
                    .map(|sym| *sym)
                    .map_err(|e| format!("{name}: {e}"))
            })
            .collect::<Result<_, _>>()?;
        if std::env::var_os("RLPC_CUDA_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        Ok(Loaded {
            launchers,
            running: Mutex::new(()),
            _lib: library,
        })
    }
}

impl Device for HostDevice {
    type Mem = HostMem;

    fn alloc(&self, bytes: usize) -> Result<HostMem, RunError> {
        let words = bytes.div_ceil(8).max(1);
        let mut v = Vec::new();
        v.try_reserve_exact(words)
            .map_err(|e| RunError::new(format!("out of memory: {e} for {bytes} bytes")))?;
        v.resize(words, 0);
        Ok(HostMem(v))
    }

    fn addr(&self, mem: &HostMem) -> u64 {
        mem.0.as_ptr() as u64
    }

    fn upload(&self, dst: u64, src: &[u8]) -> Result<(), RunError> {
        crate::device::count_transfer(true, src.len());
        // SAFETY: `dst` addresses an allocation of at least `src.len()` bytes.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst as *mut u8, src.len()) };
        Ok(())
    }

    fn download(&self, src: u64, dst: &mut [u8]) -> Result<(), RunError> {
        crate::device::count_transfer(false, dst.len());
        // SAFETY: `src` addresses an allocation of at least `dst.len()` bytes.
        unsafe { std::ptr::copy_nonoverlapping(src as *const u8, dst.as_mut_ptr(), dst.len()) };
        Ok(())
    }

    fn copy(&self, dst: u64, src: u64, bytes: usize) -> Result<(), RunError> {
        // SAFETY: both ranges lie within allocations and do not overlap.
        unsafe { std::ptr::copy_nonoverlapping(src as *const u8, dst as *mut u8, bytes) };
        Ok(())
    }

    fn launch(&self, function: usize, args: &[u64], units: u64) -> Result<(), RunError> {
        let (grid, block) = launch_shape(units, crate::device::HOST_MAX_GRID);
        let _running = self.lib.running.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: `args` holds the function's buffer addresses (allocations of their
        // declared sizes), its unit count and the status word, in signature order.
        unsafe { (self.lib.launchers[function])(args.as_ptr(), grid, block) };
        Ok(())
    }

    fn matmul(&self, m: &MatMul, lhs: u64, rhs: u64, out: u64) -> Result<(), RunError> {
        let at = |mat: &Matrix, b: u32| Matrix {
            buf: BufId(b),
            ..*mat
        };
        let local = MatMul {
            lhs: at(&m.lhs, 0),
            rhs: at(&m.rhs, 1),
            out: BufId(2),
            epilogue: None,
            ..m.clone()
        };
        let ptrs = [lhs as *mut u8, rhs as *mut u8, out as *mut u8];
        // SAFETY: the three addresses are allocations of the sizes the product expects.
        unsafe { rlp_jit::host_matmul(&local, &ptrs) };
        Ok(())
    }
}
