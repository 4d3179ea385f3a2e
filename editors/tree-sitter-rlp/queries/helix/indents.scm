; Indentation for .rlp in Helix's capture names: a line inside one of these nodes is
; indented one level past the line the node starts on; a closing bracket is not.
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
] @indent

[
  "}"
  ")"
  "]"
] @outdent
