; Folding: blocks, brackets spread over lines, and runs of documentation.
[
  (block)
  (record)
  (list)
  (arguments)
  (parameters)
  (carries)
  (use_list)
  (tensor_type)
] @fold

(doc_comment)+ @fold
