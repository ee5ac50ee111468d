//! Command-line entry point: parse, run, print the error on one line, exit non-zero.

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};
use mnist_autoencoder::commands;
use mnist_autoencoder::config::{Cli, Command};
use mnist_autoencoder::error::Error;
use mnist_autoencoder::gradcheck::Band;

/// The ids of the flags given on the command line (not defaulted).
fn explicit_flags(matches: &ArgMatches) -> Vec<String> {
    matches
        .ids()
        .filter(|id| matches.value_source(id.as_str()) == Some(ValueSource::CommandLine))
        .map(|id| id.to_string())
        .collect()
}

fn main() {
    // Die quietly like other Unix tools when the reader of stdout goes away
    // (`... | head`), instead of panicking on a broken pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let result = match cli.command {
        None => {
            mnist_autoencoder::run_train_with(&cli.train, &explicit_flags(&matches)).map(|_| ())
        }
        Some(Command::Train(config)) => {
            let sub = matches
                .subcommand_matches("train")
                .expect("train subcommand");
            mnist_autoencoder::run_train_with(&config, &explicit_flags(sub)).map(|_| ())
        }
        Some(Command::Gradcheck(config)) => match commands::run_gradcheck(&config) {
            Ok(Band::Fail) => {
                eprintln!("error: gradcheck failed: at least one tensor's gradient disagrees with finite differences");
                std::process::exit(1);
            }
            other => other.map(|_| ()),
        },
        Some(Command::Eval(config)) => commands::run_eval(&config).map(|_| ()),
        Some(Command::Generate(config)) => commands::run_generate(&config),
        Some(Command::Reconstruct(config)) => commands::run_reconstruct(&config).map(|_| ()),
    };
    if let Err(error) = result {
        eprintln!("error: {error}");
        let interrupted = matches!(error, Error::Interrupted { .. });
        std::process::exit(if interrupted { 130 } else { 1 });
    }
}
