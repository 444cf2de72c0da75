//! A bounded load test through the binary against the emulator: tokens and SMS from 64
//! concurrent callers. Checks correctness under load (no errors, one managed-identity token
//! fetch, pooled ACS connections, memory flat after warm-up), never speed: the figures are
//! printed for benchmarks/README.
//!
//! `LOAD_REQUESTS` sets the total (default 2 000 so a debug `cargo test` stays quick); the
//! README's figures come from `LOAD_REQUESTS=20000 cargo test --release --test it load --
//! --nocapture`.

use crate::support::TestApp;
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

const CONCURRENCY: usize = 64;
/// Growth of the handler's resident memory allowed between warm-up and the end.
const RSS_GROWTH_LIMIT_KIB: u64 = 16 * 1024;

/// `VmRSS` of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

/// Request `n` of the run: every fourth is an SMS to a number of its own, the rest tokens.
fn request(http: &reqwest::Client, base: &str, n: usize) -> (reqwest::RequestBuilder, u16) {
    if n % 4 == 3 {
        let to = format!("+1425{:07}", n % 10_000_000);
        let body = serde_json::json!({"to": to, "message": "load test"});
        let request = http
            .post(format!("{base}/api/sms"))
            .header("content-type", "application/json")
            .body(body.to_string());
        (request, 202)
    } else {
        (http.post(format!("{base}/api/token")), 200)
    }
}

/// Sends requests `range` from `CONCURRENCY` workers; returns every latency and the failures.
async fn drive(app: &TestApp, range: std::ops::Range<usize>) -> (Vec<Duration>, Vec<String>) {
    let next = Arc::new(AtomicUsize::new(range.start));
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (next, http, base, end) = (
            next.clone(),
            app.http.clone(),
            app.handler.base.clone(),
            range.end,
        );
        workers.push(tokio::spawn(async move {
            let (mut latencies, mut failures) = (Vec::new(), Vec::new());
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= end {
                    return (latencies, failures);
                }
                let (builder, expected) = request(&http, &base, n);
                let started = Instant::now();
                match builder.send().await {
                    Ok(response) if response.status().as_u16() == expected => {
                        // Read the whole body: a pooled connection is only reused after that.
                        let _ = response.bytes().await;
                        latencies.push(started.elapsed());
                    }
                    Ok(response) => failures.push(format!("{n}: {}", response.status())),
                    Err(error) => failures.push(format!("{n}: {error}")),
                }
            }
        }));
    }
    let (mut latencies, mut failures) = (Vec::new(), Vec::new());
    for worker in workers {
        let (l, f) = worker.await.unwrap();
        latencies.extend(l);
        failures.extend(f);
    }
    (latencies, failures)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

#[tokio::test(flavor = "multi_thread")]
async fn load_without_errors_leaks_or_extra_connections() {
    let total: usize = std::env::var("LOAD_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let warm_up = (total / 10).max(CONCURRENCY);
    let app = TestApp::spawn_with(&[
        ("SMS_LIMIT_PER_NUMBER_PER_HOUR", "0"),
        ("SMS_LIMIT_PER_CALLER_PER_MINUTE", "0"),
        ("RUST_LOG", "warn"),
    ])
    .await;
    let pid = app.handler.pid();
    let rss_start = rss_kib(pid);

    let (_, failures) = drive(&app, 0..warm_up).await;
    assert!(failures.is_empty(), "warm-up failures: {failures:?}");
    let rss_warm = rss_kib(pid);
    let started = Instant::now();
    let (mut latencies, failures) = drive(&app, warm_up..total).await;
    let elapsed = started.elapsed();
    let rss_end = rss_kib(pid);

    latencies.sort();
    let measured = latencies.len();
    eprintln!(
        "load: {total} requests ({measured} measured after {warm_up} warm-up), {CONCURRENCY} \
         concurrent: {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms; RSS {rss_start} KiB at start, \
         {rss_warm} KiB after warm-up, {rss_end} KiB at the end; {} identity fetches, {} ACS \
         connections",
        measured as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
        app.state().identity_requests().len(),
        app.state().connections_accepted(),
    );

    assert!(
        failures.is_empty(),
        "{} failures: {failures:?}",
        failures.len()
    );
    assert_eq!(measured, total - warm_up);
    assert_eq!(
        app.state().outbox().len(),
        total / 4,
        "one SMS per SMS request"
    );
    assert_eq!(
        app.state().identity_requests().len(),
        1,
        "the managed-identity token is fetched once and cached"
    );
    // One per concurrent caller, plus slack for a connection the pool replaces now and then
    // (up to 69 seen on a busy machine); without pooling there would be one per request.
    let connections = app.state().connections_accepted();
    assert!(
        connections <= CONCURRENCY as u64 + 16,
        "{connections} ACS connections: not pooled"
    );
    assert!(
        rss_end.saturating_sub(rss_warm) < RSS_GROWTH_LIMIT_KIB,
        "RSS grew from {rss_warm} KiB to {rss_end} KiB"
    );
}
