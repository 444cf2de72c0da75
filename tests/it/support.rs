//! Test support: the emulator in-process and the real `handler` binary as a child process,
//! started the way the Functions host starts it.

use acs_functions_handler::emulator::{Emulator, EmulatorOptions, EmulatorState};
use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// The sender the emulated resource owns and `SMS_FROM` names.
pub const SENDER: &str = "+18005550100";

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A running `handler` process.
pub struct Handler {
    child: Child,
    pub port: u16,
    pub base: String,
    /// Every line the process wrote, stdout and stderr, as the host would record them.
    pub stdout: Arc<Mutex<Vec<String>>>,
    pub stderr: Arc<Mutex<Vec<String>>>,
}

impl Handler {
    /// Starts the binary with exactly `env` (plus `PATH`), in `dir`, and waits until `GET /`
    /// answers, polling every 25 ms for at most 30 s as the host does.
    pub fn start(env: &HashMap<String, String>, dir: &std::path::Path) -> Handler {
        Self::start_binary(env!("CARGO_BIN_EXE_handler").as_ref(), env, dir)
    }

    /// Like [`Handler::start`] with another binary. Should the port `env` names be taken by
    /// the time the child binds it (it was free when chosen, and other tests open connections
    /// meanwhile), the child is started again on a fresh one.
    pub fn start_binary(
        binary: &std::path::Path,
        env: &HashMap<String, String>,
        dir: &std::path::Path,
    ) -> Handler {
        let mut env = env.clone();
        for _ in 0..3 {
            let mut handler = Self::spawn(binary, &env, dir);
            match handler.wait_ready() {
                Ok(()) => return handler,
                Err(stderr) if stderr.contains("cannot listen") => {
                    let port = free_port().to_string();
                    for name in ["FUNCTIONS_CUSTOMHANDLER_PORT", "FUNCTIONS_HTTPWORKER_PORT"] {
                        if env.contains_key(name) {
                            env.insert(name.to_owned(), port.clone());
                        }
                    }
                }
                Err(stderr) => panic!("handler not ready: {stderr}"),
            }
        }
        panic!("handler could not get a port in three tries");
    }

    fn spawn(
        binary: &std::path::Path,
        env: &HashMap<String, String>,
        dir: &std::path::Path,
    ) -> Handler {
        let port: u16 = env["FUNCTIONS_CUSTOMHANDLER_PORT"].parse().unwrap();
        let mut child = Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the handler binary starts");
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        Handler {
            child,
            port,
            base: format!("http://127.0.0.1:{port}"),
            stdout,
            stderr,
        }
    }

    /// Polls `GET /` every 25 ms for at most 30 s; on failure, what the child wrote to stderr.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if answers_http(self.port) {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the reader thread take the last lines.
                std::thread::sleep(Duration::from_millis(100));
                let stderr = self.stderr.lock().unwrap().join("\n");
                return Err(format!("exited ({status}): {stderr}"));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Err(format!(
            "not ready in 30 s: {}",
            self.stderr.lock().unwrap().join("\n")
        ))
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "handler did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id, e.g. to read its memory use from `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// All log lines so far, stdout then stderr.
    pub fn logs(&self) -> Vec<String> {
        let mut lines = self.stdout.lock().unwrap().clone();
        lines.extend(self.stderr.lock().unwrap().iter().cloned());
        lines
    }
}

impl Drop for Handler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether an HTTP server answers `GET /` on the loopback `port`, as the host's probe asks.
///
/// A bare TCP connect is not enough: with nothing listening on a port of the ephemeral range, a
/// connect can pick that very port as its source and connect to itself, and the "ready" handler
/// then refuses the test's first request.
fn answers_http(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = [0u8; 5];
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
        .is_ok()
        && stream.read_exact(&mut head).is_ok()
        && &head == b"HTTP/"
}

fn collect(stream: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

/// The emulator plus a handler configured against it: the managed-identity path end to end.
pub struct TestApp {
    pub emulator: Emulator,
    pub handler: Handler,
    pub http: reqwest::Client,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(&[]).await
    }

    /// Starts with extra settings (`(name, value)`), which override the defaults.
    pub async fn spawn_with(settings: &[(&str, &str)]) -> TestApp {
        Self::spawn_against(start_emulator().await, settings).await
    }

    /// Starts against an emulator of the test's own making, with extra settings.
    pub async fn spawn_against(emulator: Emulator, settings: &[(&str, &str)]) -> TestApp {
        let mut env = handler_env(&emulator);
        for (name, value) in settings {
            env.insert(name.to_string(), value.to_string());
        }
        let handler = tokio::task::block_in_place(|| Handler::start(&env, &repo_root()));
        TestApp {
            emulator,
            handler,
            http: reqwest::Client::new(),
        }
    }

    pub fn state(&self) -> &EmulatorState {
        self.emulator.state()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.handler.base)
    }

    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }
}

pub async fn start_emulator() -> Emulator {
    Emulator::start(emulator_options())
        .await
        .expect("the emulator starts")
}

/// The options of [`start_emulator`], for tests that change one of them.
pub fn emulator_options() -> EmulatorOptions {
    EmulatorOptions {
        cert_dir: std::env::temp_dir().join("acs-handler-tests"),
        owned_senders: vec![SENDER.to_owned(), "+18005550199".to_owned()],
        ..EmulatorOptions::default()
    }
}

/// The environment the host would give the handler in Azure, pointed at `emulator`.
pub fn handler_env(emulator: &Emulator) -> HashMap<String, String> {
    let port = free_port();
    [
        ("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string()),
        ("FUNCTIONS_HTTPWORKER_PORT", port.to_string()),
        ("FUNCTIONS_WORKER_RUNTIME", "custom".to_owned()),
        ("IDENTITY_ENDPOINT", emulator.identity_endpoint()),
        ("IDENTITY_HEADER", emulator.identity_header().to_owned()),
        (
            "SSL_CERT_FILE",
            emulator.ca_cert_path().display().to_string(),
        ),
        ("COMMUNICATION_SERVICES_ENDPOINT", emulator.acs_endpoint()),
        ("SMS_FROM", SENDER.to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}
