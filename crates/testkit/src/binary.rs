//! Driving the real `reachkit` binary in end-to-end tests: a command with a clean environment,
//! the JSON an administrative command prints, a workspace with an API key, a running
//! `reachkit serve` (or `worker`), and JSON requests to its API.
//!
//! The binary's path comes from the test (`env!("CARGO_BIN_EXE_reachkit")`, only defined in the
//! app crate's tests).

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

/// The secrets key every end-to-end test runs with (32 bytes, base64).
pub const SECRETS_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Bounds one API request of a test (awc's own default is 5 s, too short on a loaded machine).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// `bin` with nothing of the caller's environment but `PATH`, run in the temporary directory (so
/// a developer's `reachkit.toml` is never picked up), on `database_url`, with [`SECRETS_KEY`] and
/// `RUST_LOG` set to `log`.
#[must_use]
pub fn command(bin: &str, database_url: &str, log: &str) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("REACHKIT__SECRETS__KEY", SECRETS_KEY)
        .env("RUST_LOG", log)
        .current_dir(std::env::temp_dir());
    cmd
}

/// Runs `cmd`, which must succeed, and parses what it printed as one JSON value.
///
/// # Panics
/// When the command fails or prints something else.
pub fn json_output(cmd: &mut Command) -> Value {
    let output = cmd.output().expect("run reachkit");
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// A new workspace named `name` and an API key for it, made with the administrative commands:
/// `(workspace id, key)`. `reachkit` makes a fresh command each time.
///
/// # Panics
/// When a command fails.
pub fn tenant(reachkit: impl Fn() -> Command, name: &str) -> (String, String) {
    let ws = json_output(reachkit().args(["workspace", "create", "--name", name, "--json"]));
    let id = ws["id"].as_str().expect("workspace id").to_owned();
    let key = json_output(reachkit().args([
        "api-key",
        "create",
        "--workspace",
        &id,
        "--name",
        "e2e",
        "--json",
    ]));
    (id, key["key"].as_str().expect("key").to_owned())
}

/// A running `reachkit serve` (or `worker`): killed when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:port`
    pub origin: String,
    /// `{origin}/api/v1`
    pub api: String,
    /// Reads standard error as it comes, so a chatty log never blocks the server.
    stderr: Option<JoinHandle<String>>,
}

impl Server {
    /// Starts `cmd` (e.g. `reachkit serve`) on a free loopback port and waits for its
    /// "reachkit listening on" line.
    ///
    /// # Panics
    /// When it does not start; the message has what it wrote to standard error.
    pub fn start(cmd: &mut Command) -> Self {
        let mut child = cmd
            .env("REACHKIT_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn reachkit");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read");
        let Some(origin) = line.trim().strip_prefix("reachkit listening on ") else {
            let mut stderr = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut stderr);
            }
            let _ = child.kill();
            let _ = child.wait();
            panic!("server did not start: {line:?} {stderr}");
        };
        let origin = origin.to_owned();
        let mut stderr = child.stderr.take().expect("stderr");
        let reader = std::thread::spawn(move || {
            let mut all = String::new();
            let _ = stderr.read_to_string(&mut all);
            all
        });
        Self {
            api: format!("{origin}/api/v1"),
            origin,
            child,
            stderr: Some(reader),
        }
    }

    /// The process, e.g. to signal it.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Stops the server (kill) and returns everything it wrote to standard error.
    #[must_use]
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.logs()
    }

    /// Everything the process wrote to standard error; call once it has exited.
    #[must_use]
    pub fn logs(&mut self) -> String {
        self.stderr
            .take()
            .and_then(|reader| reader.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A JSON request with the API key `key`: the status and the body as JSON (`Null` when empty).
///
/// # Panics
/// When the request fails or the body is not JSON.
pub async fn request(method: &str, url: &str, key: &str, body: Option<Value>) -> (u16, Value) {
    request_with(method, url, Some(key), body).await
}

/// [`request`] with an optional key (`None`: no Authorization header).
///
/// # Panics
/// When the request fails or the body is not JSON.
pub async fn request_with(
    method: &str,
    url: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let client = awc::Client::default();
    let mut req = match method {
        "GET" => client.get(url),
        "POST" => client.post(url),
        "PUT" => client.put(url),
        "PATCH" => client.patch(url),
        "DELETE" => client.delete(url),
        other => panic!("method {other}"),
    }
    .timeout(REQUEST_TIMEOUT);
    if let Some(key) = key {
        req = req.insert_header(("Authorization", format!("Bearer {key}")));
    }
    let mut response = match body {
        Some(body) => req.send_json(&body).await,
        None => req.send().await,
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let bytes = response.body().limit(64 * 1024 * 1024).await.expect("body");
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {bytes:?}"))
    };
    (status, json)
}
