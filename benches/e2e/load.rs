//! Closed-loop load: `concurrency` workers, each on its own keep-alive connection, send the next
//! request as soon as the previous answer is read, until `total` requests have been sent.

use crate::calls::{Call, Floor};
use crate::client::{Connection, Target};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Open connections, ready for [`drive`]. Opening them is kept out of the measured window.
pub struct Workers {
    connections: Vec<Connection>,
}

/// What one run measured.
pub struct Run {
    /// Every request's latency, sorted.
    pub latencies: Vec<Duration>,
    pub wall: Duration,
}

impl Run {
    pub fn requests(&self) -> usize {
        self.latencies.len()
    }

    pub fn per_second(&self) -> f64 {
        self.requests() as f64 / self.wall.as_secs_f64()
    }

    /// Nearest-rank percentile, `p` in 0..=100.
    pub fn percentile(&self, p: f64) -> Duration {
        percentile(&self.latencies, p)
    }
}

/// Nearest-rank percentile of sorted `values`.
pub fn percentile<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Opens `concurrency` connections to `target`.
pub async fn connect(target: &Target, concurrency: usize) -> Result<Workers, String> {
    let mut connections = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        connections.push(target.connect().await?);
    }
    Ok(Workers { connections })
}

/// Sends `total` requests of kind `call`; the first unexpected answer fails the run.
pub async fn drive(
    workers: Workers,
    call: Call,
    floor: &Floor,
    total: usize,
) -> Result<Run, String> {
    let issued = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for mut connection in workers.connections {
        let issued = issued.clone();
        let floor = floor.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(total);
            while issued.fetch_add(1, Ordering::Relaxed) < total {
                let request = call.request(&floor);
                let sent = Instant::now();
                let (status, body) = connection.send(request).await?;
                latencies.push(sent.elapsed());
                if status != call.expected() {
                    let body = String::from_utf8_lossy(&body);
                    return Err(format!(
                        "{}: expected {}, got {status}: {body}",
                        call.name(),
                        call.expected()
                    ));
                }
            }
            Ok::<_, String>(latencies)
        });
    }

    let mut latencies = Vec::with_capacity(total);
    while let Some(joined) = tasks.join_next().await {
        latencies.extend(joined.map_err(|e| format!("load worker panicked: {e}"))??);
    }
    let wall = started.elapsed();
    latencies.sort_unstable();
    Ok(Run { latencies, wall })
}
