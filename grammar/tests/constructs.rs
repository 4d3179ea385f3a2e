//! Every construct of the language parses to the expected AST shape (written as compact
//! S-expressions, see `common::expr`), with exact spans.

mod common;

use common::*;
use rlp_syntax::ast::*;

fn e(src: &str) -> String {
    expr_of(src)
}

fn s(src: &str) -> String {
    stmt_of(src)
}

fn all(src: &str) -> String {
    items(&parse_ok(src))
}

// ---- literals and names ----

#[test]
fn literals() {
    assert_eq!(e("200"), "200");
    assert_eq!(e("1_000"), "1000");
    assert_eq!(e("0.99"), "0.99");
    assert_eq!(e("1e-3"), "0.001");
    assert_eq!(e("3e-4"), "0.0003");
    assert_eq!(e("1.5e+2"), "150.0");
    assert_eq!(e("2E3"), "2000.0");
    assert_eq!(e("1_000.5"), "1000.5");
    assert_eq!(e("true"), "true");
    assert_eq!(e("false"), "false");
    assert_eq!(e(r#""a \"q\" \\ \n end""#), r#""a \"q\" \\ \n end""#);
    assert_eq!(e(r#""tab\there""#), r#""tab\there""#);
    assert_eq!(e(r#""""#), r#""""#);
    assert_eq!(e("x"), "x");
    assert_eq!(e("_private_2"), "_private_2");
    // Not keywords.
    assert_eq!(
        e("step + steps + iteration + iterations + lambda + record + eval"),
        "(+ (+ (+ (+ (+ (+ step steps) iteration) iterations) lambda) record) eval)"
    );
    // Words that start with a keyword are names.
    assert_eq!(
        e("iffy + into + notable + format + android + true_x"),
        "(+ (+ (+ (+ (+ iffy into) notable) format) android) true_x)"
    );
}

#[test]
fn literal_values_in_the_ast() {
    let m = parse_ok("x = 9_223_372_036_854_775_807");
    let Item::Stmt(Stmt {
        kind: StmtKind::Let { value, .. },
        ..
    }) = &m.items[0]
    else {
        panic!()
    };
    assert_eq!(value.kind, ExprKind::Int(i64::MAX));
    let m = parse_ok("x = \"é\\n\"");
    let Item::Stmt(Stmt {
        kind: StmtKind::Let { value, .. },
        ..
    }) = &m.items[0]
    else {
        panic!()
    };
    assert_eq!(value.kind, ExprKind::Str("é\n".into()));
}

// ---- operators ----

#[test]
fn precedence_levels() {
    assert_eq!(e("a or b and c"), "(or a (and b c))");
    assert_eq!(e("not a and b"), "(and (not a) b)");
    assert_eq!(e("not a == b"), "(not (== a b))");
    assert_eq!(e("a == b ++ c"), "(== a (++ b c))");
    assert_eq!(e("a ++ b + c"), "(++ a (+ b c))");
    assert_eq!(e("a + b * c"), "(+ a (* b c))");
    assert_eq!(e("a * -b"), "(* a (neg b))");
    assert_eq!(e("-a * b"), "(* (neg a) b)");
    assert_eq!(e("-x ** 2"), "(neg (** x 2))");
    assert_eq!(e("x ** -2"), "(** x (neg 2))");
    assert_eq!(e("a ** b ** c"), "(** a (** b c))");
    assert_eq!(
        e("-a.b(c)[d] ** 2"),
        "(neg (** (idx (call (. a b) c) d) 2))"
    );
    assert_eq!(e("(a + b) * c"), "(* (+ a b) c)");
}

#[test]
fn every_binary_operator() {
    for (op, name) in [
        ("+", "+"),
        ("-", "-"),
        ("*", "*"),
        ("/", "/"),
        ("%", "%"),
        ("@", "@"),
        ("**", "**"),
        ("++", "++"),
        ("==", "=="),
        ("!=", "!="),
        ("<", "<"),
        ("<=", "<="),
        (">", ">"),
        (">=", ">="),
        ("and", "and"),
        ("or", "or"),
    ] {
        assert_eq!(e(&format!("a {op} b")), format!("({name} a b)"));
        // Spaces are optional around symbols.
        if !op.chars().all(char::is_alphabetic) {
            assert_eq!(e(&format!("a{op}b")), format!("({name} a b)"));
        }
    }
}

#[test]
fn associativity() {
    assert_eq!(e("a - b - c"), "(- (- a b) c)");
    assert_eq!(e("a / b * c % d @ e"), "(@ (% (* (/ a b) c) d) e)");
    assert_eq!(e("a ++ b ++ c"), "(++ (++ a b) c)");
    assert_eq!(e("a and b and c"), "(and (and a b) c)");
    assert_eq!(e("a or b or c"), "(or (or a b) c)");
    assert_eq!(e("--a"), "(neg (neg a))");
    assert_eq!(e("not not a"), "(not (not a))");
    assert_eq!(e("(a < b) < c"), "(< (< a b) c)");
}

#[test]
fn comparisons_do_not_chain() {
    for src in ["a < b < c", "a == b == c", "a < b >= c", "x != y == z"] {
        let err = parse_err(src);
        assert_eq!(
            err.message, "comparison operators cannot be chained",
            "{src}"
        );
    }
}

#[test]
fn binary_operator_at_line_end_continues() {
    assert_eq!(s("y = a +\n b"), "(let y (+ a b))");
    assert_eq!(
        s("y = a *\n\n  # comment\n  (b -\n c)"),
        "(let y (* a (- b c)))"
    );
    assert_eq!(s("y = a and\n b or\n c"), "(let y (or (and a b) c))");
    assert_eq!(s("y = a ==\n b"), "(let y (== a b))");
    // A newline before an operator ends the statement.
    assert_eq!(all("y = a\n-b"), "(let y a)\n(neg b)");
}

// ---- postfix ----

#[test]
fn calls() {
    assert_eq!(e("f()"), "(call f)");
    assert_eq!(e("f(a, b)"), "(call f a b)");
    assert_eq!(e("f(a, k: 2, l: b + 1)"), "(call f a k=2 l=(+ b 1))");
    assert_eq!(e("f(a,)"), "(call f a)");
    assert_eq!(e("f(\n  a,\n  k: 1,\n)"), "(call f a k=1)");
    assert_eq!(e("f(\n  a\n  ,\n  b\n)"), "(call f a b)");
    assert_eq!(e("f(a)(b)"), "(call (call f a) b)");
    // Keywords are fine as keyword-argument names.
    assert_eq!(e("eval(with: 1, in: 2)"), "(call eval with=1 in=2)");
    // Method calls are calls on a field.
    assert_eq!(e("x.f(a)"), "(call (. x f) a)");
    assert_eq!(
        e("batch.episode_return.mean()"),
        "(call (. (. batch episode_return) mean))"
    );
}

#[test]
fn call_args_have_spans() {
    let src = "f(a, k: b + 1)";
    let m = parse_ok(src);
    let Item::Stmt(Stmt {
        kind:
            StmtKind::Expr(Expr {
                kind: ExprKind::Call { args, .. },
                ..
            }),
        ..
    }) = &m.items[0]
    else {
        panic!()
    };
    assert_eq!(&src[args[0].span.range()], "a");
    assert_eq!(&src[args[1].span.range()], "k: b + 1");
    assert_eq!(&src[args[1].name.as_ref().unwrap().span.range()], "k");
}

#[test]
fn fields() {
    assert_eq!(e("env.obs"), "(. env obs)");
    assert_eq!(e("a.b.c"), "(. (. a b) c)");
    // Keywords are fine after a dot.
    assert_eq!(e("data.sample(256)"), "(call (. data sample) 256)");
    assert_eq!(
        e("x.fit + x.log + x.in"),
        "(+ (+ (. x fit) (. x log)) (. x in))"
    );
    assert_eq!(e("1.abs()"), "(call (. 1 abs))");
    assert_eq!(e("1.5.abs()"), "(call (. 1.5 abs))");
}

#[test]
fn indexing_and_slices() {
    assert_eq!(e("x[i]"), "(idx x i)");
    assert_eq!(e("x[i, j + 1]"), "(idx x i (+ j 1))");
    assert_eq!(e("x[1:]"), "(idx x (: 1 _))");
    assert_eq!(e("x[:-1]"), "(idx x (: _ (neg 1)))");
    assert_eq!(e("x[:]"), "(idx x (: _ _))");
    assert_eq!(e("x[a:b]"), "(idx x (: a b))");
    assert_eq!(e("x[:, 0, 1:3,]"), "(idx x (: _ _) 0 (: 1 3))");
    assert_eq!(e("x[\n  i,\n  j\n]"), "(idx x i j)");
    assert_eq!(
        e("q(b.obs)[b.action]"),
        "(idx (call q (. b obs)) (. b action))"
    );
    let src = "x[1:, :-1]";
    let m = parse_ok(src);
    let Item::Stmt(Stmt {
        kind:
            StmtKind::Expr(Expr {
                kind: ExprKind::Index { indices, .. },
                ..
            }),
        ..
    }) = &m.items[0]
    else {
        panic!()
    };
    let spans: Vec<&str> = indices
        .iter()
        .map(|i| match i {
            IndexItem::Slice { span, .. } => &src[span.range()],
            IndexItem::Expr(e) => &src[e.span.range()],
        })
        .collect();
    assert_eq!(spans, ["1:", ":-1"]);
}

#[test]
fn postfix_does_not_cross_newlines() {
    assert_eq!(all("f\n(x)"), "f\nx");
    assert_eq!(all("x = a\n[1]"), "(let x a)\n[1]");
}

// ---- primaries ----

#[test]
fn parens_tuples_lists_records() {
    assert_eq!(e("(a)"), "a");
    assert_eq!(e("((a))"), "a");
    assert_eq!(e("(a, b)"), "(tuple a b)");
    assert_eq!(e("(a,)"), "(tuple a)");
    assert_eq!(e("(\n a,\n b,\n)"), "(tuple a b)");
    assert_eq!(e("[]"), "[]");
    assert_eq!(e("[a, b]"), "[a b]");
    assert_eq!(e("[a, [b, c],]"), "[a [b c]]");
    assert_eq!(e("[\n  64,\n  64\n]"), "[64 64]");
    assert_eq!(e("{}"), "{}");
    assert_eq!(e("{ }"), "{}");
    assert_eq!(e("{ logits: l }"), "{logits: l}");
    assert_eq!(e("{ a: 1, b: x + 1, }"), "{a: 1, b: (+ x 1)}");
    assert_eq!(e("{\n  a: 1,\n  b: 2\n}"), "{a: 1, b: 2}");
    assert_eq!(e("{ in: 1 }"), "{in: 1}");
}

#[test]
fn parenthesised_expression_keeps_the_parens_span() {
    let src = "( a + b )";
    let m = parse_ok(src);
    let Item::Stmt(Stmt {
        kind: StmtKind::Expr(ex),
        span,
    }) = &m.items[0]
    else {
        panic!()
    };
    assert_eq!(ex.span, Span::new(0, 9));
    assert_eq!(*span, Span::new(0, 9));
    assert!(matches!(ex.kind, ExprKind::Binary { op: BinOp::Add, .. }));
}

#[test]
fn block_expressions() {
    assert_eq!(e("{ a }"), "{=> a}");
    assert_eq!(e("{ a = 1; a + 1 }"), "{(let a 1) => (+ a 1)}");
    assert_eq!(e("{\n  a = 1\n\n  # c\n  a\n}"), "{(let a 1) => a}");
    assert_eq!(e("{ a = 1 }"), "{(let a 1)}");
    // Only a trailing *bare expression* is the value.
    assert_eq!(e("{ a; b <- c }"), "{a (<- b c)}");
    assert_eq!(e("{ f(x); g(y) }"), "{(call f x) => (call g y)}");
    assert_eq!(e("{ x = 1; { a: x } }"), "{(let x 1) => {a: x}}");
}

#[test]
fn scans() {
    assert_eq!(
        e("scan t in T (acc = 0.0) { acc = acc + x[t] }"),
        "(scan t T (acc=0.0) {(let acc (+ acc (idx x t)))})"
    );
    assert_eq!(
        e("scan reverse t in T (acc = 0.0) { acc = 1 }"),
        "(scan reverse t T (acc=0.0) {(let acc 1)})"
    );
    assert_eq!(
        e("scan t in T+1 (a = 0, b = 1,) { a = b }"),
        "(scan t T+1 (a=0 b=1) {(let a b)})"
    );
    assert_eq!(
        e("scan t in 2*N - 1 (\n  a = 0,\n  b = 1\n)\n{ a }"),
        "(scan t 2*N-1 (a=0 b=1) {=> a})"
    );
    assert_eq!(e("scan t in T () { t }"), "(scan t T () {=> t})");
}

// ---- if, lambdas, ranges ----

#[test]
fn ifs() {
    assert_eq!(e("if a then b else c"), "(if a b c)");
    assert_eq!(e("if a > b then a else -b"), "(if (> a b) a (neg b))");
    assert_eq!(
        e("if a then b else if c then d else e"),
        "(if a b (if c d e))"
    );
    assert_eq!(
        e("if a or b then x + 1 else y * 2"),
        "(if (or a b) (+ x 1) (* y 2))"
    );
    assert_eq!(e("if a then\n  b\nelse\n  c"), "(if a b c)");
    assert_eq!(e("if a\nthen b\nelse c"), "(if a b c)");
    assert_eq!(
        e("if (if a then b else c) then (x -> x) else y"),
        "(if (if a b c) (lambda (x) x) y)"
    );
    // The else arm runs to the end of the expression.
    assert_eq!(e("if a then b else c + d"), "(if a b (+ c d))");
    assert_eq!(e("f(if a then b else c, d)"), "(call f (if a b c) d)");
}

#[test]
fn ifs_nest_and_stand_wherever_an_operand_does() {
    // In the `then` arm, the condition and the `else` arm.
    assert_eq!(
        e("if a then if b then 1 else 0 else 0"),
        "(if a (if b 1 0) 0)"
    );
    assert_eq!(
        e("if if a then b else c then d else e"),
        "(if (if a b c) d e)"
    );
    assert_eq!(
        e("if a then if b then if c then 1 else 2 else 3 else 4"),
        "(if a (if b (if c 1 2) 3) 4)"
    );
    assert_eq!(
        e("if a then 1 + if b then 2 else 3 else 4"),
        "(if a (+ 1 (if b 2 3)) 4)"
    );
    // As an operand it runs to the end of the expression, like a lambda body.
    assert_eq!(e("1 + if c then 1 else 0"), "(+ 1 (if c 1 0))");
    assert_eq!(
        e("1 + if c then 1 else 0 * 2 + 3"),
        "(+ 1 (if c 1 (+ (* 0 2) 3)))"
    );
    assert_eq!(e("a * -if c then 1 else 2"), "(* a (neg (if c 1 2)))");
    assert_eq!(e("-if c then 1 else 2"), "(neg (if c 1 2))");
    assert_eq!(e("not if c then a else b"), "(not (if c a b))");
    assert_eq!(
        e("x == 1 or if c then a else b"),
        "(or (== x 1) (if c a b))"
    );
    assert_eq!(
        e("1 + if a then b else 2 + if c then d else e"),
        "(+ 1 (if a b (+ 2 (if c d e))))"
    );
    assert_eq!(
        e("f(1 + if c then 1 else 0, if d then x else y)"),
        "(call f (+ 1 (if c 1 0)) (if d x y))"
    );
    assert_eq!(e("[if c then 1 else 0, 2]"), "[(if c 1 0) 2]");
    assert_eq!(e("x[if c then 0 else 1]"), "(idx x (if c 0 1))");
    assert_eq!(e("1 + if c then a else b -> d"), "(+ 1 (if c a (-> b d)))");
    assert_eq!(
        e("x -> 1 + if x then 1 else 2"),
        "(lambda (x) (+ 1 (if x 1 2)))"
    );
    assert_eq!(
        e("if c then x -> x else y -> y"),
        "(if c (lambda (x) x) (lambda (y) y))"
    );
    assert_eq!(
        e("if a then\n  if b then 1 else 0\nelse\n  2 * if c then 3 else 4"),
        "(if a (if b 1 0) (* 2 (if c 3 4)))"
    );
    // Names that begin with `if` are names.
    assert_eq!(e("iffy + ifx"), "(+ iffy ifx)");
}

#[test]
fn lambdas_and_ranges() {
    assert_eq!(e("x -> x ** 2"), "(lambda (x) (** x 2))");
    assert_eq!(e("(a, b) -> a + b"), "(lambda (a b) (+ a b))");
    assert_eq!(e("() -> 1"), "(lambda () 1)");
    assert_eq!(e("(a,) -> a"), "(lambda (a) a)");
    assert_eq!(e("(s: [N, 4], a) -> s"), "(lambda (s:[N, 4] a) s)");
    assert_eq!(
        e("(a: f32 = 1.0, b = 2) -> a"),
        "(lambda (a:f32=1.0 b=2) a)"
    );
    assert_eq!(e("(\n  a,\n  b\n) ->\n  a"), "(lambda (a b) a)");
    assert_eq!(
        e("(obs) -> { l = net(obs); { logits: l } }"),
        "(lambda (obs) {(let l (call net obs)) => {logits: l}})"
    );
    assert_eq!(e("a -> b -> a + b"), "(lambda (a) (lambda (b) (+ a b)))");
    assert_eq!(e("x -> if x then 1 else 2"), "(lambda (x) (if x 1 2))");
    assert_eq!(e("if c then a else x -> x"), "(if c a (lambda (x) x))");
    assert_eq!(e("1.0 -> 0.05"), "(-> 1.0 0.05)");
    assert_eq!(e("a + 1 -> b * 2"), "(-> (+ a 1) (* b 2))");
    assert_eq!(e("(a + 1) -> b"), "(-> (+ a 1) b)");
    assert_eq!(e("f(x) -> 1"), "(-> (call f x) 1)");
    assert_eq!(e("1 -> 2 -> 3"), "(-> 1 (-> 2 3))");
    assert_eq!(
        e("linear(1.0 -> 0.05, over: 10_000)"),
        "(call linear (-> 1.0 0.05) over=10000)"
    );
    assert_eq!(
        e("f(objective: (s, a) -> m(s, a))"),
        "(call f objective=(lambda (s a) (call m s a)))"
    );
    assert_eq!(e("((x) -> x)(3)"), "(call (lambda (x) x) 3)");
}

#[test]
fn lambda_and_if_spans() {
    let src = "f = (a, b) -> if a then b else a";
    let m = parse_ok(src);
    let Item::Stmt(Stmt {
        kind: StmtKind::Let { value, .. },
        ..
    }) = &m.items[0]
    else {
        panic!()
    };
    assert_eq!(&src[value.span.range()], "(a, b) -> if a then b else a");
    let ExprKind::Lambda { params, body } = &value.kind else {
        panic!()
    };
    assert_eq!(&src[params[1].span.range()], "b");
    assert_eq!(&src[body.span.range()], "if a then b else a");
}

// ---- types ----

fn fn_sig(src: &str) -> String {
    let m = parse_ok(&format!("fn f({src}) {{}}"));
    let s = items(&m);
    s.trim_start_matches("(fn f (")
        .trim_end_matches(") {})")
        .to_string()
}

#[test]
fn types() {
    assert_eq!(fn_sig("x: f32"), "x:f32");
    assert_eq!(
        fn_sig("x: int, y: bool, z: anything"),
        "x:int y:bool z:anything"
    );
    assert_eq!(fn_sig("x: [T, N]"), "x:[T, N]");
    assert_eq!(fn_sig("x: [T+1, N]"), "x:[T+1, N]");
    assert_eq!(fn_sig("x: [T - 1]"), "x:[T-1]");
    assert_eq!(fn_sig("x: [2*N, 4] i32"), "x:[2*N, 4] i32");
    assert_eq!(fn_sig("x: [N * 2]"), "x:[2*N]");
    assert_eq!(fn_sig("x: [N] bool"), "x:[N] bool");
    assert_eq!(fn_sig("x: []"), "x:[]");
    assert_eq!(fn_sig("x: [] f64"), "x:[] f64");
    assert_eq!(fn_sig("x: [\n  T,\n  N,\n]"), "x:[T, N]");
}

#[test]
fn dim_terms() {
    let m = parse_ok("fn f(x: [T-1, 2*N + 3 - M, 4]) {}");
    let Item::Fn(f) = &m.items[0] else { panic!() };
    let Some(TypeExpr {
        kind: TypeKind::Tensor { dims, dtype: None },
        ..
    }) = &f.params[0].ty
    else {
        panic!()
    };
    let terms = |d: &DimExpr| {
        d.terms
            .iter()
            .map(|t| (t.coeff, t.symbol.as_ref().map(|s| s.name.clone())))
            .collect::<Vec<_>>()
    };
    assert_eq!(terms(&dims[0]), [(1, Some("T".into())), (-1, None)]);
    assert_eq!(
        terms(&dims[1]),
        [(2, Some("N".into())), (3, None), (-1, Some("M".into()))]
    );
    assert_eq!(terms(&dims[2]), [(4, None)]);
}

// ---- statements ----

#[test]
fn bindings() {
    assert_eq!(s("x = 1"), "(let x 1)");
    assert_eq!(s("a, b = 1, 2"), "(let a b (tuple 1 2))");
    assert_eq!(s("a, b = f(x)"), "(let a b (call f x))");
    assert_eq!(s("a = 1, 2"), "(let a (tuple 1 2))");
    assert_eq!(s("x =\n  1"), "(let x 1)");
    assert_eq!(s("a,\n b =\n 1,\n 2"), "(let a b (tuple 1 2))");
    // The tuple's span covers exactly the values.
    let src = "q1, q2 = mlp(a), mlp(b)  # twins";
    let m = parse_ok(src);
    let Item::Stmt(st) = &m.items[0] else {
        panic!()
    };
    assert_eq!(&src[st.span.range()], "q1, q2 = mlp(a), mlp(b)");
    let StmtKind::Let { value, .. } = &st.kind else {
        panic!()
    };
    assert_eq!(&src[value.span.range()], "mlp(a), mlp(b)");
}

#[test]
fn updates_and_augmented_assignments() {
    assert_eq!(s("q_targ <- q"), "(<- q_targ q)");
    assert_eq!(s("env.state <- s"), "(<- (. env state) s)");
    assert_eq!(s("n[a] <- 0"), "(<- (idx n a) 0)");
    assert_eq!(s("n[a] += 1"), "(+= (idx n a) 1)");
    assert_eq!(s("x -= y * 2"), "(-= x (* y 2))");
    assert_eq!(s("x *= 2"), "(*= x 2)");
    assert_eq!(s("x /= 2"), "(/= x 2)");
    assert_eq!(
        s("buffer += step(env, pi)"),
        "(+= buffer (call step env pi))"
    );
    assert_eq!(s("x <-\n  y"), "(<- x y)");
    // `a < -b` is a comparison; `a <- b` an update.
    assert_eq!(s("a < -b"), "(< a (neg b))");
    assert_eq!(s("a<-b"), "(<- a b)");
    for src in ["a + b <- c", "1 += 2", "f(x) + 1 -= 2"] {
        assert!(parse_err(src).message.contains("left side"), "{src}");
    }
}

#[test]
fn minimize() {
    assert_eq!(s("minimize loss with opt"), "(minimize loss with opt)");
    assert_eq!(
        s("minimize mean(x) wrt pi, log_a with adam(lr: 3e-4)"),
        "(minimize (call mean x) wrt pi log_a with (call adam lr=0.0003))"
    );
    assert_eq!(
        s("minimize a + b wrt q.params with opt"),
        "(minimize (+ a b) wrt (. q params) with opt)"
    );
    assert_eq!(
        s("minimize\n  loss\n  wrt a,\n    b\n  with\n  opt"),
        "(minimize loss wrt a b with opt)"
    );
}

#[test]
fn stages() {
    assert_eq!(
        s("sample batch = rollout(env, policy, steps: 200)"),
        "(sample (let batch (call rollout env policy steps=200)))"
    );
    assert_eq!(s("fit q = 1"), "(fit (let q 1))");
    assert_eq!(
        s("improve minimize l with opt"),
        "(improve (minimize l with opt))"
    );
    assert_eq!(
        s("sample buffer += step(env)"),
        "(sample (+= buffer (call step env)))"
    );
    assert_eq!(s("fit polyak(a, b)"), "(fit (call polyak a b))");
    assert_eq!(s("fit repeat 2 { b = 1 }"), "(fit (repeat 2 (let b 1)))");
    assert_eq!(s("improve log a = 1"), "(improve (log a=1))");
    assert_eq!(s("fit { a = 1\n      b = 2 }"), "(fit (let a 1) (let b 2))");
    assert_eq!(s("fit {}"), "(fit)");
    // Following statements are not merged into the stage.
    assert_eq!(all("fit a = 1\n    b = 2"), "(fit (let a 1))\n(let b 2)");
    let src = "improve  minimize l with o";
    let m = parse_ok(src);
    let Item::Stmt(Stmt {
        kind: StmtKind::Stage {
            kind, kind_span, ..
        },
        span,
    }) = &m.items[0]
    else {
        panic!()
    };
    assert_eq!(*kind, StageKind::Improve);
    assert_eq!(&src[kind_span.range()], "improve");
    assert_eq!(&src[span.range()], src);
}

#[test]
fn log_statements() {
    assert_eq!(
        s("log return = batch.episode_return.mean()"),
        "(log return=(call (. (. batch episode_return) mean)))"
    );
    assert_eq!(s("log a = 1, b = x + 1"), "(log a=1 b=(+ x 1))");
    assert_eq!(s("log a = 1,\n    b = 2"), "(log a=1 b=2)");
    // `log` is not reserved: it is also the natural logarithm.
    assert_eq!(s("log(x)"), "(call log x)");
    assert_eq!(s("y = log(step + 1)"), "(let y (call log (+ step 1)))");
    assert_eq!(s("log = 3"), "(let log 3)");
}

#[test]
fn every_and_repeat() {
    assert_eq!(
        s("every 500 steps { q_targ <- q }"),
        "(every 500 steps (<- q_targ q))"
    );
    assert_eq!(
        s("every 1 step after 1_000 { a = 1; b = 2 }"),
        "(every 1 step after 1000 (let a 1) (let b 2))"
    );
    assert_eq!(
        s("every n * 2 iterations after warmup + 1 {\n  log x = 1\n}"),
        "(every (* n 2) iterations after (+ warmup 1) (log x=1))"
    );
    assert_eq!(s("every 5 steps\n{\n}"), "(every 5 steps)");
    assert_eq!(
        s("repeat 50 { b = data.sample(256) }"),
        "(repeat 50 (let b (call (. data sample) 256)))"
    );
    assert_eq!(
        s("repeat n {\n  a = 1\n\n  b = 2\n}"),
        "(repeat n (let a 1) (let b 2))"
    );
    // A trailing bare expression stays a statement in statement bodies.
    assert_eq!(s("repeat 2 { f(x) }"), "(repeat 2 (call f x))");
    assert_eq!(
        s("for mb in minibatches(batch, 4) {\n  minimize l(mb) with opt\n}"),
        "(for mb (call minibatches batch 4) (minimize (call l mb) with opt))"
    );
    assert!(rlp_syntax::parse("for = 1").is_err(), "`for` is a keyword");
}

#[test]
fn separators() {
    assert_eq!(all("a = 1; b = 2;c = 3"), "(let a 1)\n(let b 2)\n(let c 3)");
    assert_eq!(
        all("\n\n# c\n;\na = 1\n\n\n;;\nb = 2\n\n"),
        "(let a 1)\n(let b 2)"
    );
    assert!(rlp_syntax::parse("a = 1 b = 2").is_err());
}

// ---- items ----

#[test]
fn uses() {
    assert_eq!(all("use std.env.cartpole"), "(use std.env.cartpole)");
    assert_eq!(
        all("use std.estimators.{gae, reward_to_go}"),
        "(use std.estimators {gae reward_to_go})"
    );
    assert_eq!(
        all("use std.estimators.{\n  gae,\n  reward_to_go,\n}"),
        "(use std.estimators {gae reward_to_go})"
    );
    assert_eq!(
        all("use \"./my_estimators.rlp\""),
        "(use \"./my_estimators.rlp\")"
    );
    assert_eq!(
        all("use \"./mine.rlp\".{a, b}"),
        "(use \"./mine.rlp\" {a b})"
    );
    let src = "use \"./mine.rlp\".{a}  # x";
    let m = parse_ok(src);
    let Item::Use(u) = &m.items[0] else { panic!() };
    assert_eq!(&src[u.span.range()], "use \"./mine.rlp\".{a}");
    let UseTarget::File { span, .. } = &u.target else {
        panic!()
    };
    assert_eq!(&src[span.range()], "\"./mine.rlp\"");
}

#[test]
fn functions() {
    assert_eq!(all("fn f() {}"), "(fn f () {})");
    assert_eq!(all("fn f(x) { x }"), "(fn f (x) {=> x})");
    assert_eq!(
        all("pub fn f(x: f32, y = 2, z: int = 3,) -> f32 { x }"),
        "(pub fn f (x:f32 y=2 z:int=3) -> f32 {=> x})"
    );
    assert_eq!(
        all("fn f(\n  x,\n  y\n) ->\n  [T, N]\n{\n  x\n}"),
        "(fn f (x y) -> [T, N] {=> x})"
    );
    assert_eq!(
        all("fn f() -> [N] bool { y = 1\n  y }"),
        "(fn f () -> [N] bool {(let y 1) => y})"
    );
}

#[test]
fn doc_comments() {
    let src = "/// First line.\n///   indented\n///\n/// Last.\npub fn f() {}\n";
    assert_eq!(
        all(src),
        "(doc \"First line.\\n  indented\\n\\nLast.\" pub fn f () {})"
    );
    assert_eq!(
        all("/// The env.\nenv = cartpole()"),
        "(doc \"The env.\" let env (call cartpole))"
    );
    assert_eq!(
        all("  /// Indented.\n  x = 1"),
        "(doc \"Indented.\" let x 1)"
    );
    assert_eq!(
        all("///No space.\nfn f() {}"),
        "(doc \"No space.\" fn f () {})"
    );
    assert_eq!(
        all("/// a\r\n/// b\r\nfn f() {}"),
        "(doc \"a\\nb\" fn f () {})"
    );
    // Only lines directly above count.
    assert_eq!(all("/// Detached.\n\nfn f() {}"), "(fn f () {})");
    assert_eq!(all("/// Not this.\n# plain\nfn f() {}"), "(fn f () {})");
    assert_eq!(all("x = 1; y = 2"), "(let x 1)\n(let y 2)");
    assert_eq!(
        all("/// A.\nx = 1; y = 2"),
        "(doc \"A.\" let x 1)\n(let y 2)"
    );
    // A plain comment is not a doc comment; `///` after code is a comment.
    assert_eq!(all("# Not docs.\nx = 1  /// trailing"), "(let x 1)");
    // Doc comments elsewhere are accepted and ignored.
    assert_eq!(
        all("/// loop\ntrain steps: 1 {\n  /// inner\n  x = 1\n}"),
        "(train steps 1 (let x 1))"
    );
    assert_eq!(all("fn f() {}\n/// dangling"), "(fn f () {})");
}

#[test]
fn train() {
    assert_eq!(
        all("train iterations: 200 { x = 1 }"),
        "(train iterations 200 (let x 1))"
    );
    assert_eq!(
        all("train steps: 100_000 {\n  sample a = 1\n  fit b = 2\n}"),
        "(train steps 100000 (sample (let a 1)) (fit (let b 2)))"
    );
    assert_eq!(all("train steps: n * 2\n{\n}"), "(train steps (* n 2))");
}

#[test]
fn top_level_statements_of_every_kind() {
    let src = "x = 1\nq <- p\nn += 1\nminimize l with o\nsample a = 1\nlog a = 1\nevery 1 step { }\nrepeat 1 { }\nf(x)";
    assert_eq!(
        all(src),
        "(let x 1)\n(<- q p)\n(+= n 1)\n(minimize l with o)\n(sample (let a 1))\n(log a=1)\n(every 1 step)\n(repeat 1)\n(call f x)"
    );
}

#[test]
fn comments_and_whitespace_anywhere() {
    let src = "x = f(a, # first\n      b) # call\n\ty\t=\t2\t# tabs\n";
    assert_eq!(all(src), "(let x (call f a b))\n(let y 2)");
    let m = parse_ok(src);
    let Item::Stmt(st) = &m.items[0] else {
        panic!()
    };
    assert_eq!(&src[st.span.range()], "x = f(a, # first\n      b)");
}
