; Syntax highlighting for .rlp in Helix's scope names (the same patterns as
; ../highlights.scm, which uses nvim-treesitter's names). Helix takes the first pattern
; that matches a node, so specific patterns come before general ones.

; Comments
(doc_comment) @comment.line.documentation
(comment) @comment.line

; Literals
(number) @constant.numeric
(boolean) @constant.builtin.boolean
(string) @string
(escape_sequence) @constant.character.escape

; Keywords
[
  "use"
] @keyword.control.import

[
  "fn"
  "pub"
] @keyword.function

[
  "train"
  "minimize"
  "wrt"
  "with"
  "log"
  "scan"
  "reverse"
] @keyword

[
  "every"
  "after"
  "repeat"
  "for"
  "in"
] @keyword.control.repeat

[
  "if"
  "then"
  "else"
] @keyword.control.conditional

[
  "and"
  "or"
  "not"
] @keyword.operator

; `sample`, `fit`, `improve` open the stages of a train block.
(stage_label) @label

; The unit of `every K steps`.
(every_statement
  unit: (identifier) @keyword.control.repeat)

; Definitions
(function_declaration
  name: (identifier) @function)

(parameter
  name: (identifier) @variable.parameter)

(carry
  name: (identifier) @variable)

(let_statement
  name: (identifier) @variable)

(for_statement
  variable: (identifier) @variable)

(scan_expression
  variable: (identifier) @variable)

(log_entry
  name: (identifier) @variable.other.member)

(train_declaration
  setting: (identifier) @variable.other.member)

; Calls: `f(x)`, `x.f(a)`
(call
  function: (identifier) @function)

(call
  function: (field_expression
    field: (field_identifier) @function.method))

(field_expression
  field: (field_identifier) @variable.other.member)

; Keyword arguments and record fields
(argument
  name: (identifier) @variable.parameter)

(field_initializer
  name: (identifier) @variable.other.member)

; Types: `int`, `[T, N] bool`
(type_identifier) @type

(tensor_type
  (dimension
    (identifier) @constant))

(scan_expression
  length: (dimension
    (identifier) @constant))

; Modules
(module_path
  (identifier) @namespace)

(use_list
  (identifier) @function)

; Operators and punctuation
[
  "+"
  "-"
  "*"
  "/"
  "%"
  "**"
  "@"
  "++"
  "=="
  "!="
  "<"
  "<="
  ">"
  ">="
  "="
  "<-"
  "+="
  "-="
  "*="
  "/="
  "->"
] @operator

[
  "("
  ")"
  "["
  "]"
  "{"
  "}"
] @punctuation.bracket

[
  ","
  "."
  ":"
  ";"
] @punctuation.delimiter
