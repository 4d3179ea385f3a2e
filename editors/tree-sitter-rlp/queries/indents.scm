; Indentation, in nvim-treesitter's capture names: a line inside one of these nodes is
; indented one level past the line the node starts on, and the closing bracket lines
; up with that line again.
[
  (block)
  (record)
  (list)
  (arguments)
  (parameters)
  (carries)
  (use_list)
  (tuple)
  (parenthesized_expression)
] @indent.begin

[
  "}"
  ")"
  "]"
] @indent.branch @indent.end

; A statement broken after an operator, `=` or `->` goes on one level in.
[
  (binary_expression)
  (let_statement)
  (lambda)
] @indent.begin

(comment) @indent.auto
(doc_comment) @indent.auto
