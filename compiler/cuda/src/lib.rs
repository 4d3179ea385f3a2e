//! The CUDA backend: the fusion pass's kernel IR emitted as CUDA C ([`emit`]), compiled
//! at run time with NVRTC and launched through cudarc, matrix products on cuBLAS
//! ([`gpu`]), every buffer resident on the device for the executable's lifetime
//! ([`exec`]), and the trainer's slots resident on the device between stages
//! ([`store`]).
//!
//! The same source, compiled for the CPU as C++ through a shim that turns the launch
//! grid into loops ([`host`]), runs the backend's semantics against the interpreter on
//! machines without a GPU — which is where its tests run on every CI pass.

#![warn(missing_docs)]

pub mod device;
pub mod emit;
pub mod exec;
pub mod gpu;
pub mod host;
pub mod prelude;
pub mod store;

use rlp_ir::Graph;
use rlp_runtime::Executable;

/// Where the generated source runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// An NVIDIA GPU (device 0).
    Gpu,
    /// This CPU, through the system C++ compiler (for tests and debugging).
    Cpu,
}

/// The fused schedule of an optimised, verified graph and its CUDA module.
pub fn emit_graph(graph: &Graph) -> Result<(rlp_jit::kernel::Schedule, emit::Module), String> {
    let schedule = rlp_jit::fuse::fuse(graph, true).map_err(|e| e.to_string())?;
    let module = emit::module(&schedule);
    Ok((schedule, module))
}

/// Compiles an optimised, verified graph for `target`.
pub fn compile(graph: &Graph, target: Target) -> Result<Box<dyn Executable>, String> {
    let (schedule, module) = emit_graph(graph)?;
    let inputs = graph.inputs.clone();
    let shapes = graph
        .outputs
        .iter()
        .map(|&o| graph.ty(o).shape.clone())
        .collect();
    let err = |e: rlp_runtime::RunError| e.to_string();
    Ok(match target {
        Target::Gpu => {
            let device = gpu::GpuDevice::new(&module)?;
            Box::new(
                exec::DeviceExecutable::new(device, inputs, shapes, schedule, module)
                    .map_err(err)?,
            )
        }
        Target::Cpu => {
            let device = host::HostDevice::new(&module)?;
            Box::new(
                exec::DeviceExecutable::new(device, inputs, shapes, schedule, module)
                    .map_err(err)?,
            )
        }
    })
}

/// Device memory for a program's slots (dtype and shape of each), on `target`'s
/// device: the trainer keeps its slots there between stages ([`store`]).
pub fn slot_store(
    target: Target,
    slots: &[(rlp_runtime::DType, Vec<usize>)],
) -> Result<Box<dyn rlp_runtime::resident::SlotStore>, String> {
    Ok(match target {
        Target::Gpu => Box::new(store::DeviceStore::new(gpu::GpuDevice::new, slots)?),
        Target::Cpu => Box::new(store::DeviceStore::new(host::HostDevice::new, slots)?),
    })
}

/// Each kernel's generated source, for `rlpc explain --backend cuda`.
pub fn explain(graph: &Graph) -> Result<String, String> {
    let (_, module) = emit_graph(graph)?;
    let mut s = format!(
        "// {} functions; each starts from the shared prelude ({} lines: math, Philox, helpers)\n",
        module.functions.len(),
        prelude::prelude().lines().count()
    );
    for f in &module.functions {
        s.push('\n');
        s.push_str(&f.source);
    }
    Ok(s)
}
