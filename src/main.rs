//! Thin entry point: parse the command line, set up logging, hand over to the library.

use chronograph::cli::{Cli, Command};

/// mimalloc: the gateway allocates many small, short-lived JSON nodes per request, where it
/// is markedly faster than the system allocator (see benches/RESULTS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::Parser;
use std::process::ExitCode;

/// A failure is one line on stderr and status 1 (no backtrace, even with `RUST_BACKTRACE` set).
#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("chronograph: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Demo {
        listen: "127.0.0.1:8000".into(),
    }) {
        Command::Demo { listen } => {
            let _telemetry = chronograph::telemetry::init(&cli.log_format, None);
            chronograph::demo::run(&listen).await
        }
        Command::Serve { config } => {
            let loaded = chronograph::cli::load_or_exit(&config);
            let endpoint = loaded.config.telemetry.otlp_endpoint.clone();
            let _telemetry = chronograph::telemetry::init(&cli.log_format, endpoint.as_deref());
            for warning in &loaded.warnings {
                tracing::warn!("{warning}");
            }
            let listen = loaded.origins.source_of("server.listen");
            let listener = chronograph::bind(loaded.config.listen_addr(), &listen).await?;
            chronograph::serve(loaded.config, listener).await
        }
        Command::Schema { federation, config } => {
            // With a config, its declared sources join the `Source` enum.
            let declared = match config {
                Some(path) => chronograph::cli::load_or_exit(&path)
                    .config
                    .sources
                    .declared_sources(),
                None => Vec::new(),
            };
            print!("{}", chronograph::schema::sdl_for(&declared, federation));
            Ok(())
        }
        Command::CheckConfig { config } => {
            chronograph::cli::check_config(&config);
            Ok(())
        }
    }
}
