//! The text form of the IR, for snapshots, `rlpc explain` and error messages.
//!
//! One node per line, `%id = op[attrs] args : type`; a scan's body follows its line,
//! indented, between braces. The form is stable (handles print as their index, floats
//! as Rust's shortest round-trip form) so dumps diff well across runs and commits.
//!
//! ```text
//! inputs f32[5], f32[]
//! %0 = input[0] : f32[5]
//! %3 = scan[length=5,reverse,carries=1,seqs=1] %2, %0, %1 : (f32[], f32[5]) {
//!   inputs f32[], f32[], f32[], i32[]
//!   ...
//!   outputs %4, %4
//! }
//! ```

use crate::graph::{Graph, Op, Type};
use std::fmt::{self, Display, Formatter, Write};

/// Writes `items` separated by `sep`.
fn join<T: Display>(
    f: &mut impl Write,
    items: impl IntoIterator<Item = T>,
    sep: &str,
) -> fmt::Result {
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

/// The op's name with its attributes in brackets (`slice[axis=0,1..201]`); a scan's body
/// is not part of it.
impl Display for Op {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        match self {
            Op::Input(k) | Op::Project(k) => write!(f, "[{k}]"),
            Op::Const(v) => write!(f, "[{v:?}]"),
            Op::Literal(vs) => {
                f.write_str("[")?;
                join(f, vs.iter().map(|v| format!("{v:?}")), ",")?;
                f.write_str("]")
            }
            Op::Transpose(perm) => {
                f.write_str("[")?;
                join(f, perm, ",")?;
                f.write_str("]")
            }
            Op::Reduce { axes, .. } => {
                f.write_str("[axes=")?;
                join(f, axes, ",")?;
                f.write_str("]")
            }
            Op::ArgMax { axis } | Op::Concat { axis } | Op::Iota { axis } => {
                write!(f, "[axis={axis}]")
            }
            Op::Slice { axis, start, end } => write!(f, "[axis={axis},{start}..{end}]"),
            Op::Pad {
                axis,
                before,
                after,
            } => write!(f, "[axis={axis},before={before},after={after}]"),
            Op::OneHot { depth } => write!(f, "[depth={depth}]"),
            Op::TopK { k } => write!(f, "[k={k}]"),
            Op::CumSum { reverse } => f.write_str(if *reverse { "[reverse]" } else { "" }),
            Op::Random { seed, stream, .. } => write!(f, "[seed={seed},stream={stream}]"),
            Op::Scan(s) => {
                let dir = if s.reverse { ",reverse" } else { "" };
                write!(
                    f,
                    "[length={}{dir},carries={},seqs={}]",
                    s.length, s.n_carry, s.n_seq
                )
            }
            Op::Unary(_)
            | Op::Binary(_)
            | Op::Select
            | Op::Cast
            | Op::Broadcast
            | Op::Reshape
            | Op::MatMul
            | Op::Gather
            | Op::TakeRows
            | Op::PutRows { .. }
            | Op::SearchSorted
            | Op::DynIndex
            | Op::StopGradient => Ok(()),
        }
    }
}

impl Display for Type {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Type::Tensor(t) => write!(f, "{t}"),
            Type::Tuple(ts) => {
                f.write_str("(")?;
                join(f, ts, ", ")?;
                f.write_str(")")
            }
        }
    }
}

impl Display for Graph {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_graph(f, self, 0)
    }
}

fn write_graph(f: &mut Formatter<'_>, g: &Graph, depth: usize) -> fmt::Result {
    let pad = "  ".repeat(depth);
    write!(f, "{pad}inputs ")?;
    join(f, &g.inputs, ", ")?;
    writeln!(f)?;
    for id in g.ids() {
        let node = g.node(id);
        write!(f, "{pad}{id} = {}", node.op)?;
        if !node.args.is_empty() {
            f.write_str(" ")?;
            join(f, &node.args, ", ")?;
        }
        write!(f, " : {}", node.ty)?;
        if let Op::Scan(scan) = &node.op {
            writeln!(f, " {{")?;
            write_graph(f, &scan.body, depth + 1)?;
            write!(f, "{pad}}}")?;
        }
        writeln!(f)?;
    }
    write!(f, "{pad}outputs ")?;
    join(f, &g.outputs, ", ")?;
    writeln!(f)
}

#[cfg(test)]
mod tests {
    use crate::graph::{BinaryOp, Graph, Op, Scan, TensorType};
    use rlp_runtime::DType;

    /// Discounted returns, `acc = r[t] + gamma * acc`, as a reverse scan.
    fn returns() -> Graph {
        let f = |s: &[usize]| TensorType::new(DType::F32, s);
        let mut body = Graph::new();
        let acc = body.add_input(f(&[]));
        let r = body.add_input(f(&[]));
        let gamma = body.add_input(f(&[]));
        body.add_input(TensorType::scalar(DType::I32));
        let d = body.binary(BinaryOp::Mul, gamma, acc).unwrap();
        let new = body.binary(BinaryOp::Add, r, d).unwrap();
        body.outputs = vec![new, new];

        let mut g = Graph::new();
        let rs = g.add_input(f(&[5]));
        let gamma = g.add_input(f(&[]));
        let zero = g.constant(DType::F32, 0.0);
        let scan = Scan {
            length: 5,
            reverse: true,
            n_carry: 1,
            n_seq: 1,
            body,
        };
        let s = g
            .add(Op::Scan(Box::new(scan)), vec![zero, rs, gamma])
            .unwrap();
        let out = g.project(s, 1).unwrap();
        let head = g.slice(out, 0, 1, 5).unwrap();
        g.outputs.push(head);
        g
    }

    #[test]
    fn prints_a_scan() {
        insta::assert_snapshot!(returns().to_string());
    }

    #[test]
    fn prints_op_attributes() {
        assert_eq!(
            Op::Slice {
                axis: 0,
                start: 1,
                end: 201
            }
            .to_string(),
            "slice[axis=0,1..201]"
        );
        assert_eq!(Op::Const(-0.0).to_string(), "const[-0.0]");
        assert_eq!(
            Op::Literal([1.0, 2.5].into()).to_string(),
            "literal[1.0,2.5]"
        );
        assert_eq!(Op::Transpose(vec![1, 0]).to_string(), "transpose[1,0]");
        assert_eq!(
            Op::Pad {
                axis: 1,
                before: 2,
                after: 0
            }
            .to_string(),
            "pad[axis=1,before=2,after=0]"
        );
        assert_eq!(Op::Binary(BinaryOp::Add).to_string(), "add");
    }
}
