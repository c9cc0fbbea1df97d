//! Command line (DESIGN.md §8).

use crate::config::{Config, Loaded};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

/// Chronograph: one GraphQL graph over the history integration platforms keep.
#[derive(Parser, Debug)]
#[command(name = "chronograph", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Log format: `text` (default) or `json`.
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

/// What to run; without a command, `demo`.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start embedded fake upstreams with generated data and the gateway (GraphiQL at /graphql).
    Demo {
        /// Address of the gateway.
        #[arg(long, default_value = "127.0.0.1:8000")]
        listen: String,
    },
    /// Run the gateway against the upstreams of a config file.
    Serve {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print the SDL (the same as schema/schema.graphql).
    Schema {
        /// Print the Federation v2 subgraph SDL (with `@key` and `@link`) instead.
        #[arg(long)]
        federation: bool,
        /// The SDL of this configuration: its declared sources join the `Source` enum.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Validate a config file and print a summary without secrets.
    CheckConfig {
        #[arg(long, short)]
        config: PathBuf,
    },
}

/// Load a config or exit with status 2: one line per problem, then the warnings (never a
/// backtrace).
pub fn load_or_exit(path: &Path) -> Loaded {
    Config::load(path).unwrap_or_else(|err| {
        eprintln!("{err}");
        std::process::exit(2)
    })
}

/// `check-config`: the summary (without secrets) on stdout and the warnings on stderr, exit 0;
/// every problem and exit 2 when it does not load.
pub fn check_config(path: &Path) {
    let loaded = load_or_exit(path);
    println!("{}", loaded.config.summary());
    for warning in &loaded.warnings {
        eprintln!("warning: {warning}");
    }
    match loaded.warnings.len() {
        0 => println!("configuration is valid"),
        1 => println!("configuration is valid, with 1 warning"),
        n => println!("configuration is valid, with {n} warnings"),
    }
}
