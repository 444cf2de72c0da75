//! The `handler` under test as a child process, started the way the Functions host starts it,
//! and what `/proc` says about it.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a start may take before the run is declared broken.
const READY_LIMIT: Duration = Duration::from_secs(30);
/// Pause between readiness probes: tight, yet leaving the two cores to the starting process.
const PROBE_PAUSE: Duration = Duration::from_micros(50);

/// The binary under test: `E2E_HANDLER` when set (e.g. a build with another profile), else the
/// one cargo built for this benchmark.
pub fn binary() -> PathBuf {
    std::env::var_os("E2E_HANDLER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_handler")))
}

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A running handler.
pub struct Handler {
    child: Child,
    pub port: u16,
    /// Lines the handler wrote to stdout and stderr, once [`Handler::drain_output`] runs.
    pub log_lines: Arc<AtomicU64>,
}

impl Handler {
    /// Starts the binary with exactly `env` (plus `PATH`), stdout and stderr piped as the host
    /// does. Nothing reads the pipes until [`Handler::drain_output`].
    pub fn spawn(binary: &Path, env: &HashMap<String, String>) -> Result<Handler, String> {
        let port = env["FUNCTIONS_CUSTOMHANDLER_PORT"]
            .parse()
            .map_err(|_| "bad port".to_owned())?;
        let child = Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        Ok(Handler {
            child,
            port,
            log_lines: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Probes `GET /` until it answers 200, like the host but without its 25 ms pause.
    pub fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_LIMIT;
        loop {
            if probe(self.port) {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut pipe) = self.child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                return Err(format!(
                    "handler exited with {status} before ready: {stderr}"
                ));
            }
            if Instant::now() > deadline {
                return Err("handler not ready within 30 s".to_owned());
            }
            std::thread::sleep(PROBE_PAUSE);
        }
    }

    /// Reads both pipes on background threads (so the handler never blocks on a full pipe),
    /// counting lines.
    pub fn drain_output(&mut self) {
        let streams: [Option<Box<dyn std::io::Read + Send>>; 2] = [
            self.child.stdout.take().map(|s| Box::new(s) as _),
            self.child.stderr.take().map(|s| Box::new(s) as _),
        ];
        for stream in streams.into_iter().flatten() {
            let lines = self.log_lines.clone();
            std::thread::spawn(move || {
                for _ in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// User plus system CPU time the whole process (every thread) has used so far.
    pub fn cpu_time(&self) -> Result<Duration, String> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .map_err(|e| format!("/proc/{}/stat: {e}", self.pid()))?;
        // Fields after the command name, which sits in parentheses and may hold spaces.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the file, 12 and 13 after the name.
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        match (ticks(11), ticks(12)) {
            (Some(user), Some(system)) => Ok(Duration::from_secs_f64(
                (user + system) as f64 / clock_ticks_per_second() as f64,
            )),
            _ => Err(format!("unexpected /proc/{}/stat: {stat}", self.pid())),
        }
    }

    /// Peak resident set size (`VmHWM`) in bytes.
    pub fn peak_rss(&self) -> Result<u64, String> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .map_err(|e| format!("/proc/{}/status: {e}", self.pid()))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
            .ok_or_else(|| "no VmHWM in /proc/<pid>/status".to_owned())
    }

    /// Stops the process (SIGKILL: shutdown is not measured) and reaps it.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One readiness probe: `true` once `GET /` answers 200.
fn probe(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(READY_LIMIT));
    if stream
        .write_all(b"GET / HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && &head == b"HTTP/1.1 200"
}

/// `USER_HZ`, the unit of `/proc/<pid>/stat` times; 100 on every mainstream Linux build.
fn clock_ticks_per_second() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(100)
    })
}
