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
    tune_allocator();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("chronograph: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// mimalloc 3's `purge_delay` option (its index in `mi_option_t`).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc 3 keeps freed pages for a second (`purge_delay` 1000 ms) before it gives them
/// back, so under load the resident set holds a second's worth of freed request memory. Each
/// purge costs page faults and TLB shootdowns when the pages are used again, so a shorter
/// delay costs throughput. Measured on the bench's W3 at c=32 (benches/RESULTS.md): 10 ms gave
/// peak RSS 30 MiB and 677-743 RPS without request sharing; 100 ms 33-35 MiB and 748-820 RPS;
/// 1000 ms 40 MiB and 759-856 RPS. `MIMALLOC_PURGE_DELAY` in the environment still decides.
const PURGE_DELAY_MS: std::ffi::c_long = 100;

fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one integer option of the allocator; mimalloc reads it when it next
        // schedules a purge. No memory is touched.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: reads and sets one integer option.
        let default = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(
            default, 1000,
            "mimalloc 3's purge_delay default at this index"
        );
        tune_allocator();
        let set = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(set, PURGE_DELAY_MS);
    }
}
