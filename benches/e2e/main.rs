//! Whole-process benchmark of the `handler` binary against the in-process emulator: exec to
//! ready, latency added over a direct ACS call, throughput, server CPU per request, peak RSS,
//! identity-endpoint fetches and upstream connections, binary size. Prints a markdown table.
//!
//! `cargo bench --bench e2e` measures (release build, a few minutes). `cargo test --bench e2e`
//! (or `-- --smoke`) is the smoke run CI uses: every measurement path on a few hundred requests,
//! failing on any request error, asserting no timing. `E2E_HANDLER=<path>` benchmarks another
//! build of the binary, e.g. one made with a different release profile.

mod calls;
mod client;
mod load;
mod process;
mod report;

use acs_functions_handler::emulator::{Emulator, EmulatorOptions};
use calls::{Call, Floor};
use client::Target;
use process::Handler;
use report::{Figures, Point, Variant};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How much work each measurement does.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub smoke: bool,
    pub cold_starts: usize,
    /// Requests of a fresh process in which identity fetches and connections are counted.
    pub counted: usize,
    /// Requests sent before each measured run, so pools are full and caches warm.
    pub warmup: usize,
    /// Requests per measured run.
    pub requests: usize,
    /// Every measured run is repeated this many times; the report gives the median.
    pub rounds: usize,
}

const FULL: Plan = Plan {
    smoke: false,
    cold_starts: 60,
    counted: 10_000,
    warmup: 1_000,
    requests: 10_000,
    rounds: 3,
};

const SMOKE: Plan = Plan {
    smoke: true,
    cold_starts: 3,
    counted: 200,
    warmup: 64,
    requests: 64,
    rounds: 1,
};

pub const CONCURRENCY: [usize; 3] = [1, 16, 64];
pub const CALLS: [Call; 2] = [Call::Token, Call::Sms];

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; `cargo test` does not, and gets the smoke run.
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--smoke");
    let plan = if full { FULL } else { SMOKE };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run(plan)) {
        Ok(figures) => {
            println!("{}", report::render(&plan, &figures));
            match figures.acceptance_failures() {
                failures if failures.is_empty() => ExitCode::SUCCESS,
                failures => {
                    eprintln!("e2e: {}", failures.join("; "));
                    ExitCode::FAILURE
                }
            }
        }
        Err(error) => {
            eprintln!("e2e benchmark failed: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(plan: Plan) -> Result<Figures, String> {
    let binary = process::binary();
    let mut figures = Figures::new(&binary, report::load_average());
    let options = EmulatorOptions {
        cert_dir: std::env::temp_dir().join("acs-handler-bench"),
        owned_senders: vec![calls::SENDER.to_owned()],
        ..EmulatorOptions::default()
    };
    let emulator = Emulator::start(options)
        .await
        .map_err(|e| format!("emulator: {e}"))?;
    eprintln!("e2e: {} with {plan:?}", binary.display());

    eprintln!("e2e: exec → ready, {} starts", plan.cold_starts);
    figures.ready = tokio::task::block_in_place(|| cold_starts(&binary, &emulator, plan))?;

    // The production logging default, and the same with per-request lines filtered out.
    let handler = start(&binary, &emulator, None)?;
    let quiet = start(&binary, &emulator, Some("warn"))?;

    eprintln!(
        "e2e: the first {} requests of a fresh process",
        plan.counted
    );
    count_first_requests(&handler, &emulator, plan, &mut figures).await?;

    let floor = Floor {
        authorization: format!("Bearer {}", managed_identity_token(&emulator).await?),
        host: socket_addr(&emulator.acs_endpoint())?.to_string(),
    };
    let upstream = Target::tls(
        socket_addr(&emulator.acs_endpoint())?,
        emulator.ca_cert_path(),
    )?;
    let front = Target::plain(SocketAddr::from(([127, 0, 0, 1], handler.port)));
    let quiet_front = Target::plain(SocketAddr::from(([127, 0, 0, 1], quiet.port)));

    for round in 1..=plan.rounds {
        for call in CALLS {
            eprintln!("e2e: round {round}/{}: {}", plan.rounds, call.name());
            let run = Run {
                call: call.floor(),
                concurrency: 1,
                floor: &floor,
                plan,
            };
            figures.push(
                call.floor(),
                1,
                Variant::Floor,
                run.measure(&emulator, &upstream, None).await?,
            );
            for concurrency in CONCURRENCY {
                let run = Run {
                    call,
                    concurrency,
                    floor: &floor,
                    plan,
                };
                let point = run.measure(&emulator, &front, Some(&handler)).await?;
                figures.push(call, concurrency, Variant::Info, point);
            }
            let run = Run {
                call,
                concurrency: 16,
                floor: &floor,
                plan,
            };
            let point = run.measure(&emulator, &quiet_front, Some(&quiet)).await?;
            figures.push(call, 16, Variant::Warn, point);
            // The emulator keeps every request; forget them so its memory stays flat.
            emulator.state().clear();
        }
    }
    figures.peak_rss = handler.peak_rss()?;
    handler.stop();
    quiet.stop();
    emulator.shutdown().await;
    figures.load_after = report::load_average();
    Ok(figures)
}

/// Starts, waits until ready and kills the handler `plan.cold_starts` times.
fn cold_starts(
    binary: &std::path::Path,
    emulator: &Emulator,
    plan: Plan,
) -> Result<Vec<Duration>, String> {
    let mut times = Vec::with_capacity(plan.cold_starts);
    for _ in 0..plan.cold_starts {
        let env = handler_env(emulator, None);
        let started = Instant::now();
        let mut handler = Handler::spawn(binary, &env)?;
        handler.wait_ready()?;
        times.push(started.elapsed());
        handler.stop();
    }
    times.sort_unstable();
    Ok(times)
}

fn start(
    binary: &std::path::Path,
    emulator: &Emulator,
    rust_log: Option<&str>,
) -> Result<Handler, String> {
    let mut handler = Handler::spawn(binary, &handler_env(emulator, rust_log))?;
    tokio::task::block_in_place(|| handler.wait_ready())?;
    handler.drain_output();
    Ok(handler)
}

/// Sends a fresh handler its first `plan.counted` requests, half token and half SMS, 64 at a
/// time (the hardest case for a credential cache), counting what reached the emulator.
async fn count_first_requests(
    handler: &Handler,
    emulator: &Emulator,
    plan: Plan,
    figures: &mut Figures,
) -> Result<(), String> {
    let front = Target::plain(SocketAddr::from(([127, 0, 0, 1], handler.port)));
    let floor = Floor {
        authorization: String::new(),
        host: String::new(),
    };
    let fetches_before = emulator.state().identity_requests().len();
    let connections_before = emulator.state().connections_accepted();
    for call in CALLS {
        let workers = load::connect(&front, 64).await?;
        load::drive(workers, call, &floor, plan.counted / CALLS.len()).await?;
    }
    figures.counted_requests = (plan.counted / CALLS.len() * CALLS.len()) as u64;
    figures.identity_fetches = (emulator.state().identity_requests().len() - fetches_before) as u64;
    figures.first_connections = emulator.state().connections_accepted() - connections_before;
    emulator.state().clear();
    Ok(())
}

/// One measured run of `plan.requests` requests of one kind at one concurrency.
struct Run<'a> {
    call: Call,
    concurrency: usize,
    floor: &'a Floor,
    plan: Plan,
}

impl Run<'_> {
    /// Warms up, then measures. The handler's CPU time and the connections the emulator
    /// accepted are sampled around the measured requests only; the load generator's own
    /// connections are opened before the window.
    async fn measure(
        &self,
        emulator: &Emulator,
        target: &Target,
        handler: Option<&Handler>,
    ) -> Result<Point, String> {
        let warm = load::connect(target, self.concurrency).await?;
        load::drive(warm, self.call, self.floor, self.plan.warmup).await?;

        let workers = load::connect(target, self.concurrency).await?;
        let connections_before = emulator.state().connections_accepted();
        let cpu_before = handler.map(Handler::cpu_time).transpose()?;
        let run = load::drive(workers, self.call, self.floor, self.plan.requests).await?;
        let cpu_after = handler.map(Handler::cpu_time).transpose()?;
        let new_connections = emulator.state().connections_accepted() - connections_before;

        let cpu_per_request = match (cpu_before, cpu_after) {
            (Some(before), Some(after)) => Some((after - before) / run.requests() as u32),
            _ => None,
        };
        Ok(Point {
            requests: run.requests() as u64,
            p50: run.percentile(50.0),
            p99: run.percentile(99.0),
            per_second: run.per_second(),
            cpu_per_request,
            new_connections,
        })
    }
}

/// The environment the host gives the handler in Azure, pointed at the emulator, with the SMS
/// rate limits off so the benchmark measures work rather than 429s.
fn handler_env(emulator: &Emulator, rust_log: Option<&str>) -> HashMap<String, String> {
    let port = process::free_port().to_string();
    let mut env: HashMap<String, String> = [
        ("FUNCTIONS_CUSTOMHANDLER_PORT", port.clone()),
        ("FUNCTIONS_HTTPWORKER_PORT", port),
        ("FUNCTIONS_WORKER_RUNTIME", "custom".to_owned()),
        ("IDENTITY_ENDPOINT", emulator.identity_endpoint()),
        ("IDENTITY_HEADER", emulator.identity_header().to_owned()),
        (
            "SSL_CERT_FILE",
            emulator.ca_cert_path().display().to_string(),
        ),
        ("COMMUNICATION_SERVICES_ENDPOINT", emulator.acs_endpoint()),
        ("SMS_FROM", calls::SENDER.to_owned()),
        ("SMS_LIMIT_PER_NUMBER_PER_HOUR", "0".to_owned()),
        ("SMS_LIMIT_PER_CALLER_PER_MINUTE", "0".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if let Some(filter) = rust_log {
        env.insert("RUST_LOG".to_owned(), filter.to_owned());
    }
    env
}

/// A token from the emulated managed-identity endpoint, as an ACS SDK would hold it.
async fn managed_identity_token(emulator: &Emulator) -> Result<String, String> {
    let addr = socket_addr(&emulator.identity_endpoint())?;
    let mut connection = Target::plain(addr).connect().await?;
    let request = axum::http::Request::get(
        "/msi/token?api-version=2019-08-01&resource=https%3A%2F%2Fcommunication.azure.com%2F",
    )
    .header("host", addr.to_string())
    .header("x-identity-header", emulator.identity_header())
    .body(axum::body::Body::empty())
    .map_err(|e| e.to_string())?;
    let (status, body) = connection.send(request).await?;
    let json: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| format!("identity endpoint ({status}): {e}"))?;
    json["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("identity endpoint answered {status} without a token"))
}

/// The `host:port` of an emulator URL.
fn socket_addr(url: &str) -> Result<SocketAddr, String> {
    let url = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or_default();
    format!("{host}:{port}")
        .parse()
        .map_err(|e| format!("{url}: {e}"))
}
