; Syntax highlighting for .rlp.
;
; Editors disagree on which of two patterns capturing the same node wins: the first one
; for the tree-sitter CLI and Helix, the last one for Neovim. So patterns here overlap
; as little as possible; where they must (a field name that is called, `x.f(a)`), the
; specific pattern comes first and carries a higher Neovim priority.

; Comments
(doc_comment) @comment.documentation
(comment) @comment

; Literals
(number) @number
(boolean) @boolean
(string) @string
(escape_sequence) @string.escape

; Keywords
[
  "use"
] @keyword.import

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
] @keyword.repeat

[
  "if"
  "then"
  "else"
] @keyword.conditional

[
  "and"
  "or"
  "not"
] @keyword.operator

; `sample`, `fit`, `improve` open the stages of a train block.
(stage_label) @label

; The unit of `every K steps`.
(every_statement
  unit: (identifier) @keyword.repeat)

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
  name: (identifier) @property)

(train_declaration
  setting: (identifier) @property)

; Calls: `f(x)`, `x.f(a)`
(call
  function: (identifier) @function.call)

((call
  function: (field_expression
    field: (field_identifier) @function.method.call))
  (#set! priority 105))

(field_expression
  field: (field_identifier) @property)

; Keyword arguments and record fields
(argument
  name: (identifier) @variable.parameter)

(field_initializer
  name: (identifier) @property)

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
  (identifier) @module)

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
