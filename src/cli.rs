//! Command line (DESIGN.md §8).

use clap::{Parser, Subcommand};
use std::path::PathBuf;

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
    },
    /// Validate a config file and print a summary without secrets.
    CheckConfig {
        #[arg(long, short)]
        config: PathBuf,
    },
}
