//! Positions and addresses: byte offsets ↔ LSP positions (lines and UTF-16 code units),
//! and `file://` URIs ↔ paths.

use lsp_types::{Position, Range};
use std::path::{Path, PathBuf};

/// Where each line of a text starts, for converting between byte offsets and positions.
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> LineIndex<'a> {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    /// The byte range of line `line` without its terminator (`\n` or `\r\n`).
    fn line_range(&self, line: usize) -> (usize, usize) {
        let start = self.starts[line];
        let mut end = self
            .starts
            .get(line + 1)
            .map_or(self.text.len(), |&next| next - 1);
        if end > start && self.text.as_bytes()[end - 1] == b'\r' {
            end -= 1;
        }
        (start, end)
    }

    /// The position of a byte offset (clamped to the text, moved back to a character
    /// boundary); the column counts UTF-16 code units, as LSP wants by default.
    pub fn position(&self, offset: usize) -> Position {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let (start, end) = self.line_range(line);
        let upto = &self.text[start..offset.min(end).max(start)];
        let col: usize = upto.chars().map(char::len_utf16).sum();
        Position::new(line as u32, col as u32)
    }

    /// The byte offset of a position; a line past the end gives the end of the text and
    /// a column past the end of its line the end of the line (as the protocol says). A
    /// column inside a surrogate pair rounds down to the character.
    pub fn offset(&self, pos: Position) -> usize {
        let line = pos.line as usize;
        if line >= self.starts.len() {
            return self.text.len();
        }
        let (start, end) = self.line_range(line);
        let mut units = 0usize;
        for (i, c) in self.text[start..end].char_indices() {
            let next = units + c.len_utf16();
            if next > pos.character as usize {
                return start + i;
            }
            units = next;
        }
        end
    }

    pub fn range(&self, start: usize, end: usize) -> Range {
        Range::new(self.position(start), self.position(end.max(start)))
    }

    /// The range of the whole text.
    pub fn whole(&self) -> Range {
        self.range(0, self.text.len())
    }
}

/// The path a `file:` URI names, if it is one.
pub fn uri_to_path(uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("file://")?;
    // `file:///abs/path` or `file://host/path`: keep the path part only (a host other than
    // localhost cannot be read as a local path).
    let path_part = match rest.find('/') {
        Some(0) => rest,
        Some(i) if matches!(&rest[..i], "localhost") => &rest[i..],
        _ => return None,
    };
    let path_part = path_part.split(['?', '#']).next().unwrap_or("");
    let decoded = percent_decode(path_part)?;
    // `/C:/dir` on Windows.
    let b = decoded.as_bytes();
    if cfg!(windows) && b.len() >= 3 && b[0] == b'/' && b[1].is_ascii_alphabetic() && b[2] == b':' {
        return Some(PathBuf::from(&decoded[1..]));
    }
    Some(PathBuf::from(decoded))
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The `file://` URI of a path (made absolute against the working directory).
pub fn path_to_uri(path: &Path) -> String {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    let s = abs.to_string_lossy().replace('\\', "/");
    let mut out = String::from("file://");
    if !s.starts_with('/') {
        out.push('/');
    }
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || b"/-._~:".contains(&c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// `path` with `.` and `..` components folded away (without touching the file system), so
/// that the same file reached along two paths has one name.
pub fn normalize(path: &Path) -> PathBuf {
    crate::sema::modules::fold_dots(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_utf16_units() {
        let text = "a = 1\nθ = \"😀\" + b\r\nlast";
        let ix = LineIndex::new(text);
        let b = text.find('b').unwrap();
        // θ is one unit, the emoji two.
        assert_eq!(ix.position(b), Position::new(1, 11));
        assert_eq!(ix.offset(Position::new(1, 11)), b);
        // Past the end of a line: its end, before the `\r\n`.
        assert_eq!(ix.offset(Position::new(1, 99)), text.find("\r\n").unwrap());
        assert_eq!(ix.offset(Position::new(9, 0)), text.len());
        assert_eq!(ix.position(text.len()), Position::new(2, 4));
        // Inside the surrogate pair: the emoji's start.
        let emoji = text.find('😀').unwrap();
        assert_eq!(ix.offset(Position::new(1, 5)), emoji);
        assert_eq!(ix.offset(Position::new(1, 6)), emoji);
        assert_eq!(ix.offset(Position::new(1, 7)), emoji + 4);
        // An offset inside a character rounds down.
        assert_eq!(ix.position(emoji + 1), Position::new(1, 5));
    }

    #[test]
    fn uris_round_trip() {
        let p = Path::new("/tmp/a dir/ü.rlp");
        let u = path_to_uri(p);
        assert_eq!(u, "file:///tmp/a%20dir/%C3%BC.rlp");
        assert_eq!(uri_to_path(&u).unwrap(), p);
        assert_eq!(uri_to_path("untitled:Untitled-1"), None);
        assert_eq!(uri_to_path("file:///x/%zz"), None);
    }

    #[test]
    fn normalize_folds_dots() {
        assert_eq!(
            normalize(Path::new("/a/./b/../c.rlp")),
            Path::new("/a/c.rlp")
        );
    }
}
