//! What the executor needs from a device: memory at 64-bit addresses, copies, launches of
//! a module's functions, and matrix products.
//!
//! Two devices implement it: an NVIDIA GPU through cudarc ([`crate::gpu`]) and the CPU
//! build of the very same source ([`crate::host`]), which is how the backend's
//! semantics are tested on machines without a GPU. Addresses are plain `u64`s on both
//! (device pointers or host pointers), so the executor's pointer arithmetic — a scan
//! step's slice of a sequence, a matrix operand's offset — is written once.

use rlp_jit::kernel::MatMul;
use rlp_runtime::RunError;

/// Threads per block of every launch.
pub const BLOCK: u32 = 256;
/// The most blocks a GPU launch uses; larger launches loop (every kernel is grid-stride).
pub const MAX_GRID: u64 = 1 << 20;
/// The most blocks a launch uses in the CPU build: small, so that every kernel over more
/// than `HOST_MAX_GRID · BLOCK` units runs its grid-stride loop more than once in tests.
pub const HOST_MAX_GRID: u64 = 16;

/// `(blocks, threads per block)` for a launch over `units` with at most `max_grid` blocks.
pub fn launch_shape(units: u64, max_grid: u64) -> (u32, u32) {
    let blocks = units.div_ceil(u64::from(BLOCK)).clamp(1, max_grid);
    (blocks as u32, BLOCK)
}

/// A device that runs one compiled module.
pub trait Device: Send + Sync + 'static {
    /// An allocation; freed on drop.
    type Mem: Send;

    /// `bytes` (at least one) of zeroed memory.
    fn alloc(&self, bytes: usize) -> Result<Self::Mem, RunError>;
    /// The address of an allocation.
    fn addr(&self, mem: &Self::Mem) -> u64;
    /// Host bytes to device memory at `dst`.
    fn upload(&self, dst: u64, src: &[u8]) -> Result<(), RunError>;
    /// Device memory at `src` to host bytes (waits for the work before it).
    fn download(&self, src: u64, dst: &mut [u8]) -> Result<(), RunError>;
    /// `bytes` from `src` to `dst` on the device (ranges do not overlap).
    fn copy(&self, dst: u64, src: u64, bytes: usize) -> Result<(), RunError>;
    /// Runs the module's function `function` over `units` units; `args` holds its
    /// buffer addresses, then the unit count, then the status word's address.
    fn launch(&self, function: usize, args: &[u64], units: u64) -> Result<(), RunError>;
    /// The product `m` with its operands' buffers at `lhs`, `rhs` and the result at `out`.
    fn matmul(&self, m: &MatMul, lhs: u64, rhs: u64, out: u64) -> Result<(), RunError>;
}

thread_local! {
    static TRANSFERS: std::cell::Cell<rlp_runtime::resident::Transfers> =
        const { std::cell::Cell::new(rlp_runtime::resident::Transfers { uploaded: 0, downloaded: 0 }) };
}

/// Bytes this thread has moved between the host and a device (either kind) so far:
/// every upload and download counts, copies within the device do not. Per thread, so
/// tests running side by side each see their own.
pub fn transfers() -> rlp_runtime::resident::Transfers {
    TRANSFERS.with(|t| t.get())
}

/// Counts an upload (`up`) or a download of `bytes`.
pub(crate) fn count_transfer(up: bool, bytes: usize) {
    TRANSFERS.with(|t| {
        let mut v = t.get();
        if up {
            v.uploaded += bytes as u64;
        } else {
            v.downloaded += bytes as u64;
        }
        t.set(v);
    });
}
