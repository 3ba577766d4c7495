//! A small blocking Chrome DevTools Protocol client, so tests can load the web page in a real
//! browser: Debian's `chromium`, headless, with a throwaway profile, driven over the DevTools
//! WebSocket of one page. Only what the tests need: navigate, evaluate JavaScript, wait on a
//! condition, click, type, screenshot, emulate a window size, a colour scheme and a time zone, and
//! read the Performance API. CDP events are read and dropped (no domain is enabled, so there are
//! few).

use serde_json::{json, Value};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

/// How long one DevTools command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long Chromium may take to start and write its DevTools port (a cold start on a busy 2-core
/// machine takes a few seconds).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a condition is evaluated again.
const POLL: Duration = Duration::from_millis(50);

/// A headless Chromium with one page open. Dropping it kills Chromium and all its processes (they
/// share a process group of their own) and removes the profile.
pub struct Browser {
    child: Child,
    /// The profile (`profile/`) and Chromium's stderr (`chromium.log`).
    dir: tempfile::TempDir,
    ws: WebSocket<TcpStream>,
    next_id: u64,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser").field("pid", &self.child.id()).field("dir", &self.dir.path()).finish()
    }
}

impl Browser {
    /// Starts Chromium found on PATH (`chromium`, `chromium-browser`) and opens a blank page. `None`
    /// when there is none (after `find_part` printed `SKIPPED`; it panics instead when parts are
    /// required). Panics, with the tail of Chromium's stderr, if it does not come up.
    pub fn launch() -> Option<Browser> {
        let program = crate::find_part("chromium", &["chromium", "chromium-browser"])?;
        Some(Self::launch_program(&program))
    }

    /// Starts the given Chromium binary (see [`launch`](Self::launch)).
    pub fn launch_program(program: &Path) -> Browser {
        let dir =
            tempfile::Builder::new().prefix("cliser-chromium-").tempdir().expect("temp dir for Chromium");
        let profile = dir.path().join("profile");
        let log_path = dir.path().join("chromium.log");
        let log = std::fs::File::create(&log_path).expect("create chromium.log");
        let mut cmd = Command::new(program);
        cmd.args([
            "--headless",
            // Tests run as root, where Chromium refuses its sandbox.
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            // Nothing but the page under test on the network, and no updates mid-test.
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--remote-debugging-port=0",
            "--window-size=1280,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        // Its own group, so Drop can kill the renderers and helpers with it.
        .process_group(0);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
        let mut starting = Starting { child: Some(child), log: log_path };
        let port = starting.devtools_port(&profile.join("DevToolsActivePort"));
        let url = starting.new_page(port);
        let stream = TcpStream::connect(("127.0.0.1", port))
            .unwrap_or_else(|e| starting.fail(&format!("connect to DevTools port {port}: {e}")));
        let _ = stream.set_nodelay(true);
        // The handshake is one short exchange; its reads must not block forever either.
        let _ = stream.set_read_timeout(Some(COMMAND_TIMEOUT));
        let (ws, _) = tungstenite::client(url.as_str(), stream)
            .unwrap_or_else(|e| starting.fail(&format!("DevTools WebSocket handshake with {url}: {e}")));
        let child = starting.child.take().expect("the child is kept until here");
        Browser { child, dir, ws, next_id: 0 }
    }

    /// Chromium's process id, which is also its process group's.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Loads `url` and waits until its `load` event has fired (`document.readyState` is `complete`).
    pub fn navigate(&mut self, url: &str) {
        let r = self.call("Page.navigate", json!({ "url": url }));
        if let Some(e) = r.get("errorText") {
            panic!("navigating to {url}: {e}");
        }
        // Page.navigate answers once the new document is committed, so this reads the new one.
        self.wait_for("document.readyState === 'complete'", COMMAND_TIMEOUT, &format!("{url} to load"));
    }

    /// Evaluates `js` in the page (a promise is awaited) and returns its value as JSON (`Null` for
    /// `undefined`). Panics if it throws.
    pub fn eval(&mut self, js: &str) -> Value {
        self.try_eval(js).unwrap_or_else(|e| panic!("evaluating `{js}`: {e}"))
    }

    /// [`eval`](Self::eval) that returns what went wrong instead of panicking (an exception, or
    /// the page's context gone during a navigation).
    pub fn try_eval(&mut self, js: &str) -> Result<Value, String> {
        let r = self.try_call(
            "Runtime.evaluate",
            json!({ "expression": js, "returnByValue": true, "awaitPromise": true }),
        )?;
        if let Some(ex) = r.get("exceptionDetails") {
            let text = ex["exception"]["description"].as_str().or(ex["text"].as_str()).unwrap_or("?");
            return Err(format!("it threw: {text}"));
        }
        Ok(r["result"].get("value").cloned().unwrap_or(Value::Null))
    }

    /// Evaluates `js` until it gives something other than `null`, `undefined` or `false`, and
    /// returns that; panics after `timeout`, naming `what` and the last value or error.
    pub fn wait_value(&mut self, js: &str, timeout: Duration, what: &str) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.try_eval(js) {
                Ok(Value::Null | Value::Bool(false)) => "null or false".to_owned(),
                Ok(v) => return v,
                Err(e) => e,
            };
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what} (`{js}`: {last})"
            );
            std::thread::sleep(POLL);
        }
    }

    /// Waits until the JavaScript condition `js` is true (see [`wait_value`](Self::wait_value)).
    pub fn wait_for(&mut self, js: &str, timeout: Duration, what: &str) {
        let js = format!("!!({js})");
        self.wait_value(&js, timeout, what);
    }

    /// Clicks the middle of the first element matching the CSS `selector` with the mouse (pressed
    /// and released, as a user would), after scrolling it into view. Panics if there is none.
    pub fn click(&mut self, selector: &str) {
        // The middle of the element once it has stayed put for two frames and is what a click
        // there would hit: a click computed while the page moves (a chart opening above, a live
        // row growing) lands beside it, and that miss is a test failing for nothing.
        let js = format!(
            "(async () => {{ const sel = {sel}; let at = null; \
             const frames = () => new Promise((ok) => {{ \
               const t = setTimeout(ok, 100); \
               requestAnimationFrame(() => requestAnimationFrame(() => {{ clearTimeout(t); ok(); }})); }}); \
             for (let i = 0; i < 40; i++) {{ \
               const e = document.querySelector(sel); if (!e) return null; \
               e.scrollIntoView({{ block: 'center' }}); const a = e.getBoundingClientRect(); \
               await frames(); \
               if (document.querySelector(sel) !== e) continue; \
               const b = e.getBoundingClientRect(); at = [b.x + b.width / 2, b.y + b.height / 2]; \
               const hit = document.elementFromPoint(at[0], at[1]); \
               if (a.x === b.x && a.y === b.y && a.width === b.width && a.height === b.height \
                   && hit && (hit === e || e.contains(hit))) return at; \
             }} return at; }})()",
            sel = json!(selector)
        );
        let at = self.eval(&js);
        let (Some(x), Some(y)) = (at[0].as_f64(), at[1].as_f64()) else {
            panic!("nothing to click: no element matches {selector:?}");
        };
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }),
            );
        }
    }

    /// Saves what the window shows as a PNG at `path` (its folder is created).
    pub fn screenshot(&mut self, path: &Path) {
        self.capture(path, false);
    }

    /// Saves the whole page, beyond the window's height, as a PNG at `path` (its folder is created).
    pub fn screenshot_page(&mut self, path: &Path) {
        self.capture(path, true);
    }

    fn capture(&mut self, path: &Path, whole_page: bool) {
        use base64::Engine as _;
        let r = self
            .call("Page.captureScreenshot", json!({ "format": "png", "captureBeyondViewport": whole_page }));
        let data = r["data"].as_str().expect("Page.captureScreenshot gives its data");
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap_or_else(|e| panic!("the screenshot is not base64: {e}"));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
        }
        std::fs::write(path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Makes the page's window `width` x `height` CSS pixels at one device pixel each, as a phone's
    /// (`mobile`: the viewport meta tag counts, and the scroll bars overlay) or a desktop's; the
    /// page lays itself out again at once.
    pub fn set_viewport(&mut self, width: u32, height: u32, mobile: bool) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile }),
        );
    }

    /// What the page's `prefers-color-scheme` media query sees: `light` or `dark`.
    pub fn set_color_scheme(&mut self, scheme: &str) {
        self.call(
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] }),
        );
    }

    /// The page's local time zone (an IANA name, `Europe/Berlin`), whatever the machine's is.
    pub fn set_timezone(&mut self, zone: &str) {
        self.call("Emulation.setTimezoneOverride", json!({ "timezoneId": zone }));
    }

    /// Focuses the first element matching `selector` and types `text` into it, as a keyboard
    /// would (one `input` event). Panics if there is none.
    pub fn type_into(&mut self, selector: &str, text: &str) {
        let focused = self.eval(&format!(
            "(() => {{ const e = document.querySelector({sel}); if (!e) return false; e.focus(); \
             return document.activeElement === e; }})()",
            sel = json!(selector)
        ));
        assert_eq!(focused, true, "nothing to type into: no focusable element matches {selector:?}");
        self.call("Input.insertText", json!({ "text": text }));
    }

    /// Presses and releases one key (`Tab`, `Enter`, `Escape`, ` `) on the focused element.
    pub fn press(&mut self, key: &str) {
        let (code, key_code) = match key {
            "Tab" => ("Tab", 9),
            "Enter" => ("Enter", 13),
            "Escape" => ("Escape", 27),
            " " => ("Space", 32),
            other => panic!("press: no key code for {other:?}"),
        };
        let text = match key {
            "Enter" => "\r",
            " " => " ",
            _ => "",
        };
        self.call(
            "Input.dispatchKeyEvent",
            json!({ "type": "keyDown", "key": key, "code": code, "windowsVirtualKeyCode": key_code,
                    "text": text }),
        );
        self.call(
            "Input.dispatchKeyEvent",
            json!({ "type": "keyUp", "key": key, "code": code, "windowsVirtualKeyCode": key_code }),
        );
    }

    /// The page's Performance API entries of one type (`navigation`, `resource`, `mark`, `paint`,
    /// ...), each as its `toJSON()` (e.g. `name`, `startTime`, `transferSize`, `encodedBodySize`).
    pub fn performance_entries(&mut self, entry_type: &str) -> Vec<Value> {
        let js = format!("performance.getEntriesByType({}).map((e) => e.toJSON())", json!(entry_type));
        match self.eval(&js) {
            Value::Array(entries) => entries,
            other => panic!("performance.getEntriesByType gave {other}"),
        }
    }

    /// Sends a DevTools command to the page and returns its result; panics if it fails.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.try_call(method, params).unwrap_or_else(|e| panic!("DevTools {method}: {e}"))
    }

    fn try_call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let request = json!({ "id": id, "method": method, "params": params }).to_string();
        self.ws.send(Message::text(request)).map_err(|e| format!("send: {e}"))?;
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("no answer within {COMMAND_TIMEOUT:?}"));
            }
            self.ws.get_mut().set_read_timeout(Some(left)).map_err(|e| format!("set a read timeout: {e}"))?;
            let text = match self.ws.read() {
                Ok(Message::Text(t)) => t,
                Ok(Message::Close(frame)) => {
                    return Err(format!("Chromium closed the connection: {frame:?}"))
                }
                Ok(_) => continue,
                // A timed-out read leaves the socket usable; the deadline decides.
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    continue
                }
                Err(e) => return Err(format!("read: {e}")),
            };
            let answer: Value = serde_json::from_str(&text).map_err(|e| format!("not JSON ({e}): {text}"))?;
            // Events have no id, and an answer to an earlier command that timed out is stale.
            if answer["id"].as_u64() != Some(id) {
                continue;
            }
            if let Some(e) = answer.get("error") {
                return Err(format!("{e}"));
            }
            return Ok(answer["result"].clone());
        }
    }

    /// Moves the mouse to `(x, y)`, CSS pixels from the top left of the viewport, as a user would:
    /// the page gets `mousemove` (and `mouseover`/`mouseenter` on what the pointer enters).
    pub fn mouse_move(&mut self, x: f64, y: f64) {
        self.call("Input.dispatchMouseEvent", json!({ "type": "mouseMoved", "x": x, "y": y }));
    }

    /// Drags with the left button held from `from` to `to` (CSS pixels from the viewport's top
    /// left), in a few steps, as a hand would: pressed, moved, released.
    pub fn mouse_drag(&mut self, from: (f64, f64), to: (f64, f64)) {
        self.mouse_move(from.0, from.1);
        let event = |kind: &str, (x, y): (f64, f64), buttons: u8| json!({ "type": kind, "x": x, "y": y, "button": "left", "buttons": buttons, "clickCount": 1 });
        self.call("Input.dispatchMouseEvent", event("mousePressed", from, 1));
        const STEPS: u32 = 5;
        for i in 1..=STEPS {
            let f = f64::from(i) / f64::from(STEPS);
            let at = (from.0 + (to.0 - from.0) * f, from.1 + (to.1 - from.1) * f);
            self.call("Input.dispatchMouseEvent", event("mouseMoved", at, 1));
        }
        self.call("Input.dispatchMouseEvent", event("mouseReleased", to, 0));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(&mut self.child);
        // The TempDir removes the profile after this.
    }
}

/// Kills Chromium's process group and reaps Chromium; waits briefly for the group to be gone so
/// that no process still writes into the profile while it is removed.
fn kill_group(child: &mut Child) {
    let pgid = child.id() as libc::pid_t;
    // SAFETY: kill(2) with a negative pid signals that process group; no memory is involved.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(2);
    // SAFETY: as above; signal 0 only asks whether any member is left.
    while unsafe { libc::kill(-pgid, 0) } == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Chromium between spawn and the WebSocket: a failure kills it and shows its stderr.
struct Starting {
    child: Option<Child>,
    log: PathBuf,
}

impl Starting {
    fn fail(&mut self, what: &str) -> ! {
        if let Some(mut c) = self.child.take() {
            kill_group(&mut c);
        }
        panic!("Chromium: {what}\n--- the tail of its stderr ---\n{}", tail(&self.log, 30));
    }

    /// The port Chromium writes to `<profile>/DevToolsActivePort` (the port, then the browser's
    /// WebSocket path).
    fn devtools_port(&mut self, file: &Path) -> u16 {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            // Both lines: the file is whole.
            if text.lines().count() >= 2 {
                match text.lines().next().and_then(|l| l.trim().parse().ok()) {
                    Some(port) => return port,
                    None => self.fail(&format!("{} says {text:?}", file.display())),
                }
            }
            let exited = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                self.child = None;
                self.fail(&format!("exited ({status}) before it wrote {}", file.display()));
            }
            if Instant::now() >= deadline {
                self.fail(&format!("no {} after {START_TIMEOUT:?}", file.display()));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Opens a new page target and returns its `webSocketDebuggerUrl`. Chromium wants a PUT.
    fn new_page(&mut self, port: u16) -> String {
        let body = http_put(port, "/json/new?about:blank")
            .unwrap_or_else(|e| self.fail(&format!("PUT /json/new on port {port}: {e}")));
        let target: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| self.fail(&format!("/json/new gave no JSON ({e}): {body}")));
        match target["webSocketDebuggerUrl"].as_str() {
            Some(url) => url.to_owned(),
            None => self.fail(&format!("/json/new gave no webSocketDebuggerUrl: {body}")),
        }
    }
}

/// One HTTP/1.1 PUT to the DevTools port; the body of a 200 answer.
fn http_put(port: u16, path: &str) -> Result<String, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(COMMAND_TIMEOUT)).map_err(|e| e.to_string())?;
    write!(
        s,
        "PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // Read to the end, or to Content-Length if the server keeps the connection.
    loop {
        if let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
            let length = head.lines().find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse::<usize>().ok())?
            });
            if length.is_some_and(|n| buf.len() >= head_end + 4 + n) {
                break;
            }
        }
        match s.read(&mut chunk).map_err(|e| format!("read: {e}"))? {
            0 => break,
            n => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| format!("no HTTP answer: {text:?}"))?;
    let status = head.lines().next().unwrap_or_default();
    if !status.contains(" 200 ") && !status.ends_with(" 200") {
        return Err(format!("{status}: {body}"));
    }
    Ok(body.to_owned())
}

/// The last `n` lines of a file (for a failure message).
fn tail(path: &Path, n: usize) -> String {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
