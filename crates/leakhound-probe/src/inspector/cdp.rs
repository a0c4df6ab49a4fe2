//! A synchronous client of the DevTools protocol over one WebSocket (tungstenite): commands
//! with ids, their answers, and the events that arrive in between (a heap snapshot comes as a
//! stream of `HeapProfiler.addHeapSnapshotChunk` events before its command's answer).

use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use tungstenite::{Message, WebSocket};

/// A command as the protocol frames it.
#[derive(Serialize)]
struct Command<'a, P> {
    id: u64,
    method: &'a str,
    params: P,
}

/// A command without parameters: `{}`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct NoParams {}

/// `Runtime.evaluate`'s parameters.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluate<'a> {
    /// The JavaScript to run.
    pub expression: &'a str,
    /// With the console's command-line API (`require` whatever the module system).
    #[serde(rename = "includeCommandLineAPI")]
    pub include_command_line_api: bool,
    /// The value returned as JSON rather than as a remote object.
    #[serde(rename = "returnByValue")]
    pub return_by_value: bool,
    /// Exceptions not reported to the console.
    pub silent: bool,
}

/// `HeapProfiler.startSampling`'s parameters.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StartSampling {
    /// Mean bytes between samples.
    pub sampling_interval: u64,
    /// Keep samples of objects a major GC collected (false: live objects only).
    #[serde(rename = "includeObjectsCollectedByMajorGC")]
    pub include_objects_collected_by_major_gc: bool,
    /// Keep samples of objects a minor GC collected.
    #[serde(rename = "includeObjectsCollectedByMinorGC")]
    pub include_objects_collected_by_minor_gc: bool,
}

/// `HeapProfiler.takeHeapSnapshot`'s parameters.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TakeSnapshot {
    /// Progress events between the chunks.
    pub report_progress: bool,
}

/// The text of command `id`.
fn command_text<P: Serialize>(id: u64, method: &str, params: P) -> String {
    serde_json::to_string(&Command { id, method, params }).unwrap_or_default()
}

/// One session with an inspector.
pub struct Cdp {
    ws: WebSocket<TcpStream>,
    next_id: u64,
}

/// Reads until `deadline`: the socket's timeout set to what is left.
fn set_deadline(ws: &WebSocket<TcpStream>, deadline: Instant) -> Result<(), String> {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    ws.get_ref()
        .set_read_timeout(Some(left))
        .map_err(|e| e.to_string())
}

impl Cdp {
    /// Connects to `ws_url` (`ws://127.0.0.1:PORT/ID`).
    pub fn connect(ws_url: &str, timeout: Duration) -> Result<Cdp, String> {
        let hostport = ws_url
            .strip_prefix("ws://")
            .and_then(|r| r.split('/').next())
            .ok_or_else(|| format!("not a ws:// URL: {ws_url}"))?;
        let addr: std::net::SocketAddr = hostport
            .parse()
            .map_err(|_| format!("not an address: {hostport}"))?;
        let stream =
            TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("{addr}: {e}"))?;
        stream
            .set_read_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        stream
            .set_write_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        let config = tungstenite::protocol::WebSocketConfig::default()
            // A heap snapshot chunk or a sampling profile of a large heap is one message.
            .max_message_size(Some(1 << 30))
            .max_frame_size(Some(1 << 30));
        let (ws, _) = tungstenite::client::client_with_config(ws_url, stream, Some(config))
            .map_err(|e| format!("{ws_url}: WebSocket handshake: {e}"))?;
        Ok(Cdp { ws, next_id: 1 })
    }

    /// Sends `method` with `params` and waits up to `timeout` for its answer; every event that
    /// arrives meanwhile goes to `on_event(method, params)`.
    pub fn call_with<P: Serialize>(
        &mut self,
        method: &str,
        params: P,
        timeout: Duration,
        on_event: &mut dyn FnMut(&str, &Value) -> Result<(), String>,
    ) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        let text = command_text(id, method, params);
        self.ws
            .send(Message::text(text))
            .map_err(|e| format!("{method}: {e}"))?;
        let deadline = Instant::now() + timeout;
        loop {
            if Instant::now() >= deadline {
                return Err(format!(
                    "{method}: no answer within {} s",
                    timeout.as_secs()
                ));
            }
            set_deadline(&self.ws, deadline)?;
            let msg = match self.ws.read() {
                Ok(m) => m,
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(format!("{method}: {e}")),
            };
            let text = match msg {
                Message::Text(t) => t,
                Message::Close(_) => {
                    return Err(format!("{method}: the inspector closed the connection"))
                }
                _ => continue,
            };
            let v: Value =
                serde_json::from_str(text.as_str()).map_err(|e| format!("{method}: {e}"))?;
            if v.get("id").and_then(Value::as_u64) == Some(id) {
                if let Some(err) = v.get("error") {
                    let m = err
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("error");
                    return Err(format!("{method}: {m}"));
                }
                return Ok(v.get("result").cloned().unwrap_or(Value::Null));
            }
            if let Some(m) = v.get("method").and_then(Value::as_str) {
                on_event(m, v.get("params").unwrap_or(&Value::Null))?;
            }
        }
    }

    /// [`Cdp::call_with`], events ignored.
    pub fn call<P: Serialize>(
        &mut self,
        method: &str,
        params: P,
        timeout: Duration,
    ) -> Result<Value, String> {
        self.call_with(method, params, timeout, &mut |_, _| Ok(()))
    }

    /// Evaluates `expression` in the process's main context with the console's command-line API
    /// (so `require` works whatever the program's module system) and returns its value, which
    /// must be JSON.
    pub fn evaluate(&mut self, expression: &str, timeout: Duration) -> Result<Value, String> {
        let r = self.call(
            "Runtime.evaluate",
            Evaluate {
                expression,
                include_command_line_api: true,
                return_by_value: true,
                silent: true,
            },
            timeout,
        )?;
        if let Some(ex) = r.get("exceptionDetails") {
            let text = ex
                .pointer("/exception/description")
                .or_else(|| ex.get("text"))
                .and_then(Value::as_str)
                .unwrap_or("exception");
            return Err(format!("Runtime.evaluate: {text}"));
        }
        Ok(r.pointer("/result/value").cloned().unwrap_or(Value::Null))
    }

    /// Sends `method` without waiting for an answer (the last words before closing).
    pub fn send<P: Serialize>(&mut self, method: &str, params: P) -> Result<(), String> {
        let id = self.next_id;
        self.next_id += 1;
        let text = command_text(id, method, params);
        self.ws
            .send(Message::text(text))
            .map_err(|e| format!("{method}: {e}"))
    }

    /// Closes the WebSocket (the inspector ends the session: profilers this session started
    /// stop with it).
    pub fn close(mut self) {
        let _ = self.ws.close(None);
        let _ = self.ws.flush();
    }
}
