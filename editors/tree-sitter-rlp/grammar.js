/**
 * @file Tree-sitter grammar for `.rlp`, the rlpc pipeline language.
 * @license MIT OR Apache-2.0
 *
 * The authoritative grammar is the pest grammar in `grammar/src/rlp.pest`; this one is
 * written to accept every program that one accepts and to give editors a tree to
 * highlight, fold and indent. Where the two differ, this one is the more permissive.
 *
 * Newlines. A newline ends a statement, except where the statement cannot end yet
 * (after an operator, `=`, `->`, `then`, `else`, inside brackets, ...). The external
 * scanner (src/scanner.c) turns a line break into a `_newline` token exactly when the
 * parser could take one (a statement could end there); everywhere else the line break
 * is skipped as whitespace. That is the pest grammar's rule, "a newline is only ever
 * skipped where the construct cannot end yet", stated the other way round.
 *
 * Expressions. pest parses them flat and `parser.rs` folds them by precedence; here the
 * precedences are declared. `if c then a else b`, lambdas and ranges (`a -> b`) reach
 * as far right as the expression goes.
 *
 * Words. Keywords are reserved, except that any word may be a keyword-argument or
 * record-field name (`sample: () -> ...`, `f(with: 1)`) or follow a `.`; `log` starts a
 * `log` statement but is also the ordinary function `log(x)`.
 */

/// <reference types="tree-sitter-cli/dsl" />
// @ts-check

const PREC = {
  arrow: -1, // lambdas, ranges and `if`: as far right as possible
  or: 1,
  and: 2,
  not: 3,
  compare: 4,
  concat: 5,
  add: 6,
  mul: 7,
  unary: 8,
  power: 9,
  postfix: 10,
  // An operand taken as a whole expression: lower than a range's `->`, so that
  // `if c then a else 0 -> 1` shifts the `->` into the `else` arm.
  operand_as_expression: -2,
};

// Words with a meaning of their own. Any of them may name a keyword argument or a
// record field.
const KEYWORDS = [
  'use', 'fn', 'pub', 'train', 'sample', 'fit', 'improve', 'every', 'after', 'repeat',
  'for', 'minimize', 'wrt', 'with', 'scan', 'reverse', 'in', 'if', 'then', 'else',
  'and', 'or', 'not', 'true', 'false', 'log',
];

/**
 * One or more `rule`s separated by commas, with an optional trailing comma.
 * @param {RuleOrLiteral} rule
 */
function commaSep1(rule) {
  return seq(rule, repeat(seq(',', rule)), optional(','));
}

/**
 * Zero or more `rule`s separated by commas, with an optional trailing comma.
 * @param {RuleOrLiteral} rule
 */
function commaSep(rule) {
  return optional(commaSep1(rule));
}

module.exports = grammar({
  name: 'rlp',

  externals: $ => [
    $._newline,
    // Never produced: the scanner sees it valid only during error recovery.
    $._error_sentinel,
  ],

  // Line breaks the scanner did not turn into `_newline` are plain whitespace.
  extras: $ => [/[ \t\r\n\f]/, $.comment, $.doc_comment],

  word: $ => $.identifier,

  conflicts: $ => [
    // `(a, b)` is a tuple, unless `->` follows: then it is a parameter list.
    [$._name_expression, $.parameter],
    [$._name_expression, $._lambda_parameter],
    // `{}` and `{` followed by line breaks and `}`: a record or an empty block.
    [$.block, $.record],
  ],

  rules: {
    // A module: items separated by line breaks or `;`.
    source_file: $ => seq(
      optional($._separator),
      repeat(seq($._item, $._separator)),
      optional($._item),
    ),

    _separator: $ => repeat1(choice($._newline, ';')),

    _item: $ => choice(
      $.use_declaration,
      $.function_declaration,
      $.train_declaration,
      $._statement,
    ),

    // ---------------------------------------------------------------------------------
    // Items

    // `use std.estimators.{gae, reward_to_go}`, `use std.env.cartpole`,
    // `use "./mine.rlp".{f}`
    use_declaration: $ => seq(
      'use',
      field('path', choice($.string, $.module_path)),
      optional(seq('.', field('names', $.use_list))),
    ),

    module_path: $ => choice(
      $.identifier,
      seq($.module_path, '.', $.identifier),
    ),

    use_list: $ => seq('{', commaSep1($.identifier), '}'),

    // `pub fn name(params) -> type { body }`
    function_declaration: $ => seq(
      optional(field('visibility', $.visibility)),
      'fn',
      field('name', $._name),
      field('parameters', $.parameters),
      optional(seq('->', field('return_type', $._type))),
      field('body', $.block),
    ),

    visibility: _ => 'pub',

    parameters: $ => seq('(', commaSep($.parameter), ')'),

    // `x`, `x: [T, N] bool`, `gamma: float = 0.99`
    parameter: $ => seq(
      field('name', $._name),
      optional(seq(':', field('type', $._type))),
      optional(seq('=', field('default', $._expression))),
    ),

    // `train iterations: 200 { ... }`
    train_declaration: $ => seq(
      'train',
      field('setting', $.identifier),
      ':',
      field('value', $._expression),
      field('body', $.block),
    ),

    // ---------------------------------------------------------------------------------
    // Types

    _type: $ => choice($.tensor_type, $._type_identifier),

    _type_identifier: $ => alias($.identifier, $.type_identifier),

    // `[T, N]`, `[T+1, N] i32`, `[]`
    tensor_type: $ => seq(
      '[',
      commaSep($.dimension),
      ']',
      optional(field('dtype', $._type_identifier)),
    ),

    // `3`, `N`, `T + 1`, `2 * N`
    dimension: $ => seq(
      $._dimension_term,
      repeat(seq(choice('+', '-'), $._dimension_term)),
    ),

    _dimension_term: $ => choice(
      seq($.number, optional(seq('*', $.identifier))),
      seq($.identifier, optional(seq('*', $.number))),
    ),

    // ---------------------------------------------------------------------------------
    // Statements

    _statement: $ => choice(
      $.stage_statement,
      $._inner_statement,
    ),

    // What may follow a stage label: any statement but another label.
    _inner_statement: $ => choice(
      $.let_statement,
      $.minimize_statement,
      $.log_statement,
      $.every_statement,
      $.repeat_statement,
      $.for_statement,
      $.update_statement,
      $.expression_statement,
    ),

    block: $ => seq(
      '{',
      optional($._separator),
      repeat(seq($._statement, $._separator)),
      optional($._statement),
      '}',
    ),

    // `x = e`, `a, b = e1, e2`
    let_statement: $ => seq(
      field('name', $._name),
      repeat(seq(',', field('name', $._name))),
      '=',
      field('value', $._expression),
      repeat(seq(',', field('value', $._expression))),
    ),

    // `sample batch = rollout(...)`, `fit { ... }`
    // The block form is preferred to an expression statement made of a block or of an
    // empty record (`fit {}`).
    stage_statement: $ => choice(
      prec.dynamic(2, prec(1, seq(field('label', $.stage_label), field('body', $.block)))),
      seq(field('label', $.stage_label), field('body', $._inner_statement)),
    ),

    stage_label: _ => choice('sample', 'fit', 'improve'),

    // `minimize LOSS [wrt m, ...] with OPT`
    minimize_statement: $ => seq(
      'minimize',
      field('loss', $._expression),
      optional(seq(
        'wrt',
        field('wrt', $._expression),
        repeat(seq(',', field('wrt', $._expression))),
      )),
      'with',
      field('optimizer', $._expression),
    ),

    // `log name = scalar, ...`
    log_statement: $ => seq(
      'log',
      $.log_entry,
      repeat(seq(',', $.log_entry)),
    ),

    log_entry: $ => seq(
      field('name', $.identifier),
      '=',
      field('value', $._expression),
    ),

    // `every K steps [after M] { ... }`
    every_statement: $ => seq(
      'every',
      field('period', $._expression),
      field('unit', $.identifier),
      optional(seq('after', field('after', $._expression))),
      field('body', $.block),
    ),

    // `repeat N { ... }`
    repeat_statement: $ => seq(
      'repeat',
      field('count', $._expression),
      field('body', $.block),
    ),

    // `for x in LIST { ... }`
    for_statement: $ => seq(
      'for',
      field('variable', $._name),
      'in',
      field('iterable', $._expression),
      field('body', $.block),
    ),

    // `place <- value`, `x += e`
    update_statement: $ => seq(
      field('target', $._expression),
      field('operator', choice('<-', '+=', '-=', '*=', '/=')),
      field('value', $._expression),
    ),

    expression_statement: $ => $._expression,

    // ---------------------------------------------------------------------------------
    // Expressions

    _expression: $ => choice(
      $.lambda,
      $.range,
      prec(PREC.operand_as_expression, $._operand),
    ),

    // An operand of an operator: anything but a lambda or a range (which take
    // everything to their right).
    _operand: $ => choice(
      $.if_expression,
      $.binary_expression,
      $.unary_expression,
      $._primary,
    ),

    // `x -> body`, `(a, b) -> body`. Preferred to a range when both fit.
    lambda: $ => prec.dynamic(1, prec.right(PREC.arrow, seq(
      field('parameters', choice(alias($._lambda_name, $.parameters), $.parameters)),
      '->',
      field('body', $._expression),
    ))),

    // `x -> ...`: one parameter, without brackets.
    _lambda_name: $ => alias($._lambda_parameter, $.parameter),

    _lambda_parameter: $ => field('name', $._name),

    // `1.0 -> 0.05`: a range, used by schedules. Its start is everything since the
    // innermost `if ... else` or lambda head: `if c then a else x -> y` holds the range.
    range: $ => prec.right(PREC.arrow, seq(
      field('start', $._operand),
      '->',
      field('end', $._expression),
    )),

    // `if c then a else b`; the `else` arm reaches as far right as it can.
    if_expression: $ => prec.right(PREC.arrow, seq(
      'if',
      field('condition', $._expression),
      'then',
      field('consequence', $._expression),
      'else',
      field('alternative', $._expression),
    )),

    binary_expression: $ => {
      /** @type {[number, string | RuleOrLiteral, typeof prec.left][]} */
      const table = [
        [PREC.or, 'or', prec.left],
        [PREC.and, 'and', prec.left],
        [PREC.compare, choice('==', '!=', '<', '<=', '>', '>='), prec.left],
        [PREC.concat, '++', prec.left],
        [PREC.add, choice('+', '-'), prec.left],
        [PREC.mul, choice('*', '/', '%', '@'), prec.left],
        [PREC.power, '**', prec.right],
      ];
      return choice(...table.map(([p, op, assoc]) => assoc(p, seq(
        field('left', $._operand),
        field('operator', op),
        field('right', $._operand),
      ))));
    },

    unary_expression: $ => choice(
      prec(PREC.unary, seq(field('operator', '-'), field('operand', $._operand))),
      prec(PREC.not, seq(field('operator', 'not'), field('operand', $._operand))),
    ),

    _primary: $ => choice(
      $.number,
      $.string,
      $.boolean,
      $._name_expression,
      $.parenthesized_expression,
      $.tuple,
      $.list,
      $.record,
      $.block,
      $.scan_expression,
      $.call,
      $.index_expression,
      $.field_expression,
    ),

    _name_expression: $ => $._name,

    // `(e)`
    parenthesized_expression: $ => seq('(', $._expression, ')'),

    // `(a, b)`, `(a,)`
    tuple: $ => seq(
      '(',
      $._expression,
      choice(
        ',',
        seq(repeat1(seq(',', $._expression)), optional(',')),
      ),
      ')',
    ),

    list: $ => seq('[', commaSep($._expression), ']'),

    // `{ name: e, ... }`. An empty `{}` is a record (but a block where a block is
    // expected, as after a stage label); a `{` followed by a line break and `name:` too.
    record: $ => prec.dynamic(1, seq(
      '{',
      optional($._separator),
      commaSep($.field_initializer),
      '}',
    )),

    field_initializer: $ => seq(
      field('name', $._key),
      ':',
      field('value', $._expression),
    ),

    // `scan [reverse] t in T (c = init, ...) { ... }`
    scan_expression: $ => seq(
      'scan',
      optional(field('reverse', 'reverse')),
      field('variable', $._name),
      'in',
      field('length', $.dimension),
      field('carries', $.carries),
      field('body', $.block),
    ),

    carries: $ => seq('(', commaSep($.carry), ')'),

    carry: $ => seq(
      field('name', $._name),
      '=',
      field('value', $._expression),
    ),

    // `f(a, key: b)`
    call: $ => prec(PREC.postfix, seq(
      field('function', $._primary),
      field('arguments', $.arguments),
    )),

    arguments: $ => seq('(', commaSep($.argument), ')'),

    argument: $ => seq(
      optional(seq(field('name', $._key), ':')),
      field('value', $._expression),
    ),

    // `x[i]`, `x[1:]`, `x[:, 0]`
    index_expression: $ => prec(PREC.postfix, seq(
      field('value', $._primary),
      '[',
      commaSep1(field('index', choice($._expression, $.slice))),
      ']',
    )),

    slice: $ => choice(
      seq(':', optional(field('end', $._expression))),
      seq(field('start', $._expression), ':', optional(field('end', $._expression))),
    ),

    // `x.name`: any word, keywords included, may follow the dot.
    field_expression: $ => prec(PREC.postfix, seq(
      field('value', $._primary),
      '.',
      field('field', alias($.identifier, $.field_identifier)),
    )),

    // ---------------------------------------------------------------------------------
    // Words and literals

    // A name: an identifier, or `log`, which is a statement keyword only at the start
    // of a `log name = ...` statement.
    _name: $ => choice($.identifier, alias('log', $.identifier)),

    // The name before `:` in a keyword argument or a record field: any word.
    _key: $ => choice(
      $.identifier,
      alias(choice(...KEYWORDS), $.identifier),
    ),

    identifier: _ => /[A-Za-z_][A-Za-z0-9_]*/,

    // `200`, `1_000`, `0.99`, `1e-3`, `1.5e+2`. `1.` is the number 1 and a dot.
    number: _ => /[0-9][0-9_]*(\.[0-9][0-9_]*)?([eE][+-]?[0-9][0-9_]*)?/,

    boolean: _ => choice('true', 'false'),

    // A string never spans lines.
    string: $ => seq(
      '"',
      repeat(choice(
        alias(token.immediate(prec(3, /[^"\\\r\n]+/)), $.string_content),
        $.escape_sequence,
      )),
      token.immediate('"'),
    ),

    escape_sequence: _ => token.immediate(/\\[^\r\n]/),

    // `///` lines above a `fn` or a top-level binding are its documentation.
    doc_comment: _ => token(prec(2, seq('///', /[^\r\n]*/))),

    comment: _ => token(prec(1, seq('#', /[^\r\n]*/))),
  },
});
