//! `rlpc lsp`: a language server over stdio (`docs/lsp.md`).
//!
//! Synchronous and single-threaded: one loop reads messages (framed by a reader thread)
//! and answers each in turn. Diagnostics come from the checker itself
//! ([`crate::check_text_at`]) on the editor's text, a short while after the last edit;
//! hover, definition and completion work on the syntax tree ([`scope`], [`index`]), so
//! they answer while the program has type errors, and while it does not parse (from the
//! text without the line being typed, or the last text that parsed). Formatting is
//! `rlpc fmt`'s.

mod complete;
mod diagnostics;
mod fields;
pub(crate) mod index;
mod nav;
mod scope;
pub mod stdlib_files;
pub mod text;

use index::{ModInfo, Origin, Stdlib, World};
use lsp_server::{ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::{
    CompletionOptions, CompletionResponse, DocumentSymbol, DocumentSymbolResponse,
    GotoDefinitionResponse, Hover, HoverContents, HoverProviderCapability, InitializeResult,
    Location, MarkupContent, MarkupKind, OneOf, Position, PositionEncodingKind,
    PublishDiagnosticsParams, SaveOptions, ServerCapabilities, ServerInfo, SymbolKind,
    TextDocumentSyncCapability, TextDocumentSyncKind, TextDocumentSyncOptions,
    TextDocumentSyncSaveOptions, TextEdit, Uri,
};
use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::rc::Rc;
use std::str::FromStr;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use text::LineIndex;

/// How long after the last edit a document is checked.
const DEBOUNCE: Duration = Duration::from_millis(100);
/// Checked at the latest this long after the first unchecked edit, however fast edits come.
const MAX_DELAY: Duration = Duration::from_millis(1000);
/// The largest message accepted (larger ones are skipped).
const MAX_MESSAGE: usize = 256 << 20;

/// Runs the server on stdin and stdout until `exit`; the process's exit code is 0 when
/// a `shutdown` came first, as the protocol says, and 1 otherwise.
pub fn run() -> i32 {
    let (tx, rx) = mpsc::channel();
    // The reader ends on its own at `exit` or the end of input.
    let reader = std::thread::Builder::new()
        .name("lsp-reader".into())
        .spawn(move || read_messages(std::io::stdin().lock(), tx));
    if let Err(e) = reader {
        eprintln!("rlpc lsp: cannot start the reader thread: {e}");
        return 1;
    }
    // The syntax walks recurse over the tree (as deep as the parser allows): give them
    // room.
    let main = std::thread::Builder::new()
        .name("lsp-main".into())
        .stack_size(256 << 20)
        .spawn(move || Server::new(Box::new(std::io::stdout())).serve(&rx));
    match main {
        Ok(h) => h.join().unwrap_or(1),
        Err(e) => {
            eprintln!("rlpc lsp: cannot start the server thread: {e}");
            1
        }
    }
}

/// Reads framed messages (`Content-Length: N\r\n\r\n` and N bytes of JSON) into `tx`. A
/// malformed message is reported on stderr and skipped; the end of input or an `exit`
/// ends it. After a message whose `Content-Length` was wrong, reading finds its footing
/// again at the next `Content-Length` header, even one glued to the end of a body.
pub fn read_messages(mut input: impl BufRead, tx: mpsc::Sender<Message>) {
    loop {
        let body = match read_frame(&mut input) {
            Ok(Some(b)) => b,
            Ok(None) => return,
            Err(e) => {
                eprintln!("rlpc lsp: {e}");
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    return;
                }
                continue;
            }
        };
        match serde_json::from_slice::<Message>(&body) {
            Ok(msg) => {
                let exit = matches!(&msg, Message::Notification(n) if n.method == "exit");
                if tx.send(msg).is_err() || exit {
                    return;
                }
            }
            Err(e) => eprintln!("rlpc lsp: skipping a malformed message: {e}"),
        }
    }
}

/// One message's body; `None` at the end of input.
fn read_frame(input: &mut impl BufRead) -> std::io::Result<Option<Vec<u8>>> {
    let bad = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
    let mut length: Option<usize> = None;
    let mut headers = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        // Header lines are short; a longer one is not a header.
        let n = std::io::Read::take(&mut *input, 4096).read_until(b'\n', &mut line)?;
        if n == 0 {
            return if length.is_none() {
                Ok(None)
            } else {
                Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "input ended inside a header",
                ))
            };
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if line.ends_with(b"\n") && length.is_some() {
                break;
            }
            if headers {
                return Err(bad("skipped a message with no Content-Length header".into()));
            }
            // A blank line before any header: skip it.
            continue;
        }
        headers = true;
        // The header's name may follow the rest of a body whose declared length was too
        // short: the last occurrence on the line counts (ASCII lowercasing keeps offsets).
        const NAME: &str = "content-length:";
        if let Some(at) = text.to_ascii_lowercase().rfind(NAME) {
            let value = text[at + NAME.len()..].trim();
            length = Some(
                value
                    .parse()
                    .map_err(|_| bad(format!("bad Content-Length `{value}`")))?,
            );
        }
    }
    let length = length.unwrap_or(0);
    if length > MAX_MESSAGE {
        // Skip the body without holding it.
        std::io::copy(
            &mut std::io::Read::take(&mut *input, length as u64),
            &mut std::io::sink(),
        )?;
        return Err(bad(format!(
            "skipped a message of {length} bytes (the limit is {MAX_MESSAGE})"
        )));
    }
    let mut body = vec![0; length];
    input.read_exact(&mut body)?;
    Ok(Some(body))
}

/// One open document.
struct Doc {
    path: Option<PathBuf>,
    text: String,
    version: i32,
    /// The text as a module (parsed once per edit).
    parsed: Rc<ModInfo>,
    /// The last text that parsed (maybe this one), for answers while the text does not.
    last_good: Option<Rc<ModInfo>>,
    /// The text with one line blanked, by that line's start (see [`Server::snapshot`]).
    blanked: Option<(usize, Rc<ModInfo>)>,
    /// The plain-data top-level bindings of the last successful check.
    hyperparameters: Vec<(String, serde_json::Value)>,
}

impl Doc {
    fn new(uri: &str, version: i32) -> Doc {
        let path = text::uri_to_path(uri).map(|p| text::normalize(&p));
        let origin = match &path {
            Some(p) => Origin::File(p.clone()),
            None => Origin::Buffer(uri.to_string()),
        };
        Doc {
            path,
            text: String::new(),
            version,
            parsed: Rc::new(ModInfo::new(origin, String::new())),
            last_good: None,
            blanked: None,
            hyperparameters: Vec::new(),
        }
    }
}

struct Server {
    out: Box<dyn Write>,
    initialized: bool,
    shutdown: bool,
    /// The output is gone (the client went away).
    closed: bool,
    docs: HashMap<String, Doc>,
    /// The texts of open documents with paths, which win over the files on disk when
    /// another document `use`s them.
    open_texts: HashMap<PathBuf, String>,
    /// Documents to check, and when the oldest unchecked edit happened.
    dirty: BTreeSet<String>,
    dirty_since: Option<Instant>,
    last_edit: Instant,
    stdlib: Stdlib,
    /// Where the stdlib copy is, once written (`None` inside: it could not be).
    stdlib_dir: Option<Option<PathBuf>>,
}

impl Server {
    fn new(out: Box<dyn Write>) -> Server {
        Server {
            out,
            initialized: false,
            shutdown: false,
            closed: false,
            docs: HashMap::new(),
            open_texts: HashMap::new(),
            dirty: BTreeSet::new(),
            dirty_since: None,
            last_edit: Instant::now(),
            stdlib: Stdlib::default(),
            stdlib_dir: None,
        }
    }

    /// The message loop; returns the exit code.
    fn serve(&mut self, rx: &mpsc::Receiver<Message>) -> i32 {
        while !self.closed {
            let msg = if self.dirty.is_empty() {
                match rx.recv() {
                    Ok(m) => m,
                    Err(_) => break,
                }
            } else {
                let now = Instant::now();
                let due =
                    (self.last_edit + DEBOUNCE).min(self.dirty_since.unwrap_or(now) + MAX_DELAY);
                match rx.recv_timeout(due.saturating_duration_since(now)) {
                    Ok(m) => m,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        self.flush();
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            };
            match msg {
                Message::Notification(n) if n.method == "exit" => {
                    return if self.shutdown { 0 } else { 1 };
                }
                Message::Request(req) => {
                    let id = req.id.clone();
                    let method = req.method.clone();
                    let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        self.request(req)
                    }));
                    let resp = answer.unwrap_or_else(|_| {
                        Response::new_err(
                            id,
                            ErrorCode::InternalError as i32,
                            format!("rlpc lsp: internal error answering `{method}`"),
                        )
                    });
                    self.send(Message::Response(resp));
                }
                Message::Notification(n) => {
                    let method = n.method.clone();
                    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        self.notification(n)
                    }))
                    .is_err()
                    {
                        eprintln!("rlpc lsp: internal error handling `{method}`");
                    }
                }
                // Answers to requests we never make.
                Message::Response(_) => {}
            }
        }
        // The input ended without `exit`.
        if self.shutdown { 0 } else { 1 }
    }

    fn send(&mut self, msg: Message) {
        if self.closed {
            return;
        }
        if let Err(e) = msg.write(&mut self.out) {
            eprintln!("rlpc lsp: cannot write a message: {e}");
            // Nobody is listening any more: stop.
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                self.closed = true;
            }
        }
    }

    fn request(&mut self, req: Request) -> Response {
        let id = req.id.clone();
        if req.method == "initialize" {
            if self.initialized {
                return err(
                    id,
                    ErrorCode::InvalidRequest,
                    "initialize was already received",
                );
            }
            self.initialized = true;
            return ok(id, initialize_result());
        }
        if !self.initialized {
            return err(
                id,
                ErrorCode::ServerNotInitialized,
                "the server is not initialized",
            );
        }
        if self.shutdown {
            return err(id, ErrorCode::InvalidRequest, "the server is shutting down");
        }
        match req.method.as_str() {
            "shutdown" => {
                self.shutdown = true;
                ok(id, serde_json::Value::Null)
            }
            "textDocument/hover" => with_params(id, req.params, |p: lsp_types::HoverParams| {
                let at = p.text_document_position_params;
                self.hover(at.text_document.uri.as_str(), at.position)
            }),
            "textDocument/definition" => {
                with_params(id, req.params, |p: lsp_types::GotoDefinitionParams| {
                    let at = p.text_document_position_params;
                    self.definition(at.text_document.uri.as_str(), at.position)
                })
            }
            "textDocument/completion" => {
                with_params(id, req.params, |p: lsp_types::CompletionParams| {
                    let at = p.text_document_position;
                    self.completion(at.text_document.uri.as_str(), at.position)
                })
            }
            "textDocument/formatting" => {
                with_params(id, req.params, |p: lsp_types::DocumentFormattingParams| {
                    self.formatting(p.text_document.uri.as_str())
                })
            }
            "textDocument/documentSymbol" => {
                with_params(id, req.params, |p: lsp_types::DocumentSymbolParams| {
                    self.symbols(p.text_document.uri.as_str())
                })
            }
            other => err(
                id,
                ErrorCode::MethodNotFound,
                &format!("`{other}` is not supported"),
            ),
        }
    }

    fn notification(&mut self, n: Notification) {
        fn params<P: serde::de::DeserializeOwned>(n: Notification) -> Option<P> {
            match serde_json::from_value(n.params) {
                Ok(p) => Some(p),
                Err(e) => {
                    eprintln!("rlpc lsp: bad parameters of `{}`: {e}", n.method);
                    None
                }
            }
        }
        if !self.initialized {
            return;
        }
        match n.method.as_str() {
            "textDocument/didOpen" => {
                let Some(p) = params::<lsp_types::DidOpenTextDocumentParams>(n) else {
                    return;
                };
                let uri = p.text_document.uri.as_str().to_string();
                self.docs
                    .insert(uri.clone(), Doc::new(&uri, p.text_document.version));
                self.set_text(&uri, p.text_document.text);
            }
            "textDocument/didChange" => {
                let Some(p) = params::<lsp_types::DidChangeTextDocumentParams>(n) else {
                    return;
                };
                let uri = p.text_document.uri.as_str().to_string();
                let Some(doc) = self.docs.get_mut(&uri) else {
                    return;
                };
                doc.version = p.text_document.version;
                let mut text = doc.text.clone();
                for change in p.content_changes {
                    match change.range {
                        Some(r) => {
                            let ix = LineIndex::new(&text);
                            let (a, b) = (ix.offset(r.start), ix.offset(r.end));
                            let (a, b) = (a.min(b), a.max(b));
                            text.replace_range(a..b, &change.text);
                        }
                        None => text = change.text,
                    }
                }
                self.set_text(&uri, text);
            }
            "textDocument/didClose" => {
                let Some(p) = params::<lsp_types::DidCloseTextDocumentParams>(n) else {
                    return;
                };
                let uri = p.text_document.uri.as_str().to_string();
                if let Some(doc) = self.docs.remove(&uri)
                    && let Some(path) = doc.path
                {
                    self.open_texts.remove(&path);
                }
                self.dirty.remove(&uri);
                self.publish(&uri, Vec::new(), None);
            }
            // A saved or changed file may be `use`d by the open documents.
            "textDocument/didSave" | "workspace/didChangeWatchedFiles" => {
                let all: Vec<String> = self.docs.keys().cloned().collect();
                for uri in all {
                    self.mark_dirty(&uri);
                }
            }
            _ => {}
        }
    }

    fn set_text(&mut self, uri: &str, text: String) {
        let Some(doc) = self.docs.get_mut(uri) else {
            return;
        };
        doc.parsed = Rc::new(ModInfo::new(doc.parsed.origin.clone(), text.clone()));
        if doc.parsed.ast.is_some() {
            doc.last_good = Some(doc.parsed.clone());
        }
        doc.blanked = None;
        if let Some(p) = &doc.path {
            self.open_texts.insert(p.clone(), text.clone());
        }
        doc.text = text;
        // The documents that may `use` this one see the edit too.
        let name = doc
            .path
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned());
        let users: Vec<String> = match name {
            Some(name) => self
                .docs
                .iter()
                .filter(|(u, d)| u.as_str() != uri && d.text.contains(&name))
                .map(|(u, _)| u.clone())
                .collect(),
            None => Vec::new(),
        };
        self.mark_dirty(uri);
        for u in users {
            self.mark_dirty(&u);
        }
    }

    fn mark_dirty(&mut self, uri: &str) {
        self.last_edit = Instant::now();
        if self.dirty.is_empty() {
            self.dirty_since = Some(self.last_edit);
        }
        self.dirty.insert(uri.to_string());
    }

    /// Checks every document edited since the last check and publishes its diagnostics.
    fn flush(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        self.dirty_since = None;
        for uri in dirty {
            if self.closed {
                return;
            }
            let stdlib = self.stdlib_dir();
            let Some(doc) = self.docs.get_mut(&uri) else {
                continue;
            };
            let checked = diagnostics::check(
                doc.path.as_deref(),
                &uri,
                &doc.text,
                &self.open_texts,
                stdlib.as_deref(),
            );
            if !checked.hyperparameters.is_empty() || !checked.diagnostics.iter().any(is_error) {
                doc.hyperparameters = checked.hyperparameters;
            }
            let version = doc.version;
            self.publish(&uri, checked.diagnostics, Some(version));
        }
    }

    fn publish(
        &mut self,
        uri: &str,
        diagnostics: Vec<lsp_types::Diagnostic>,
        version: Option<i32>,
    ) {
        let Ok(uri) = Uri::from_str(uri) else { return };
        let params = PublishDiagnosticsParams {
            uri,
            diagnostics,
            version,
        };
        self.send(Message::Notification(Notification::new(
            "textDocument/publishDiagnostics".into(),
            params,
        )));
    }

    /// The stdlib copy's directory, written on first use.
    fn stdlib_dir(&mut self) -> Option<PathBuf> {
        self.stdlib_dir
            .get_or_insert_with(|| match stdlib_files::ensure() {
                Ok(d) => Some(d),
                Err(e) => {
                    eprintln!(
                        "rlpc lsp: cannot write the stdlib to {} ({e}); go-to-definition into it is off",
                        stdlib_files::dir().display()
                    );
                    None
                }
            })
            .clone()
    }

    /// The document's module for answering at `pos`: its text's syntax tree; or, when
    /// the text does not parse, that of the text without the line at `pos` (usually the
    /// one being typed; blanked, so every offset stays); or else the last one that parsed
    /// (with the cursor at the same line and column there). Also the cursor's offset in
    /// that module's text and in the editor's.
    fn snapshot(&mut self, uri: &str, pos: Position) -> Option<(Rc<ModInfo>, usize, usize)> {
        let doc = self.docs.get_mut(uri)?;
        let off_now = LineIndex::new(&doc.text).offset(pos);
        if doc.parsed.ast.is_some() {
            return Some((doc.parsed.clone(), off_now, off_now));
        }
        let line_start = doc.text[..off_now].rfind('\n').map_or(0, |i| i + 1);
        let blanked = match &doc.blanked {
            Some((at, m)) if *at == line_start => m.clone(),
            _ => {
                let origin = doc.parsed.origin.clone();
                let m = Rc::new(ModInfo::new(origin, blank_line(&doc.text, off_now)));
                doc.blanked = Some((line_start, m.clone()));
                m
            }
        };
        if blanked.ast.is_some() {
            return Some((blanked, off_now, off_now));
        }
        match &doc.last_good {
            Some(old) => {
                let off_old = LineIndex::new(&old.text).offset(pos);
                Some((old.clone(), off_old, off_now))
            }
            None => Some((doc.parsed.clone(), off_now, off_now)),
        }
    }

    fn location(&mut self, m: &ModInfo, span: rlp_syntax::ast::Span) -> Option<Location> {
        let stdlib = match m.origin {
            Origin::Stdlib(_) => self.stdlib_dir(),
            _ => None,
        };
        let uri = match nav::module_file(m, stdlib.as_deref())? {
            nav::FileRef::Path(p) => text::path_to_uri(&p),
            nav::FileRef::Uri(u) => u,
        };
        let range = LineIndex::new(&m.text).range(span.start as usize, span.end as usize);
        Some(Location::new(Uri::from_str(&uri).ok()?, range))
    }

    fn hover(&mut self, uri: &str, pos: Position) -> Option<Hover> {
        let (doc_mod, off, off_now) = self.snapshot(uri, pos)?;
        let doc = self.docs.get(uri)?;
        let word = nav::word_at(&doc.text, off_now).map(|s| doc.text[s.range()].to_string());
        let w = World::new(&self.stdlib, &self.open_texts);
        let empty = rlp_syntax::ast::Module { items: Vec::new() };
        let found = scope::at(doc_mod.ast.as_ref().unwrap_or(&empty), off);
        let (r, span) = nav::resolve(&w, &doc_mod, &found, word.as_deref())?;
        let value = match &r {
            nav::Resolved::Local(b) if b.kind == scope::BinderKind::TopLevel => doc
                .hyperparameters
                .iter()
                .find(|(n, _)| *n == b.name.name)
                .map(|(_, v)| v),
            _ => None,
        };
        let markdown = nav::hover(&doc_mod, &r, value);
        if markdown.is_empty() {
            return None;
        }
        // The range is in the tree's text: only meaningful when that is the editor's.
        let range = span
            .filter(|_| off == off_now && doc_mod.text == doc.text)
            .map(|s| LineIndex::new(&doc.text).range(s.start as usize, s.end as usize));
        Some(Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value: markdown,
            }),
            range,
        })
    }

    fn definition(&mut self, uri: &str, pos: Position) -> Option<GotoDefinitionResponse> {
        let (doc_mod, off, off_now) = self.snapshot(uri, pos)?;
        let (target, span) = {
            let doc = self.docs.get(uri)?;
            let word = nav::word_at(&doc.text, off_now).map(|s| doc.text[s.range()].to_string());
            let w = World::new(&self.stdlib, &self.open_texts);
            let empty = rlp_syntax::ast::Module { items: Vec::new() };
            let found = scope::at(doc_mod.ast.as_ref().unwrap_or(&empty), off);
            let (r, _) = nav::resolve(&w, &doc_mod, &found, word.as_deref())?;
            nav::definition(&doc_mod, &r)?
        };
        let loc = self.location(&target, span)?;
        Some(GotoDefinitionResponse::Scalar(loc))
    }

    fn completion(&mut self, uri: &str, pos: Position) -> Option<CompletionResponse> {
        let (doc_mod, off, off_now) = self.snapshot(uri, pos)?;
        let doc = self.docs.get(uri)?;
        let w = World::new(&self.stdlib, &self.open_texts);
        let empty = rlp_syntax::ast::Module { items: Vec::new() };
        let found = scope::at(doc_mod.ast.as_ref().unwrap_or(&empty), off);
        let items = complete::complete(&w, &doc_mod, &found, &doc.text, off_now);
        Some(CompletionResponse::Array(items))
    }

    fn formatting(&mut self, uri: &str) -> Option<Vec<TextEdit>> {
        let doc = self.docs.get(uri)?;
        // A file that does not parse is left alone (no edits, no error to pop up): its
        // diagnostics say why.
        let Ok(formatted) = rlp_syntax::format(&doc.text) else {
            return Some(Vec::new());
        };
        if formatted == doc.text {
            return Some(Vec::new());
        }
        Some(vec![TextEdit::new(
            LineIndex::new(&doc.text).whole(),
            formatted,
        )])
    }

    fn symbols(&mut self, uri: &str) -> Option<DocumentSymbolResponse> {
        let doc = self.docs.get(uri)?;
        let ix = LineIndex::new(&doc.text);
        #[allow(deprecated)] // `deprecated` is a required field of the type.
        let symbols = nav::outline(&doc.parsed)
            .into_iter()
            .map(|(name, is_fn, full, sel)| DocumentSymbol {
                name,
                detail: None,
                kind: if is_fn {
                    SymbolKind::FUNCTION
                } else {
                    SymbolKind::VARIABLE
                },
                tags: None,
                deprecated: None,
                range: ix.range(full.start as usize, full.end as usize),
                selection_range: ix.range(sel.start as usize, sel.end as usize),
                children: None,
            })
            .collect();
        Some(DocumentSymbolResponse::Nested(symbols))
    }
}

/// `text` with the line holding byte offset `off` turned to spaces.
fn blank_line(text: &str, off: usize) -> String {
    let off = off.min(text.len());
    let start = text[..off].rfind('\n').map_or(0, |i| i + 1);
    let end = text[off..].find('\n').map_or(text.len(), |i| off + i);
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..start]);
    // One space per byte keeps every later offset.
    out.extend(std::iter::repeat_n(' ', end - start));
    out.push_str(&text[end..]);
    out
}

fn is_error(d: &lsp_types::Diagnostic) -> bool {
    d.severity == Some(lsp_types::DiagnosticSeverity::ERROR)
}

fn ok(id: RequestId, result: impl serde::Serialize) -> Response {
    Response::new_ok(id, result)
}

fn err(id: RequestId, code: ErrorCode, message: &str) -> Response {
    Response::new_err(id, code as i32, message.to_string())
}

/// Parses a request's parameters and answers with `f`'s result (`null` for `None`).
fn with_params<P: serde::de::DeserializeOwned, R: serde::Serialize>(
    id: RequestId,
    params: serde_json::Value,
    f: impl FnOnce(P) -> Option<R>,
) -> Response {
    match serde_json::from_value::<P>(params) {
        Ok(p) => ok(id, f(p)),
        Err(e) => err(
            id,
            ErrorCode::InvalidParams,
            &format!("bad parameters: {e}"),
        ),
    }
}

fn initialize_result() -> InitializeResult {
    InitializeResult {
        capabilities: ServerCapabilities {
            position_encoding: Some(PositionEncodingKind::UTF16),
            text_document_sync: Some(TextDocumentSyncCapability::Options(
                TextDocumentSyncOptions {
                    open_close: Some(true),
                    change: Some(TextDocumentSyncKind::FULL),
                    will_save: None,
                    will_save_wait_until: None,
                    save: Some(TextDocumentSyncSaveOptions::SaveOptions(SaveOptions {
                        include_text: Some(false),
                    })),
                },
            )),
            hover_provider: Some(HoverProviderCapability::Simple(true)),
            definition_provider: Some(OneOf::Left(true)),
            completion_provider: Some(CompletionOptions {
                trigger_characters: Some(vec![".".into(), "(".into(), "{".into()]),
                ..Default::default()
            }),
            document_formatting_provider: Some(OneOf::Left(true)),
            document_symbol_provider: Some(OneOf::Left(true)),
            ..Default::default()
        },
        server_info: Some(ServerInfo {
            name: "rlpc".into(),
            version: Some(env!("CARGO_PKG_VERSION").into()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> Server {
        let mut s = Server::new(Box::new(std::io::sink()));
        s.initialized = true;
        // Never write the stdlib copy from unit tests.
        s.stdlib_dir = Some(None);
        s
    }

    fn open(s: &mut Server, uri: &str, text: &str) {
        s.docs.insert(uri.to_string(), Doc::new(uri, 1));
        s.set_text(uri, text.to_string());
    }

    /// Every shipped program and stdlib module, whole and cut off mid-way, asked about
    /// at positions all over it: no request panics.
    #[test]
    fn requests_anywhere_in_shipped_files_do_not_panic() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files: Vec<(String, String)> = crate::sema::modules::STDLIB
            .iter()
            .map(|(n, t)| (format!("file:///std/{n}.rlp"), t.to_string()))
            .collect();
        if let Ok(dir) = std::fs::read_dir(root.join("examples")) {
            let mut paths: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
            paths.sort();
            for p in paths
                .iter()
                .filter(|p| p.extension().is_some_and(|e| e == "rlp"))
            {
                if let Ok(t) = std::fs::read_to_string(p) {
                    files.push((text::path_to_uri(p), t));
                }
            }
        }
        assert!(files.len() > 30, "{}", files.len());
        let mut s = server();
        for (uri, full) in &files {
            let cuts = [full.len(), full.len() / 3, full.len() * 2 / 3];
            for (k, &cut) in cuts.iter().enumerate() {
                let mut cut = cut;
                while !full.is_char_boundary(cut) {
                    cut -= 1;
                }
                let t = &full[..cut];
                open(&mut s, uri, t);
                let ix = LineIndex::new(t);
                let stride = if k == 0 { 37 } else { 151 };
                for off in (0..=t.len()).step_by(stride) {
                    let pos = ix.position(off);
                    let _ = s.hover(uri, pos);
                    let _ = s.definition(uri, pos);
                    let _ = s.completion(uri, pos);
                }
                let _ = s.formatting(uri);
                let _ = s.symbols(uri);
            }
        }
    }

    #[test]
    fn frames_are_read_and_bad_ones_skipped() {
        let input = b"Content-Length: 5\r\n\r\nnot j\
Content-Length: 51\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":null}\
Content-Length: 99999999999999\r\n\r\n";
        let (tx, rx) = mpsc::channel();
        read_messages(&input[..], tx);
        let got: Vec<Message> = rx.try_iter().collect();
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(matches!(&got[0], Message::Request(r) if r.method == "x"));
    }

    /// A declared length too short (the rest of the body runs into the next header) or
    /// too long (the body eats the start of the next header) loses that message and at
    /// most the next, and a header block without a length is skipped: the messages after
    /// them are read.
    #[test]
    fn reading_recovers_after_a_wrong_content_length() {
        let msg = |id: u32| {
            let body =
                format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"x\",\"params\":null}}");
            format!("Content-Length: {}\r\n\r\n{body}", body.len())
        };
        let ids = |input: String| {
            let (tx, rx) = mpsc::channel();
            read_messages(input.as_bytes(), tx);
            rx.try_iter()
                .map(|m| match m {
                    Message::Request(r) => r.id.to_string(),
                    other => panic!("{other:?}"),
                })
                .collect::<Vec<_>>()
        };
        let short = format!(
            "Content-Length: 2\r\n\r\nnull{}{}{}",
            msg(1),
            msg(2),
            msg(3)
        );
        assert_eq!(ids(short), ["1", "2", "3"]);
        let long = format!(
            "Content-Length: 10\r\n\r\nnull{}{}{}",
            msg(1),
            msg(2),
            msg(3)
        );
        assert_eq!(ids(long), ["2", "3"]);
        let none = format!("Content-Type: x\r\n\r\n{}{}", msg(1), msg(2));
        assert_eq!(ids(none), ["1", "2"]);
    }

    #[test]
    fn the_line_being_typed_is_blanked_in_place() {
        assert_eq!(blank_line("a\nbθ.\nc", 3), "a\n    \nc");
        assert_eq!(blank_line("x", 1), " ");
    }
}
