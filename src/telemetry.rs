//! Logging fit for the Functions host: one line per event, informational lines on stdout
//! (recorded as Information) and warnings and errors on stderr (recorded as Error, or Warning
//! when the line says "warn").

use tracing::Level;
use tracing_subscriber::{EnvFilter, fmt::writer::MakeWriterExt};

/// Default filter; `RUST_LOG` overrides it.
const DEFAULT_FILTER: &str = "acs_functions_handler=info,handler=info,warn";

/// Installs the global subscriber. Safe to call once per process.
pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let writer = std::io::stderr
        .with_max_level(Level::WARN)
        .or_else(std::io::stdout);
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .with_target(false)
        .try_init();
}
