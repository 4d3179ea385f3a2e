//! The abstract syntax tree of a `.rlp` file.
//!
//! The AST is what the source says, nothing more: no names are resolved and no types
//! are known. Every node carries the byte [`Span`] of the source it came from, so later
//! passes can point diagnostics at it.

/// A half-open byte range `start..end` into one source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }
    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }
    pub fn is_empty(self) -> bool {
        self.end == self.start
    }
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// A name with where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// One parsed file: its items in source order.
#[derive(Clone, Debug, PartialEq)]
pub struct Module {
    pub items: Vec<Item>,
}

impl Module {
    /// The names bound by the file's top-level `name = …` statements, in order.
    pub fn bindings(&self) -> impl Iterator<Item = &Ident> {
        self.items.iter().flat_map(|item| match item {
            Item::Stmt(Stmt {
                kind: StmtKind::Let { names, .. },
                ..
            }) => names.as_slice(),
            _ => &[],
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Use(Use),
    Fn(FnDecl),
    /// A top-level statement: a binding (`env = cartpole(envs: 16)`) or any other
    /// statement form allowed at top level.
    Stmt(Stmt),
    Train(Train),
}

/// `use std.env.cartpole`, `use std.estimators.{gae, reward_to_go}`, `use "./mine.rlp"`,
/// `use "./mine.rlp".{my_est}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Use {
    pub target: UseTarget,
    /// `None` imports the module itself under its last path segment (or file stem);
    /// `Some(names)` imports those names from it.
    pub names: Option<Vec<Ident>>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum UseTarget {
    /// Dotted module path: `std.env.cartpole`.
    Path(Vec<Ident>),
    /// A user's file, relative to the importing file: `"./my_estimators.rlp"`.
    File { path: String, span: Span },
}

/// `/// docs` `pub fn name(params) -> ret { body }`
#[derive(Clone, Debug, PartialEq)]
pub struct FnDecl {
    pub doc: Option<String>,
    pub public: bool,
    pub name: Ident,
    pub params: Vec<Param>,
    pub ret: Option<TypeExpr>,
    pub body: Block,
    pub span: Span,
}

/// `name: type = default`; both the type and the default are optional.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub ty: Option<TypeExpr>,
    pub default: Option<Expr>,
    pub span: Span,
}

/// A written type: `f32`, `int`, `[T, N]`, `[T+1, N] i32`, `[N] bool`, `[int]` is not a
/// type (lists are untyped at the syntax level).
#[derive(Clone, Debug, PartialEq)]
pub struct TypeExpr {
    pub kind: TypeKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TypeKind {
    /// A scalar or compile-time type by name: `f32`, `f64`, `i32`, `bool`, `int`,
    /// `float`, `str`, or any other identifier (checked later).
    Named(Ident),
    /// A tensor type: dimensions, then an optional dtype (`f32` when absent).
    Tensor {
        dims: Vec<DimExpr>,
        dtype: Option<Ident>,
    },
}

/// A symbolic dimension: a sum of terms, `T + 1`, `2 * N`, `N - 1`, `4`.
#[derive(Clone, Debug, PartialEq)]
pub struct DimExpr {
    pub terms: Vec<DimTerm>,
    pub span: Span,
}

/// The canonical spelling, `T + 1`, `2 * N - 1`: used by the formatter and diagnostics.
impl std::fmt::Display for DimExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, t) in self.terms.iter().enumerate() {
            let mag = t.coeff.abs();
            if i > 0 {
                f.write_str(if t.coeff < 0 { " - " } else { " + " })?;
            } else if t.coeff < 0 {
                f.write_str("-")?;
            }
            match &t.symbol {
                Some(sym) if mag == 1 => f.write_str(&sym.name)?,
                Some(sym) => write!(f, "{mag} * {}", sym.name)?,
                None => write!(f, "{mag}")?,
            }
        }
        Ok(())
    }
}

/// `coeff * symbol` (symbol absent: a constant). `coeff` carries the sign.
#[derive(Clone, Debug, PartialEq)]
pub struct DimTerm {
    pub coeff: i64,
    pub symbol: Option<Ident>,
}

/// `{ stmt* expr? }`: the value of a block is its trailing expression, if any.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub value: Option<Box<Expr>>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// `x = e`, `a, b = e1, e2` (several values on the right make a tuple),
    /// `/// doc` above it is kept.
    Let {
        names: Vec<Ident>,
        value: Expr,
        doc: Option<String>,
    },
    /// `place <- e`: overwrite persistent state (`q_targ <- q`).
    Update { place: Expr, value: Expr },
    /// `place += e` and friends.
    AugAssign { place: Expr, op: BinOp, value: Expr },
    /// `minimize LOSS [wrt a, b] with OPT`.
    Minimize {
        loss: Expr,
        wrt: Vec<Expr>,
        with: Expr,
    },
    /// An expression evaluated for its effect: `polyak(t1, q1, tau: 0.005)`.
    Expr(Expr),
    /// `sample STMT`, `fit STMT`, `improve STMT`: opens (or continues in) a stage; the
    /// following unlabelled statements belong to the same stage. The block form
    /// `fit { ... }` is also accepted and parses to a `Stage` whose body has several
    /// statements.
    Stage {
        kind: StageKind,
        kind_span: Span,
        body: Vec<Stmt>,
    },
    /// `log name = e, other = e2`.
    Log { entries: Vec<(Ident, Expr)> },
    /// `every N step[s]|iteration[s] [after M] { ... }`.
    Every {
        period: Expr,
        unit: Ident,
        after: Option<Expr>,
        body: Vec<Stmt>,
    },
    /// `repeat N { ... }`.
    Repeat { count: Expr, body: Vec<Stmt> },
    /// `for x in LIST { ... }`: the body once per element of a list known at compile time.
    For {
        var: Ident,
        iter: Expr,
        body: Vec<Stmt>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StageKind {
    Sample,
    Fit,
    Improve,
}

/// `train iterations: 200 { ... }`, `train steps: 100_000 { ... }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Train {
    /// `iterations` or `steps`.
    pub unit: Ident,
    pub count: Expr,
    pub body: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// An integer literal, underscores removed: `1_000`.
    Int(i64),
    /// A float literal: `0.99`, `1e-3`, `3.0e+2`.
    Float(f64),
    Bool(bool),
    Str(String),
    Name(Ident),
    /// `[a, b, c]`
    List(Vec<Expr>),
    /// `(a, b)` — at least two elements or a trailing comma.
    Tuple(Vec<Expr>),
    /// `{ name: e, other: e2 }`
    Record(Vec<(Ident, Expr)>),
    Unary {
        op: UnOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `f(a, b, key: c)`; a method call `x.f(a)` is `Call { callee: Field(x, f) }`.
    Call {
        callee: Box<Expr>,
        args: Vec<Arg>,
    },
    /// `x.name`
    Field {
        base: Box<Expr>,
        name: Ident,
    },
    /// `x[i, 1:, :-1]`
    Index {
        base: Box<Expr>,
        indices: Vec<IndexItem>,
    },
    /// `if c then a else b`
    If {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    /// `(a, b) -> body`, `x -> body`; the body may be a block expression.
    Lambda {
        params: Vec<Param>,
        body: Box<Expr>,
    },
    /// `a -> b` where `a` is not a parameter list: a range used by schedules,
    /// `linear(1.0 -> 0.05, over: 10_000)`.
    Range {
        from: Box<Expr>,
        to: Box<Expr>,
    },
    /// `{ stmts; value }` used as an expression (lambda bodies, `if` arms).
    Block(Block),
    /// `scan [reverse] t in T (acc = init, ...) { body }`: the body rebinds each carry;
    /// the value is the per-step carries stacked along a new leading axis.
    Scan(Box<Scan>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Scan {
    pub reverse: bool,
    pub var: Ident,
    pub length: DimExpr,
    pub carries: Vec<(Ident, Expr)>,
    pub body: Block,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    /// `Some` for a keyword argument `name: value`.
    pub name: Option<Ident>,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum IndexItem {
    /// `x[e]`
    Expr(Expr),
    /// `x[a:b]`, either bound optional.
    Slice {
        start: Option<Expr>,
        end: Option<Expr>,
        span: Span,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnOp {
    Neg,
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Pow,
    MatMul,
    /// `++`: concatenation along the last axis.
    Concat,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::Pow => "**",
            BinOp::MatMul => "@",
            BinOp::Concat => "++",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::And => "and",
            BinOp::Or => "or",
        }
    }
}
