//! The figures, their medians over rounds, and the markdown table beside the targets.

use crate::calls::Call;
use crate::load::percentile;
use crate::{CALLS, CONCURRENCY, Plan};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which process answered: the emulator directly, or the handler with a log filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Variant {
    Floor,
    /// The production default: one info line per request.
    Info,
    /// `RUST_LOG=warn`: no per-request line.
    Warn,
}

/// What one measured run found.
#[derive(Clone, Copy, Debug)]
pub struct Point {
    pub requests: u64,
    pub p50: Duration,
    pub p99: Duration,
    pub per_second: f64,
    /// The handler's CPU time over the run divided by its requests; `None` for the floor.
    pub cpu_per_request: Option<Duration>,
    /// Connections the emulator's ACS API accepted during the run.
    pub new_connections: u64,
}

/// Everything the report prints.
pub struct Figures {
    pub binary: PathBuf,
    pub binary_size: u64,
    pub load_before: String,
    pub load_after: String,
    /// Sorted exec → ready times.
    pub ready: Vec<Duration>,
    pub counted_requests: u64,
    pub identity_fetches: u64,
    pub first_connections: u64,
    pub peak_rss: u64,
    points: BTreeMap<(Call, usize, Variant), Vec<Point>>,
}

impl Figures {
    pub fn new(binary: &Path, load_before: String) -> Figures {
        Figures {
            binary: binary.to_owned(),
            binary_size: std::fs::metadata(binary).map_or(0, |m| m.len()),
            load_before,
            load_after: String::new(),
            ready: Vec::new(),
            counted_requests: 0,
            identity_fetches: 0,
            first_connections: 0,
            peak_rss: 0,
            points: BTreeMap::new(),
        }
    }

    pub fn push(&mut self, call: Call, concurrency: usize, variant: Variant, point: Point) {
        self.points
            .entry((call, concurrency, variant))
            .or_default()
            .push(point);
    }

    /// The median over rounds of one figure of one run.
    fn median<T: Copy + Default + PartialOrd>(
        &self,
        call: Call,
        concurrency: usize,
        variant: Variant,
        figure: impl Fn(&Point) -> T,
    ) -> T {
        let mut values: Vec<T> = self
            .points
            .get(&(call, concurrency, variant))
            .map(|points| points.iter().map(&figure).collect())
            .unwrap_or_default();
        values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        percentile(&values, 50.0)
    }

    fn cpu(&self, call: Call, concurrency: usize, variant: Variant) -> Duration {
        self.median(call, concurrency, variant, |p| {
            p.cpu_per_request.unwrap_or_default()
        })
    }

    /// Connections the handler opened to ACS during measured runs (after warm-up), and the
    /// requests those runs sent.
    fn connections_after_warmup(&self) -> (u64, u64) {
        self.points
            .iter()
            .filter(|((_, _, variant), _)| *variant != Variant::Floor)
            .flat_map(|(_, points)| points)
            .fold((0, 0), |(c, r), p| (c + p.new_connections, r + p.requests))
    }

    /// Count-based acceptance checks (never timings): the run is broken when they fail.
    pub fn acceptance_failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        if self.identity_fetches != 1 {
            failures.push(format!(
                "{} identity-endpoint fetches in the first {} requests; expected 1",
                self.identity_fetches, self.counted_requests
            ));
        }
        failures
    }
}

/// `/proc/loadavg`'s three averages.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn signed_ms(d: f64) -> String {
    format!("{d:+.3} ms")
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// The markdown report.
pub fn render(plan: &Plan, f: &Figures) -> String {
    let mut out = String::new();
    let mode = if plan.smoke {
        "smoke run: figures are not meaningful"
    } else {
        "full run"
    };
    let _ = writeln!(out, "\n### e2e benchmark ({mode})\n");
    let _ = writeln!(out, "{}\n", machine());
    let _ = writeln!(
        out,
        "Binary `{}`; {} rounds of {} requests per run after {} warm-up requests; median over \
         rounds. Load average before {}, after {}.\n",
        f.binary.display(),
        plan.rounds,
        plan.requests,
        plan.warmup,
        f.load_before,
        f.load_after
    );
    let _ = writeln!(out, "| Figure | Measured | Target |");
    let _ = writeln!(out, "|---|---|---|");
    let _ = writeln!(
        out,
        "| exec → ready (`GET /` answers), median / p90 of {} starts | {} / {} | ≤ 10 ms |",
        f.ready.len(),
        ms(percentile(&f.ready, 50.0)),
        ms(percentile(&f.ready, 90.0))
    );

    for call in CALLS {
        let floor = call.floor();
        let p50 = |v, c| f.median(c, 1, v, |p| p.p50.as_secs_f64() * 1000.0);
        let p99 = |v, c| f.median(c, 1, v, |p| p.p99.as_secs_f64() * 1000.0);
        let _ = writeln!(
            out,
            "| `{}` added latency at concurrency 1, p50 / p99 (handler {:.3} / {:.3} ms; direct \
             to the emulator {:.3} / {:.3} ms) | {} / {} | p50 ≤ 0.08 ms |",
            call.name(),
            p50(Variant::Info, call),
            p99(Variant::Info, call),
            p50(Variant::Floor, floor),
            p99(Variant::Floor, floor),
            signed_ms(p50(Variant::Info, call) - p50(Variant::Floor, floor)),
            signed_ms(p99(Variant::Info, call) - p99(Variant::Floor, floor)),
        );
    }
    for call in CALLS {
        let cpu: Vec<String> = CONCURRENCY
            .iter()
            .map(|&c| ms(f.cpu(call, c, Variant::Info)))
            .collect();
        let _ = writeln!(
            out,
            "| `{}` server CPU per request at concurrency 1 / 16 / 64 | {} | ≤ 0.05 ms |",
            call.name(),
            cpu.join(" / ")
        );
    }
    for call in CALLS {
        let _ = writeln!(
            out,
            "| `{}` server CPU per request at concurrency 16 with `RUST_LOG=warn` (default \
             filter: {}) | {} | — |",
            call.name(),
            ms(f.cpu(call, 16, Variant::Info)),
            ms(f.cpu(call, 16, Variant::Warn)),
        );
    }
    for call in CALLS {
        let rates: Vec<String> = CONCURRENCY
            .iter()
            .map(|&c| format!("{:.0}", f.median(call, c, Variant::Info, |p| p.per_second)))
            .collect();
        let floor = f.median(call.floor(), 1, Variant::Floor, |p| p.per_second);
        let _ = writeln!(
            out,
            "| `{}` throughput at concurrency 1 / 16 / 64, requests/s (direct to the emulator \
             at 1: {floor:.0}) | {} | — |",
            call.name(),
            rates.join(" / ")
        );
    }
    let _ = writeln!(
        out,
        "| Peak RSS (`VmHWM`) after the runs at concurrency 64 | {} | ≤ 20 MiB |",
        mib(f.peak_rss)
    );
    let _ = writeln!(
        out,
        "| Identity-endpoint fetches in a fresh process's first {} requests (64 concurrent) | \
         {} | 1 per token lifetime |",
        f.counted_requests, f.identity_fetches
    );
    let _ = writeln!(
        out,
        "| New upstream TLS connections in those first {} requests | {} | — |",
        f.counted_requests, f.first_connections
    );
    let (connections, requests) = f.connections_after_warmup();
    let _ = writeln!(
        out,
        "| New upstream TLS connections after warm-up, per 10 000 requests ({connections} in \
         {requests}) | {:.2} | 0 |",
        connections as f64 * 10_000.0 / requests.max(1) as f64
    );
    let _ = writeln!(
        out,
        "| Binary size (`handler`) | {} | — |",
        mib(f.binary_size)
    );
    out
}

/// Cores, CPU model, compiler and date, for the README.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let command = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    format!(
        "{cores} cores ({model}), {}, {} (UTC)",
        command("rustc", &["-V"]),
        command("date", &["-u", "+%Y-%m-%d %H:%M"])
    )
}
