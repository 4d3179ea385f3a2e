//! The checker's diagnostics as LSP diagnostics: `rlpc check` on the editor's text.

use super::stdlib_files;
use super::text::{LineIndex, path_to_uri};
use crate::diag::{Diag, FileId, Severity, SourceMap};
use lsp_types::{
    Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString,
    Position, Range, Uri,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// What checking a document gave.
pub struct Checked {
    pub diagnostics: Vec<Diagnostic>,
    /// The program's plain-data top-level bindings as resolved (for hover), when it
    /// compiled.
    pub hyperparameters: Vec<(String, serde_json::Value)>,
}

/// Checks `text`, the contents of the document `uri` at `path` (none for an unsaved
/// buffer), reading the files it uses from `unsaved` (the editor's other buffers) when
/// there. `stdlib` is where stdlib files are written, for locations inside them.
pub fn check(
    path: Option<&Path>,
    uri: &str,
    text: &str,
    unsaved: &HashMap<PathBuf, String>,
    stdlib: Option<&Path>,
) -> Checked {
    let result = match path {
        Some(p) => crate::check_text_at(p, text, unsaved, 0),
        None => crate::check_source(uri, text, 0),
    };
    let main_name = path.map_or_else(|| uri.to_string(), |p| p.display().to_string());
    let (diags, sources, hyperparameters) = match result {
        Ok((crate::Checked::Program(p), sources)) => (p.warnings, sources, p.hyperparameters),
        Ok((crate::Checked::Library(_), sources)) => (Vec::new(), sources, Vec::new()),
        Err((diags, sources)) => (diags, sources, Vec::new()),
    };
    let conv = Converter {
        sources: &sources,
        main_name: &main_name,
        main_uri: uri,
        main_text: text,
        stdlib,
        base: path.and_then(Path::parent),
    };
    Checked {
        diagnostics: diags.iter().map(|d| conv.diagnostic(d)).collect(),
        hyperparameters,
    }
}

struct Converter<'a> {
    sources: &'a SourceMap,
    main_name: &'a str,
    main_uri: &'a str,
    main_text: &'a str,
    stdlib: Option<&'a Path>,
    /// The document's directory, for relative file names.
    base: Option<&'a Path>,
}

impl Converter<'_> {
    fn is_main(&self, f: FileId) -> bool {
        self.sources.name(f) == self.main_name
    }

    /// Where a file of the source map is on disk.
    fn file_path(&self, f: FileId) -> Option<PathBuf> {
        let name = self.sources.name(f);
        if let Some(module) = stdlib_files::module_of_source_name(name) {
            return Some(stdlib_files::module_file(self.stdlib?, &module));
        }
        if name.starts_with('<') {
            return None;
        }
        let p = PathBuf::from(name);
        Some(super::text::normalize(&match self.base {
            Some(b) if p.is_relative() => b.join(p),
            _ => p,
        }))
    }

    fn range_in(&self, f: FileId, span: rlp_syntax::ast::Span) -> Range {
        let text: &str = if self.is_main(f) {
            self.main_text
        } else {
            self.sources.text(f)
        };
        LineIndex::new(text).range(span.start as usize, span.end as usize)
    }

    fn diagnostic(&self, d: &Diag) -> Diagnostic {
        let primary = d.labels.iter().find(|l| self.is_main(l.loc.file));
        let range = match primary {
            Some(l) => self.range_in(l.loc.file, l.loc.span),
            None => self.fallback_range(d),
        };
        let mut message = d.message.clone();
        // A diagnostic that happened elsewhere says where, in its own text too.
        if primary.is_none()
            && let Some(l) = d.labels.first()
        {
            message.push_str(&format!("\n(in {})", self.sources.describe(l.loc)));
        }
        // The primary label's words (`not defined`) follow the message; the other labels
        // become related information.
        if let Some(l) = primary
            && !l.text.is_empty()
            && l.text != d.message
        {
            message.push('\n');
            message.push_str(&l.text);
        }
        if let Some(h) = &d.help {
            message.push_str("\nhelp: ");
            message.push_str(h);
        }
        let related: Vec<DiagnosticRelatedInformation> = d
            .labels
            .iter()
            .filter(|l| !primary.is_some_and(|p| std::ptr::eq(*l, p)))
            .filter_map(|l| {
                let uri = if self.is_main(l.loc.file) {
                    self.main_uri.to_string()
                } else {
                    path_to_uri(&self.file_path(l.loc.file)?)
                };
                let uri = Uri::from_str(&uri).ok()?;
                let text = if l.text.is_empty() {
                    "here".to_string()
                } else {
                    l.text.clone()
                };
                Some(DiagnosticRelatedInformation {
                    location: Location::new(uri, self.range_in(l.loc.file, l.loc.span)),
                    message: text,
                })
            })
            .collect();
        Diagnostic {
            range,
            severity: Some(match d.severity {
                Severity::Error => DiagnosticSeverity::ERROR,
                Severity::Warning => DiagnosticSeverity::WARNING,
            }),
            code: Some(NumberOrString::String(format!("rlp::{}", d.code))),
            code_description: None,
            source: Some("rlpc".to_string()),
            message,
            related_information: (!related.is_empty()).then_some(related),
            tags: None,
            data: None,
        }
    }

    /// Where a diagnostic with no location in this file is shown: at the `use` of the
    /// user module it happened in, else at the top.
    fn fallback_range(&self, d: &Diag) -> Range {
        let top = Range::new(Position::new(0, 0), Position::new(0, 0));
        let Some(l) = d.labels.first() else {
            return top;
        };
        let Some(file) = self.file_path(l.loc.file) else {
            return top;
        };
        let Some(stem) = file.file_name().map(|s| s.to_string_lossy().into_owned()) else {
            return top;
        };
        let Ok(m) = rlp_syntax::parse(self.main_text) else {
            return top;
        };
        for item in &m.items {
            if let rlp_syntax::ast::Item::Use(u) = item
                && let rlp_syntax::ast::UseTarget::File { path, span } = &u.target
                && Path::new(path).file_name().map(|s| s.to_string_lossy())
                    == Some(stem.as_str().into())
            {
                return LineIndex::new(self.main_text)
                    .range(span.start as usize, span.end as usize);
            }
        }
        top
    }
}
