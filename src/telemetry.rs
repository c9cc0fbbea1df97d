//! Logging setup: `RUST_LOG`-style filtering, text or JSON lines on stderr.

use tracing_subscriber::EnvFilter;

/// Install the global subscriber once; later calls are ignored (tests start many servers).
pub fn init(format: &str) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,chronograph=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    let _ = result;
}
