//! Thin entry point: parse the command line, set up logging, hand over to the library.

use anyhow::Context;
use chronograph::cli::{Cli, Command};
use chronograph::config::Config;
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    chronograph::telemetry::init(&cli.log_format);
    match cli.command.unwrap_or(Command::Demo { listen: "127.0.0.1:8000".into() }) {
        Command::Demo { listen } => chronograph::demo::run(&listen).await,
        Command::Serve { config } => {
            let config = load(&config)?;
            chronograph::serve(config).await
        }
        Command::Schema => {
            print!("{}", chronograph::schema::sdl());
            Ok(())
        }
        Command::CheckConfig { config } => {
            let config = load(&config)?;
            println!("{}\nconfiguration is valid", config.summary());
            Ok(())
        }
    }
}

fn load(path: &std::path::Path) -> anyhow::Result<Config> {
    match Config::load(path) {
        Ok(config) => Ok(config),
        Err(err) => {
            eprintln!("{err}");
            std::process::exit(2);
        }
    }
    .context("loading config")
}
