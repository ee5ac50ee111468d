//! Command-line entry point: parse, run, print the error on one line, exit non-zero.

use clap::Parser;
use mnist_autoencoder::config::{Cli, Command};

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Train(config)) => mnist_autoencoder::run_train(&config),
        None => mnist_autoencoder::run_train(&cli.train),
    };
    if let Err(error) = result {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}
