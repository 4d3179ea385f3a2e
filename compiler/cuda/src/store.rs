//! A program's slots resident in device memory ([`SlotStore`]).
//!
//! Every slot gets one device allocation, made the first time a stage reads or writes
//! it. A stage's executable reads its input slots where they lie
//! ([`DeviceExecutable::run_bound`]); its outputs are checked for non-finite values on
//! the device — one status word per floating-point output comes back — and then copied
//! into their slots' memory within the device. The host sees a slot only when the
//! trainer downloads it (a metric it logs, a checkpoint, an error being explained).
//!
//! Why copy outputs into the slot's memory instead of swapping allocations with the
//! executable: a stage's output buffer can be its input passed through, a literal, or
//! another output's buffer; a copy within the device handles all of them the same way
//! and costs far less than the host round trip it replaces. Row writes (`put`) are the
//! exception that matters — a replay buffer is large and a put rewrites a few rows — so
//! they run in place ([`DeviceStore::put_rows`]).

use crate::device::Device;
use crate::emit::{FINITE_CHECKS, Module, RANGE_CHECK};
use crate::exec::{DeviceExecutable, tensor_bytes, tensor_from_bytes};
use rlp_ir::{Graph, Op, TensorType};
use rlp_runtime::resident::{Checked, SlotStore};
use rlp_runtime::{DType, Executable, RunError, Tensor};
use std::collections::HashMap;

/// Which copy of a slot is newest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Newest {
    Host,
    Device,
    Both,
}

struct Slot<D: Device> {
    dtype: DType,
    shape: Vec<usize>,
    bytes: usize,
    mem: Option<D::Mem>,
    addr: u64,
    newest: Newest,
}

/// Row writes compiled for one (target, index, rows, add) combination.
type RowWriter<D> = DeviceExecutable<D>;

/// Slots in the memory of devices of type `D`.
pub struct DeviceStore<D: Device> {
    /// Runs the finite checks (and allocates, uploads, downloads, copies).
    device: D,
    /// Makes a device for a module (the row writes' graphs).
    make: fn(&Module) -> Result<D, String>,
    slots: Vec<Slot<D>>,
    /// One status word per checked output.
    flags: Option<(D::Mem, usize)>,
    row_writers: HashMap<(usize, usize, usize, bool), RowWriter<D>>,
}

impl<D: Device> DeviceStore<D> {
    /// A store for slots of these dtypes and shapes, on devices made by `make`.
    pub fn new(
        make: fn(&Module) -> Result<D, String>,
        slots: &[(DType, Vec<usize>)],
    ) -> Result<DeviceStore<D>, String> {
        let device = make(&crate::emit::finite_check_module())?;
        let slots = slots
            .iter()
            .map(|(dtype, shape)| Slot {
                dtype: *dtype,
                shape: shape.clone(),
                bytes: shape.iter().product::<usize>() * dtype.size_bytes(),
                mem: None,
                addr: 0,
                newest: Newest::Host,
            })
            .collect();
        Ok(DeviceStore {
            device,
            make,
            slots,
            flags: None,
            row_writers: HashMap::new(),
        })
    }

    /// Gives `slot` its device memory if it has none yet.
    fn allocate(&mut self, slot: usize) -> Result<u64, RunError> {
        let s = &mut self.slots[slot];
        if s.mem.is_none() {
            let mem = self.device.alloc(s.bytes.max(1))?;
            s.addr = self.device.addr(&mem);
            s.mem = Some(mem);
        }
        Ok(s.addr)
    }

    /// Uploads the host copy of `slot` if it is newer; the device address.
    fn on_device(&mut self, host: &[Tensor], slot: usize) -> Result<u64, RunError> {
        let addr = self.allocate(slot)?;
        let s = &mut self.slots[slot];
        if s.newest == Newest::Host {
            let t = &host[slot];
            if t.dtype() != s.dtype || t.shape() != s.shape.as_slice() {
                return Err(RunError::new(format!(
                    "internal error: slot {slot} is read before it has a value ({} {:?}, expected {} {:?})",
                    t.dtype(),
                    t.shape(),
                    s.dtype,
                    s.shape
                )));
            }
            self.device.upload(addr, &tensor_bytes(t))?;
            s.newest = Newest::Both;
        }
        Ok(addr)
    }

    /// Device memory for `n` status words, zeroed, followed by the words `after`; its
    /// address (one upload).
    fn flags(&mut self, n: usize, after: &[i32]) -> Result<u64, RunError> {
        let words = n + after.len();
        if self.flags.as_ref().is_none_or(|(_, len)| *len < words) {
            let mem = self.device.alloc(4 * words.max(1))?;
            self.flags = Some((mem, words.max(1)));
        }
        let (mem, _) = self.flags.as_ref().expect("allocated above");
        let addr = self.device.addr(mem);
        let mut bytes = vec![0u8; 4 * n];
        bytes.extend(after.iter().flat_map(|w| w.to_le_bytes()));
        self.device.upload(addr, &bytes)?;
        Ok(addr)
    }

    fn row_writer(
        &mut self,
        target: usize,
        index: usize,
        rows: usize,
        add: bool,
    ) -> Result<&RowWriter<D>, RunError> {
        let key = (target, index, rows, add);
        if !self.row_writers.contains_key(&key) {
            let ty = |s: &Slot<D>| TensorType::new(s.dtype, s.shape.clone());
            let mut g = Graph::new();
            let x = g.add_input(ty(&self.slots[target]));
            let i = g.add_input(ty(&self.slots[index]));
            let r = g.add_input(ty(&self.slots[rows]));
            let put = g
                .add(Op::PutRows { accumulate: add }, vec![x, i, r])
                .map_err(|e| RunError::new(format!("row write: {e}")))?;
            g.outputs.push(put);
            let (schedule, module) = crate::emit_graph(&g).map_err(RunError::new)?;
            let device = (self.make)(&module).map_err(RunError::new)?;
            let shapes = vec![self.slots[target].shape.clone()];
            let exe = DeviceExecutable::new(device, g.inputs.clone(), shapes, schedule, module)?;
            self.row_writers.insert(key, exe);
        }
        Ok(&self.row_writers[&key])
    }
}

impl<D: Device> SlotStore for DeviceStore<D> {
    fn run(
        &mut self,
        exe: &dyn Executable,
        host: &[Tensor],
        reads: &[usize],
        writes: &[usize],
        allow_nan: &[bool],
        row_indices: &[(usize, usize)],
    ) -> Result<Checked, RunError> {
        let exe = exe
            .as_any()
            .and_then(|a| a.downcast_ref::<DeviceExecutable<D>>())
            .ok_or_else(|| {
                RunError::new("internal error: a stage of another backend given to a device store")
            })?;
        let inputs = reads
            .iter()
            .map(|&s| self.on_device(host, s))
            .collect::<Result<Vec<_>, _>>()?;
        let dests = writes
            .iter()
            .map(|&s| self.allocate(s))
            .collect::<Result<Vec<_>, _>>()?;
        let checked: Vec<(usize, usize, u64)> = exe
            .signature()
            .1
            .iter()
            .enumerate()
            .filter_map(|(k, (dtype, shape))| {
                let f = match dtype {
                    DType::F32 => FINITE_CHECKS[0],
                    DType::F64 => FINITE_CHECKS[1],
                    _ => return None,
                };
                let units = shape.iter().product::<usize>() as u64;
                Some((
                    k,
                    f[usize::from(allow_nan.get(k).copied().unwrap_or(false))],
                    units,
                ))
            })
            .collect();
        let bounds: Vec<i32> = row_indices
            .iter()
            .map(|&(_, n)| i32::try_from(n).unwrap_or(i32::MAX))
            .collect();
        let (n_finite, n_range) = (checked.len(), row_indices.len());
        let flags = self.flags(n_finite + n_range, &bounds)?;
        let word = |j: usize| flags + 4 * j as u64;
        let out_types = exe.signature().1;
        let device = &self.device;
        // Slots this stage writes: an output that is one of them read in place must be
        // set aside before any output is copied in.
        let written: Vec<u64> = dests.clone();
        let bad = exe.run_bound(&inputs, None, |_, outs| {
            for (j, &(k, f, units)) in checked.iter().enumerate() {
                if units > 0 {
                    device.launch(f, &[outs[k], units, word(j)], units)?;
                }
            }
            for (j, &(k, _)) in row_indices.iter().enumerate() {
                let units = out_types[k].1.iter().product::<usize>() as u64;
                let bound = word(n_finite + n_range + j);
                if units > 0 {
                    let args = [outs[k], bound, units, word(n_finite + j)];
                    device.launch(RANGE_CHECK, &args, units)?;
                }
            }
            if n_finite + n_range > 0 {
                let mut words = vec![0u8; 4 * (n_finite + n_range)];
                device.download(flags, &mut words)?;
                if let Some(j) = words.chunks_exact(4).position(|w| w != [0; 4]) {
                    if j < n_finite {
                        return Ok(Checked::NonFinite(checked[j].0));
                    }
                    let j = j - n_finite;
                    let (dtype, shape) = &out_types[row_indices[j].0];
                    let mut bytes = vec![0u8; shape.iter().product::<usize>() * dtype.size_bytes()];
                    device.download(outs[row_indices[j].0], &mut bytes)?;
                    return Ok(Checked::OutOfRange(
                        j,
                        tensor_from_bytes(*dtype, shape, &bytes),
                    ));
                }
            }
            let bytes = |k: usize| self.slots[writes[k]].bytes;
            let mut aside = vec![];
            for (k, &src) in outs.iter().enumerate() {
                if src != dests[k] && written.contains(&src) && bytes(k) > 0 {
                    let mem = device.alloc(bytes(k))?;
                    device.copy(device.addr(&mem), src, bytes(k))?;
                    aside.push((k, mem));
                }
            }
            for (k, &src) in outs.iter().enumerate() {
                let src = match aside.iter().find(|(j, _)| *j == k) {
                    Some((_, mem)) => device.addr(mem),
                    None => src,
                };
                if src != dests[k] && bytes(k) > 0 {
                    device.copy(dests[k], src, bytes(k))?;
                }
            }
            Ok(Checked::Written)
        })?;
        if matches!(bad, Checked::Written) {
            for &s in writes {
                self.slots[s].newest = Newest::Device;
            }
        }
        Ok(bad)
    }

    fn put_rows(
        &mut self,
        host: &[Tensor],
        target: usize,
        index: usize,
        rows: usize,
        add: bool,
    ) -> Result<(), RunError> {
        let addrs = [
            self.on_device(host, target)?,
            self.on_device(host, index)?,
            self.on_device(host, rows)?,
        ];
        let bytes = self.slots[target].bytes;
        let writer = self.row_writer(target, index, rows, add)?;
        writer.run_bound(&addrs, Some((0, 0)), |device, outs| {
            if outs[0] != addrs[0] && bytes > 0 {
                device.copy(addrs[0], outs[0], bytes)?;
            }
            Ok(())
        })?;
        self.slots[target].newest = Newest::Device;
        Ok(())
    }

    fn zeros(&mut self, slot: usize) -> Result<(), RunError> {
        let fresh = self.slots[slot].mem.is_none();
        let addr = self.allocate(slot)?;
        let bytes = self.slots[slot].bytes;
        // Fresh device memory is zeroed (`Device::alloc`); memory in use is overwritten.
        if !fresh && bytes > 0 {
            self.device.upload(addr, &vec![0u8; bytes])?;
        }
        self.slots[slot].newest = Newest::Device;
        Ok(())
    }

    fn device_newer(&self, slot: usize) -> bool {
        self.slots[slot].newest == Newest::Device
    }

    fn download(&self, slot: usize) -> Result<Tensor, RunError> {
        let s = &self.slots[slot];
        if s.mem.is_none() {
            return Err(RunError::new(format!(
                "internal error: slot {slot} has no device memory to download"
            )));
        }
        let mut bytes = vec![0u8; s.bytes];
        if s.bytes > 0 {
            self.device.download(s.addr, &mut bytes)?;
        }
        Ok(tensor_from_bytes(s.dtype, &s.shape, &bytes))
    }

    fn host_current(&mut self, slot: usize) {
        if self.slots[slot].newest == Newest::Device {
            self.slots[slot].newest = Newest::Both;
        }
    }

    fn host_wrote(&mut self, slot: usize) {
        self.slots[slot].newest = Newest::Host;
    }
}
