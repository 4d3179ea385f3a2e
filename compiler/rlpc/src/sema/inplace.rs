//! State rewritten row by row: `buf <- put(buf, index, rows)` applied in place.
//!
//! As a graph, `put` returns a new tensor: the old one with some rows replaced. Written
//! back into the slot it read, that would copy the whole slot every time a stage runs —
//! a million-transition buffer for a batch of four. So when a stage's new value for a
//! slot is a chain of `put`s on the value the stage read, the graph computes only each
//! `put`'s index and rows (into transient slots) and the trainer writes those rows into
//! the slot where it lies ([`RowWrite`]). Every other node still reads the slot as it
//! was when the stage began, which is what the graph meant: its reads come before the
//! write. A `put` whose result something else in the stage reads is also computed as a
//! copy for that reader.

use super::elab::Elab;
use crate::program::{RowWrite, SlotId, SlotKind};
use rlp_ir::{Graph, NodeId, Op, TensorType};

/// Turns the outputs of `graph` that only rewrite rows of the slot they read into row
/// writes, adding their index and rows as outputs written to new transient slots.
pub fn rows_in_place(
    el: &mut Elab,
    graph: &mut Graph,
    reads: &[SlotId],
    writes: &mut Vec<SlotId>,
) -> Vec<RowWrite> {
    let mut row_writes = vec![];
    let (mut kept_writes, mut kept_outputs) = (vec![], vec![]);
    // One slot per index node: the fields of a record (a replay buffer's six) are
    // written at the same rows, and one output is computed and checked once, not six.
    let mut index_slots: Vec<(NodeId, SlotId)> = vec![];
    for (&slot, &out) in writes.iter().zip(&graph.outputs) {
        let persistent = el.slots[slot.0 as usize].kind != SlotKind::Transient;
        match put_chain(graph, out, reads, slot) {
            Some(chain) if persistent => {
                for (index, rows, add, origin) in chain {
                    let name = el.slots[slot.0 as usize].name.clone();
                    let index_slot = match index_slots.iter().find(|(n, _)| *n == index) {
                        Some(&(_, s)) => s,
                        None => {
                            let s = el.new_slot(
                                &format!("{name}.put_index"),
                                graph.ty(index).clone(),
                                SlotKind::Transient,
                            );
                            index_slots.push((index, s));
                            kept_writes.push(s);
                            kept_outputs.push(index);
                            s
                        }
                    };
                    let rows_ty: TensorType = graph.ty(rows).clone();
                    let rows_slot =
                        el.new_slot(&format!("{name}.put_rows"), rows_ty, SlotKind::Transient);
                    kept_writes.push(rows_slot);
                    kept_outputs.push(rows);
                    row_writes.push(RowWrite {
                        slot,
                        index: index_slot,
                        rows: rows_slot,
                        add,
                        origin,
                    });
                }
            }
            _ => {
                kept_writes.push(slot);
                kept_outputs.push(out);
            }
        }
    }
    // A shared index slot is named after what its writes have in common (`buf.data`
    // for the fields of `buf.data`), not after the first field.
    for &(_, index) in &index_slots {
        let names: Vec<&str> = row_writes
            .iter()
            .filter(|w| w.index == index)
            .map(|w| el.slots[w.slot.0 as usize].name.as_str())
            .collect();
        if names.len() > 1 {
            let name = format!("{}.put_index", common_path(&names));
            el.slots[index.0 as usize].name = name;
        }
    }
    *writes = kept_writes;
    graph.outputs = kept_outputs;
    row_writes
}

/// The longest dotted prefix of every name (`a.b` of `a.b.c` and `a.b.d`); the first
/// name's first part when they share none.
fn common_path(names: &[&str]) -> String {
    let parts: Vec<Vec<&str>> = names.iter().map(|n| n.split('.').collect()).collect();
    let shared = (0..parts[0].len())
        .take_while(|&i| parts.iter().all(|p| p.get(i) == parts[0].get(i)))
        .count()
        .max(1);
    parts[0][..shared].join(".")
}

/// The `(index, rows, add, origin)` of each `put` in the chain that makes `out` from the stage's
/// reading of `slot`, first applied first; `None` when `out` is anything else.
fn put_chain(
    graph: &Graph,
    out: NodeId,
    reads: &[SlotId],
    slot: SlotId,
) -> Option<Vec<(NodeId, NodeId, bool, Option<rlp_ir::Origin>)>> {
    let mut chain = vec![];
    let mut at = out;
    while let Op::PutRows { accumulate } = graph.node(at).op {
        let args = &graph.node(at).args;
        chain.push((args[1], args[2], accumulate, graph.node(at).origin));
        at = args[0];
    }
    match graph.node(at).op {
        Op::Input(k) if !chain.is_empty() && reads.get(k) == Some(&slot) => {
            chain.reverse();
            Some(chain)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::common_path;

    #[test]
    fn a_shared_index_is_named_for_the_common_path() {
        let fields = ["buf.data.obs", "buf.data.action", "buf.data.reward"];
        assert_eq!(common_path(&fields), "buf.data");
        assert_eq!(common_path(&["a.b", "a.b"]), "a.b");
        assert_eq!(common_path(&["long", "short"]), "long");
        assert_eq!(common_path(&["q.x", "qq.x"]), "q");
    }
}
