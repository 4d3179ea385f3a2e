//! Diagnostics: what went wrong, where, and how to fix it.
//!
//! A [`Diag`] carries an error code (documented in `docs/errors.md`), a message,
//! labelled spans and an optional help line. Spans name their file through the
//! [`SourceMap`]; rendering goes through miette. No compiler logic lives here.

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};
use rlp_syntax::ast::Span;
use std::fmt;
use std::sync::Arc;

/// Index of a file in the [`SourceMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct FileId(pub u32);

/// A span in a particular file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Loc {
    pub file: FileId,
    pub span: Span,
}

impl Loc {
    pub fn new(file: FileId, span: Span) -> Loc {
        Loc { file, span }
    }
}

/// How the compiler names an embedded stdlib module's source: `std.env.cartpole` is
/// `<stdlib>/env/cartpole.rlp` (no user path starts with `<`).
pub const STDLIB_FILES: &str = "<stdlib>";

/// Every source the compiler has read: the user's files and the embedded stdlib.
#[derive(Default, Debug, Clone)]
pub struct SourceMap {
    files: Vec<(String, Arc<str>)>,
}

impl SourceMap {
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<Arc<str>>) -> FileId {
        self.files.push((name.into(), text.into()));
        FileId(self.files.len() as u32 - 1)
    }
    /// Every file, as `(name, text)`, in the order they were read.
    pub fn files(&self) -> impl Iterator<Item = (&str, &Arc<str>)> {
        self.files.iter().map(|(n, t)| (n.as_str(), t))
    }
    pub fn name(&self, f: FileId) -> &str {
        &self.files[f.0 as usize].0
    }
    pub fn text(&self, f: FileId) -> &Arc<str> {
        &self.files[f.0 as usize].1
    }
    /// Whether `f` is a stdlib module's source (see [`STDLIB_FILES`]).
    pub fn is_stdlib(&self, f: FileId) -> bool {
        self.name(f).starts_with(STDLIB_FILES)
    }
    /// `file:line:col` of a location, for plain-text runtime messages.
    pub fn describe(&self, loc: Loc) -> String {
        let text = self.text(loc.file);
        let upto = &text[..(loc.span.start as usize).min(text.len())];
        let line = upto.matches('\n').count() + 1;
        let col = upto.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("{}:{line}:{col}", self.name(loc.file))
    }
    /// The length in characters of the line a location starts on.
    pub fn line_length_at(&self, loc: Loc) -> usize {
        let text = self.text(loc.file);
        let at = (loc.span.start as usize).min(text.len());
        let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
        end - start
    }

    /// The source text a location covers.
    pub fn snippet(&self, loc: Loc) -> &str {
        let t = self.text(loc.file);
        t.get(loc.span.range()).unwrap_or("")
    }
}

/// One labelled span inside a diagnostic.
#[derive(Clone, Debug)]
pub struct Label {
    pub loc: Loc,
    pub text: String,
}

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Severity {
    /// Compiling stops.
    #[default]
    Error,
    /// The program compiles and runs, but probably not as meant; `check` and `run`
    /// print it first.
    Warning,
}

/// A compile-time error or warning.
#[derive(Clone, Debug)]
pub struct Diag {
    pub code: &'static str,
    pub message: String,
    pub labels: Vec<Label>,
    pub help: Option<String>,
    pub severity: Severity,
}

impl Diag {
    pub fn new(code: &'static str, message: impl Into<String>) -> Diag {
        Diag {
            code,
            message: message.into(),
            labels: vec![],
            help: None,
            severity: Severity::Error,
        }
    }
    /// A warning: reported, but compiling goes on.
    pub fn warning(code: &'static str, message: impl Into<String>) -> Diag {
        Diag {
            severity: Severity::Warning,
            ..Diag::new(code, message)
        }
    }
    /// Adds a labelled span; the first label decides which file the report shows.
    pub fn label(mut self, loc: Loc, text: impl Into<String>) -> Diag {
        self.labels.push(Label {
            loc,
            text: text.into(),
        });
        self
    }
    pub fn help(mut self, help: impl Into<String>) -> Diag {
        self.help = Some(help.into());
        self
    }
    /// Ready to render: the labels are split per file (miette shows one source per
    /// report; labels in other files become related reports).
    pub fn report(&self, sources: &SourceMap) -> Report {
        let mut files: Vec<FileId> = Vec::new();
        for l in &self.labels {
            if !files.contains(&l.loc.file) {
                files.push(l.loc.file);
            }
        }
        // The user's own file leads; stdlib locations follow as related reports.
        files.sort_by_key(|&f| sources.is_stdlib(f));
        let part = |f: FileId| -> Vec<LabeledSpan> {
            self.labels
                .iter()
                .filter(|l| l.loc.file == f)
                .map(|l| {
                    let text = sources.text(f);
                    let start = (l.loc.span.start as usize).min(text.len());
                    let len = l.loc.span.len().min(text.len() - start);
                    LabeledSpan::new(Some(l.text.clone()).filter(|t| !t.is_empty()), start, len)
                })
                .collect()
        };
        let source =
            |f: FileId| CharColumns(NamedSource::new(sources.name(f), sources.text(f).clone()));
        let related = files
            .iter()
            .skip(1)
            .map(|&f| Report {
                code: None,
                severity: Severity::Error,
                message: format!("in {}", sources.name(f)),
                labels: part(f),
                source: Some(source(f)),
                help: None,
                related: vec![],
            })
            .collect();
        Report {
            code: Some(self.code),
            severity: self.severity,
            message: self.message.clone(),
            labels: files.first().map(|&f| part(f)).unwrap_or_default(),
            source: files.first().map(|&f| source(f)),
            help: self.help.clone(),
            related,
        }
    }
}

/// A diagnostic bound to its source text, implementing [`miette::Diagnostic`].
#[derive(Debug)]
pub struct Report {
    code: Option<&'static str>,
    severity: Severity,
    message: String,
    labels: Vec<LabeledSpan>,
    source: Option<CharColumns>,
    help: Option<String>,
    related: Vec<Report>,
}

/// A file's text for miette, reporting columns in characters: miette counts a span's
/// column in bytes, so the `file:line:col` it prints after a `λ` or a `γ` on the line
/// would be off by the extra bytes of each (editors, and `rlpc lsp`, count characters).
#[derive(Debug)]
struct CharColumns(NamedSource<Arc<str>>);

impl SourceCode for CharColumns {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let c = self
            .0
            .read_span(span, context_lines_before, context_lines_after)?;
        let text: &str = self.0.inner();
        let at = c.span().offset().min(text.len());
        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let column = text
            .get(line_start..at)
            .map_or(c.column(), |s| s.chars().count());
        Ok(Box::new(miette::MietteSpanContents::new_named(
            c.name().unwrap_or_default().to_string(),
            c.data(),
            *c.span(),
            c.line(),
            column,
            c.line_count(),
        )))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report {}

impl Diagnostic for Report {
    fn severity(&self) -> Option<miette::Severity> {
        // Related reports only show where something else was declared.
        if self.code.is_none() {
            Some(miette::Severity::Advice)
        } else if self.severity == Severity::Warning {
            Some(miette::Severity::Warning)
        } else {
            None
        }
    }
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.code
            .map(|c| Box::new(format!("rlp::{c}")) as Box<dyn fmt::Display>)
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            None
        } else {
            Some(Box::new(self.labels.iter().cloned()))
        }
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(self.related.iter().map(|r| r as &dyn Diagnostic)))
        }
    }
}

/// Renders diagnostics as plain text (no colour, fixed width): what `rlpc check`
/// prints when not on a terminal, and what snapshot tests compare.
pub fn render_plain(diags: &[Diag], sources: &SourceMap) -> String {
    render_with(
        diags,
        sources,
        miette::GraphicalTheme::unicode_nocolor(),
        Some(100),
    )
}

/// Renders for a terminal (colours when stderr is a tty).
pub fn render_fancy(diags: &[Diag], sources: &SourceMap) -> String {
    use std::io::IsTerminal;
    let theme = if std::io::stderr().is_terminal() {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    render_with(diags, sources, theme, None)
}

/// Source lines longer than this are not drawn: the snippet would be unreadable, and
/// the graphical renderer cannot pad to such columns.
const MAX_DRAWN_COLUMN: usize = 2_000;

fn render_with(
    diags: &[Diag],
    sources: &SourceMap,
    theme: miette::GraphicalTheme,
    width: Option<usize>,
) -> String {
    let mut handler = miette::GraphicalReportHandler::new_themed(theme);
    if let Some(w) = width {
        handler = handler.with_width(w);
    }
    let mut out = String::new();
    for d in diags {
        if d.labels
            .iter()
            .any(|l| sources.line_length_at(l.loc) > MAX_DRAWN_COLUMN)
        {
            out.push_str(&render_compact(d, sources));
        } else {
            let _ = handler.render_report(&mut out, &d.report(sources));
        }
        out.push('\n');
    }
    out
}

/// One line per label, `file:line:col: text`, for sources too wide to draw.
fn render_compact(d: &Diag, sources: &SourceMap) -> String {
    let mark = match d.severity {
        Severity::Error => '×',
        Severity::Warning => '⚠',
    };
    let mut s = format!("rlp::{}\n\n  {mark} {}\n", d.code, d.message);
    for l in &d.labels {
        s.push_str(&format!("  at {}: {}\n", sources.describe(l.loc), l.text));
    }
    if let Some(h) = &d.help {
        s.push_str(&format!("  help: {h}\n"));
    }
    s
}

/// The closest candidate to `name` by edit distance, if it is close enough to be a
/// likely typo: one edit per three characters, and at least one (a swap of two
/// neighbouring characters is one edit, so `gea` finds `gae`).
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|&(d, c)| d <= limit && c != name)
        .min()
        .map(|(_, c)| c)
}

/// Insertions, deletions, substitutions and swaps of adjacent characters needed to turn
/// `a` into `b` (the "optimal string alignment" distance: no character is edited twice).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Rows i-2, i-1 and i of the table, each indexed by j in 0..=b.len().
    let mut before: Vec<usize> = Vec::new();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 0..a.len() {
        let mut cur = vec![i + 1; b.len() + 1];
        for j in 0..b.len() {
            cur[j + 1] = (prev[j] + usize::from(a[i] != b[j]))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
            if i > 0 && j > 0 && a[i] == b[j - 1] && a[i - 1] == b[j] {
                cur[j + 1] = cur[j + 1].min(before[j - 1] + 1);
            }
        }
        before = std::mem::replace(&mut prev, cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_pick_close_names_only() {
        assert_eq!(
            did_you_mean("reward_to_og", ["reward_to_go", "gae"]),
            Some("reward_to_go")
        );
        assert_eq!(did_you_mean("xyz", ["reward_to_go", "gae"]), None);
    }

    #[test]
    fn a_swap_of_neighbours_is_one_edit_so_short_names_find_theirs() {
        let names = [
            "gae",
            "td_lambda",
            "mean",
            "adam",
            "rollout",
            "normalize",
            "sum",
            "exp",
        ];
        for (typo, meant) in [
            ("gea", "gae"),
            ("age", "gae"),
            ("mena", "mean"),
            ("adma", "adam"),
            ("rollotu", "rollout"),
            ("normalzie", "normalize"),
            ("smu", "sum"),
            ("epx", "exp"),
        ] {
            assert_eq!(did_you_mean(typo, names), Some(meant), "{typo}");
        }
        // Still only close names.
        assert_eq!(did_you_mean("eag", names), None);
        assert_eq!(did_you_mean("xy", names), None);
    }

    #[test]
    fn edit_distance_counts_each_kind_of_edit_once() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("", "ab"), 2);
        assert_eq!(edit_distance("gae", "gea"), 1);
        assert_eq!(edit_distance("abcd", "badc"), 2);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("ca", "abc"), 3);
    }
}
