//! Command-line entry point: parse, run, print the error on one line, exit non-zero.

use clap::Parser;
use mnist_autoencoder::config::{Cli, Command};
use mnist_autoencoder::gradcheck::Band;

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Train(config)) => mnist_autoencoder::run_train(&config).map(|_| ()),
        None => mnist_autoencoder::run_train(&cli.train).map(|_| ()),
        Some(Command::Gradcheck(config)) => match mnist_autoencoder::run_gradcheck(&config) {
            Ok(Band::Fail) => {
                eprintln!("error: gradcheck failed: at least one tensor's gradient disagrees with finite differences");
                std::process::exit(1);
            }
            other => other.map(|_| ()),
        },
    };
    if let Err(error) = result {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}
