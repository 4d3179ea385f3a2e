//! `rlpc lsp` driven the way an editor drives it: JSON-RPC messages with
//! `Content-Length` framing over the process's stdin and stdout.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);

/// A running server and the messages it sent that nobody has read yet.
struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    rx: mpsc::Receiver<Value>,
    pending: Vec<Value>,
    next_id: i64,
}

fn read_frame(r: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Content-Length: ") {
            length = v.parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    r.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

impl Client {
    /// Starts `rlpc lsp` with its stdlib copy under `cache` (never the user's own cache).
    fn start(cache: &Path) -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rlpc"))
            .arg("lsp")
            .env("XDG_CACHE_HOME", cache)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start rlpc lsp");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            while let Some(v) = read_frame(&mut r) {
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        Client {
            stdin: child.stdin.take(),
            child,
            rx,
            pending: Vec::new(),
            next_id: 1,
        }
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).expect("write to the server");
        stdin.flush().expect("flush");
    }

    fn send(&mut self, v: &Value) {
        let body = v.to_string();
        self.send_raw(format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes());
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Sends a request and waits for its response (the whole message).
    fn request_raw(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        self.wait(|m| m.get("id") == Some(&json!(id)) && m.get("method").is_none())
    }

    /// Sends a request and returns its result, failing on an error response.
    fn request(&mut self, method: &str, params: Value) -> Value {
        let resp = self.request_raw(method, params);
        assert!(resp.get("error").is_none(), "{method} failed: {resp}");
        resp["result"].clone()
    }

    /// The first message (read before or after) that `pred` accepts.
    fn wait(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.pending.iter().position(&pred) {
            return self.pending.remove(i);
        }
        loop {
            let m = self.rx.recv_timeout(TIMEOUT).unwrap_or_else(|_| {
                panic!("no answer from the server; unread: {:?}", self.pending)
            });
            if pred(&m) {
                return m;
            }
            self.pending.push(m);
        }
    }

    /// The diagnostics published for version `version` of `uri`.
    fn diagnostics(&mut self, uri: &str, version: i32) -> Vec<Value> {
        let m = self.wait(|m| {
            m["method"] == "textDocument/publishDiagnostics"
                && m["params"]["uri"] == uri
                && m["params"]["version"] == version
        });
        m["params"]["diagnostics"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn initialize(&mut self, root: &Path) {
        let caps = self.request(
            "initialize",
            json!({ "processId": null, "rootUri": uri(root), "capabilities": {} }),
        );
        assert_eq!(caps["capabilities"]["hoverProvider"], true, "{caps}");
        assert_eq!(caps["capabilities"]["documentFormattingProvider"], true);
        self.notify("initialized", json!({}));
    }

    fn open(&mut self, uri: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "rlp", "version": 1, "text": text } }),
        );
    }

    fn change(&mut self, uri: &str, version: i32, text: &str) {
        self.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri, "version": version },
                    "contentChanges": [{ "text": text }] }),
        );
    }

    /// Replaces the document `uri` with `text` (as `version`), then the labels of the
    /// completion `delta` UTF-16 units after the start of `needle`.
    fn complete(
        &mut self,
        uri: &str,
        version: i32,
        text: &str,
        needle: &str,
        delta: u32,
    ) -> Vec<String> {
        self.change(uri, version, text);
        labels(&self.at("textDocument/completion", uri, text, needle, delta))
    }

    /// `method` at the position of the `n`-th occurrence of `needle` in `text`, `delta`
    /// UTF-16 units after its start.
    fn at(&mut self, method: &str, uri: &str, text: &str, needle: &str, delta: u32) -> Value {
        let (line, col) = position_of(text, needle);
        self.request(
            method,
            json!({ "textDocument": { "uri": uri },
                    "position": { "line": line, "character": col + delta } }),
        )
    }

    /// Ends the session as an editor does and returns the exit code.
    fn shutdown(mut self) -> i32 {
        let r = self.request_raw("shutdown", Value::Null);
        assert_eq!(r["result"], Value::Null, "{r}");
        assert!(r.get("error").is_none(), "{r}");
        self.notify("exit", Value::Null);
        self.exit_code()
    }

    fn exit_code(mut self) -> i32 {
        drop(self.stdin.take());
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code().unwrap_or(-1);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        panic!("the server did not exit");
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Line and UTF-16 column of the first occurrence of `needle`.
fn position_of(text: &str, needle: &str) -> (u32, u32) {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in the text"));
    let before = &text[..at];
    let line = before.matches('\n').count() as u32;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col: usize = text[line_start..at].chars().map(char::len_utf16).sum();
    (line, col as u32)
}

fn uri(p: &Path) -> String {
    // The test's paths are plain ASCII without spaces.
    format!("file://{}", p.display())
}

fn scratch(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rlpc-lsp-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

const MINE: &str = "\
/// One-step TD residuals r + gamma V(s') - V(s).
pub fn td_residual(r: [T, N], v: [T+1, N], terminated: [T, N] bool, gamma: float = 0.99) -> [T, N] {
  r + gamma * where(terminated, 0.0, v[1:]) - v[:-1]
}
";

/// A program whose line 7 names something undefined after non-ASCII text, so the
/// column is wrong if counted in bytes (23) or characters (18) rather than UTF-16 (19).
const BROKEN: &str = "\
use std.env.cartpole
use std.estimators.{reward_to_go}
use std.losses.{policy_gradient}
use \"./mine.rlp\".{td_residual}

env    = cartpole(envs: 4, seed: 1)
policy = categorical(mlp(env.obs, [16], env.actions))
label  = \"θθ😀\" ++ nme

train iterations: 3 {
  sample batch = rollout(env, policy, steps: 8)
  fit    q     = reward_to_go(batch.reward, batch.done, gamma: 0.99)
  improve minimize policy_gradient(policy, batch, q) with adam(lr: 1e-3)
  log return = nanmean(env.episode_return)
}
";

#[test]
fn an_editing_session() {
    let dir = scratch("session");
    let cache = dir.join("cache");
    std::fs::write(dir.join("mine.rlp"), MINE).expect("write mine.rlp");
    let main = dir.join("main.rlp");
    std::fs::write(&main, BROKEN).expect("write main.rlp");
    let main_uri = uri(&main);
    let mut c = Client::start(&cache);
    c.initialize(&dir);

    // An error: its range in UTF-16 columns, its message and code.
    c.open(&main_uri, BROKEN);
    let diags = c.diagnostics(&main_uri, 1);
    assert_eq!(diags.len(), 1, "{diags:?}");
    let d = &diags[0];
    assert_eq!(
        d["range"]["start"],
        json!({ "line": 7, "character": 19 }),
        "{d}"
    );
    assert_eq!(
        d["range"]["end"],
        json!({ "line": 7, "character": 22 }),
        "{d}"
    );
    assert_eq!(d["severity"], 1);
    assert_eq!(d["code"], "rlp::unknown-name");
    assert_eq!(d["message"], "unknown name `nme`\nnot defined", "{d}");

    // Fixed: the diagnostics are cleared.
    let fixed = BROKEN.replace(" ++ nme", "");
    c.change(&main_uri, 2, &fixed);
    assert_eq!(c.diagnostics(&main_uri, 2), Vec::<Value>::new());

    // Hover: a stdlib function's signature and documentation; a built-in's; a binding's
    // definition line.
    let h = c.at(
        "textDocument/hover",
        &main_uri,
        &fixed,
        "reward_to_go(batch",
        3,
    );
    let text = h["contents"]["value"].as_str().unwrap_or("").to_string();
    assert!(text.contains("pub fn reward_to_go(r: [T, N]"), "{text}");
    assert!(text.contains("Discounted reward-to-go"), "{text}");
    assert!(text.contains("std.estimators"), "{text}");
    let (line, col) = position_of(&fixed, "reward_to_go(batch");
    assert_eq!(
        h["range"]["start"],
        json!({ "line": line, "character": col })
    );
    let h = c.at("textDocument/hover", &main_uri, &fixed, "rollout(env", 1);
    let text = h["contents"]["value"].as_str().unwrap_or("");
    assert!(text.contains("rollout(env: environment"), "{text}");
    let h = c.at("textDocument/hover", &main_uri, &fixed, "env.obs", 0);
    let text = h["contents"]["value"].as_str().unwrap_or("");
    assert!(
        text.contains("env    = cartpole(envs: 4, seed: 1)"),
        "{text}"
    );

    // Definition: into the user's module on disk, and into the stdlib's copy.
    let def = c.at(
        "textDocument/definition",
        &main_uri,
        &fixed,
        "td_residual}",
        2,
    );
    assert_eq!(def["uri"], uri(&dir.join("mine.rlp")), "{def}");
    assert_eq!(
        def["range"]["start"],
        json!({ "line": 1, "character": 7 }),
        "{def}"
    );
    let def = c.at(
        "textDocument/definition",
        &main_uri,
        &fixed,
        "reward_to_go(batch",
        0,
    );
    let target = def["uri"].as_str().unwrap_or("").to_string();
    let suffix = "/std/estimators.rlp";
    assert!(
        target.starts_with(&uri(&cache.join("rlpc").join("stdlib"))) && target.ends_with(suffix),
        "{def}"
    );
    let file = PathBuf::from(target.trim_start_matches("file://"));
    let stdlib_text = std::fs::read_to_string(&file).expect("the stdlib copy exists");
    let line = def["range"]["start"]["line"].as_u64().unwrap_or(0) as usize;
    assert!(
        stdlib_text
            .lines()
            .nth(line)
            .unwrap_or("")
            .starts_with("pub fn reward_to_go("),
        "{def}"
    );
    // A module name leads to its file.
    let def = c.at(
        "textDocument/definition",
        &main_uri,
        &fixed,
        "cartpole(envs",
        0,
    );
    assert!(
        def["uri"]
            .as_str()
            .unwrap_or("")
            .ends_with("/std/env/cartpole.rlp"),
        "{def}"
    );

    // Completion: the called function's keyword arguments not yet given, and a stdlib
    // module's members after `module.` (in a line that does not parse yet).
    let has = |names: &[String], n: &str| names.iter().any(|x| x == n);
    let typing = fixed.replace("seed: 1)", "se)");
    let names = c.complete(&main_uri, 3, &typing, "se)", 2);
    assert!(
        has(&names, "seed:") && has(&names, "max_steps:"),
        "{names:?}"
    );
    assert!(!has(&names, "envs:"), "{names:?}");
    assert!(
        has(&names, "td_residual") && has(&names, "train"),
        "{names:?}"
    );
    let typing = fixed.replace("label  = \"θθ😀\"", "label  = cartpole.");
    let names = c.complete(&main_uri, 4, &typing, "cartpole.\n", 9);
    assert!(has(&names, "step") && has(&names, "reset"), "{names:?}");
    // The fields of a rollout's batch.
    let typing = fixed.replace("batch.reward,", "batch.,");
    let names = c.complete(&main_uri, 5, &typing, "batch.,", 6);
    assert!(
        has(&names, "reward") && has(&names, "next_obs"),
        "{names:?}"
    );
    // The fields of what a call gives, after `policy(obs).`: a distribution's.
    let typing = fixed.replace(
        "log return = ",
        "log return = policy(batch.obs).\n  log r2 = ",
    );
    let names = c.complete(&main_uri, 6, &typing, "policy(batch.obs).\n", 18);
    assert!(has(&names, "log_prob") && has(&names, "mode"), "{names:?}");
    assert!(!has(&names, "shape"), "{names:?}");
    // Arguments given by position are not offered again by keyword.
    let typing = fixed.replace("gamma: 0.99)", ")");
    let names = c.complete(&main_uri, 7, &typing, "batch.done, )", 12);
    assert!(has(&names, "gamma:"), "{names:?}");
    assert!(!has(&names, "r:") && !has(&names, "done:"), "{names:?}");

    // Formatting: one edit holding `rlpc fmt`'s text; none for text that does not parse.
    let messy = fixed.replace(
        "env    = cartpole(envs: 4, seed: 1)",
        "env=cartpole(envs:4,seed:1)",
    );
    c.change(&main_uri, 8, &messy);
    let edits = c.request(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": main_uri }, "options": { "tabSize": 2, "insertSpaces": true } }),
    );
    let edits = edits.as_array().cloned().unwrap_or_default();
    assert_eq!(edits.len(), 1, "{edits:?}");
    let expected = rlp_syntax::format(&messy).expect("formats");
    assert_eq!(edits[0]["newText"], expected.as_str());
    assert_eq!(
        edits[0]["range"]["start"],
        json!({ "line": 0, "character": 0 })
    );
    c.change(&main_uri, 9, "env = cartpole(");
    let edits = c.request(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": main_uri }, "options": { "tabSize": 2, "insertSpaces": true } }),
    );
    assert_eq!(edits, json!([]));

    // An imported module open with unsaved edits: the program is checked against them.
    c.change(&main_uri, 10, &fixed);
    assert_eq!(c.diagnostics(&main_uri, 10), Vec::<Value>::new());
    let mine_uri = uri(&dir.join("mine.rlp"));
    c.open(&mine_uri, &MINE.replace("td_residual", "td_error"));
    let diags = c.diagnostics(&main_uri, 10);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert!(
        diags[0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("has no `td_residual`"),
        "{diags:?}"
    );
    let (line, col) = position_of(&fixed, "td_residual}");
    assert_eq!(
        diags[0]["range"]["start"],
        json!({ "line": line, "character": col })
    );

    assert_eq!(c.shutdown(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

fn labels(items: &Value) -> Vec<String> {
    let list = match items {
        Value::Array(a) => a.clone(),
        v => v["items"].as_array().cloned().unwrap_or_default(),
    };
    list.iter()
        .filter_map(|i| i["label"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn bad_input_gets_errors_not_a_crash() {
    let dir = scratch("robust");
    let mut c = Client::start(&dir.join("cache"));
    // Before `initialize`, requests are refused.
    let r = c.request_raw("textDocument/hover", json!({}));
    assert_eq!(r["error"]["code"], -32002, "{r}");
    c.initialize(&dir);
    // Not JSON, and a frame with no body: skipped.
    c.send_raw(b"Content-Length: 9\r\n\r\nnot json!");
    c.send_raw(b"Content-Length: 0\r\n\r\n");
    // Unknown methods, bad parameters, unknown documents.
    let r = c.request_raw("no/suchMethod", json!({}));
    assert_eq!(r["error"]["code"], -32601, "{r}");
    let r = c.request_raw("textDocument/hover", json!({ "nonsense": true }));
    assert_eq!(r["error"]["code"], -32602, "{r}");
    let r = c.request(
        "textDocument/hover",
        json!({ "textDocument": { "uri": "file:///nowhere.rlp" }, "position": { "line": 0, "character": 0 } }),
    );
    assert_eq!(r, Value::Null);
    c.notify("textDocument/didChange", json!({ "textDocument": { "uri": "file:///nowhere.rlp", "version": 3 }, "contentChanges": [] }));

    // Every request at many positions of programs cut off mid-way (what an editor sends
    // while someone types), with positions past the ends of lines and of the text.
    let doc = uri(&dir.join("typing.rlp"));
    c.open(&doc, "");
    let text = BROKEN.replace("\"./mine.rlp\"", "\"./absent.rlp\"");
    let cuts: Vec<usize> = (0..text.len())
        .step_by(53)
        .filter(|&i| text.is_char_boundary(i))
        .collect();
    for (v, &cut) in cuts.iter().enumerate() {
        let part = &text[..cut];
        c.change(&doc, v as i32 + 2, part);
        let lines = part.lines().count() as u32 + 1;
        for line in (0..=lines).step_by(3) {
            for character in [0, 5, 11, 40, 200] {
                let pos = json!({ "textDocument": { "uri": doc }, "position": { "line": line, "character": character } });
                for method in [
                    "textDocument/hover",
                    "textDocument/definition",
                    "textDocument/completion",
                ] {
                    let r = c.request_raw(method, pos.clone());
                    assert!(
                        r.get("error").is_none(),
                        "{method} at {pos} of {part:?}: {r}"
                    );
                }
            }
        }
        let r = c.request_raw("textDocument/formatting", json!({ "textDocument": { "uri": doc }, "options": { "tabSize": 2, "insertSpaces": true } }));
        assert!(r.get("error").is_none(), "{r}");
        let r = c.request_raw(
            "textDocument/documentSymbol",
            json!({ "textDocument": { "uri": doc } }),
        );
        assert!(r.get("error").is_none(), "{r}");
    }
    // Still answering, and diagnostics still come.
    c.change(&doc, 1000, "x = ");
    let diags = c.diagnostics(&doc, 1000);
    assert!(!diags.is_empty());
    // `exit` without `shutdown`: exit code 1, as the protocol says.
    c.notify("exit", Value::Null);
    assert_eq!(c.exit_code(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
