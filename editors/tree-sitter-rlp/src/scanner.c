// The external scanner of the `.rlp` grammar: significant line breaks.
//
// In `.rlp` a line break ends a statement, but only where a statement can end: after an
// operator, `=`, `->`, `then`, `else`, a comma or an opening bracket the line simply
// goes on (see the notes at the top of `grammar/src/rlp.pest`). The parser knows where
// a statement can end: exactly there the `_newline` token is valid. So this scanner
// turns a run of line breaks (with the blank space between them) into one `_newline`
// token when, and only when, the parser asks for one; otherwise it declines and the
// line break is skipped as whitespace (it is among the grammar's extras).
//
// A comment stops the run: the lexer reads the comment as an extra, and the line break
// after it is a `_newline` of its own (the grammar's separators are `repeat1`).
//
// The scanner keeps no state.

#include "tree_sitter/parser.h"

enum TokenType {
  NEWLINE,
  ERROR_SENTINEL,
};

void *tree_sitter_rlp_external_scanner_create(void) { return NULL; }

void tree_sitter_rlp_external_scanner_destroy(void *payload) { (void)payload; }

unsigned tree_sitter_rlp_external_scanner_serialize(void *payload, char *buffer) {
  (void)payload;
  (void)buffer;
  return 0;
}

void tree_sitter_rlp_external_scanner_deserialize(void *payload, const char *buffer,
                                                  unsigned length) {
  (void)payload;
  (void)buffer;
  (void)length;
}

static inline bool is_blank(int32_t c) { return c == ' ' || c == '\t' || c == '\f'; }

static inline bool is_line_break(int32_t c) { return c == '\n' || c == '\r'; }

bool tree_sitter_rlp_external_scanner_scan(void *payload, TSLexer *lexer,
                                           const bool *valid_symbols) {
  (void)payload;
  // During error recovery every token is valid, the sentinel included: let the
  // internal lexer skip line breaks then, so that recovery sees the next real token.
  if (valid_symbols[ERROR_SENTINEL] || !valid_symbols[NEWLINE]) {
    return false;
  }

  bool found = false;
  for (;;) {
    int32_t c = lexer->lookahead;
    if (is_blank(c)) {
      // Blanks before the first line break are not part of the token.
      lexer->advance(lexer, !found);
    } else if (is_line_break(c)) {
      lexer->advance(lexer, false);
      found = true;
      lexer->mark_end(lexer);
    } else {
      break;
    }
  }

  if (found) {
    lexer->result_symbol = NEWLINE;
    return true;
  }
  return false;
}
