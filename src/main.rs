//! Command-line entry point: parse, run, print the error on one line, exit non-zero.

use mnist_autoencoder::config::parse_command_line;
use mnist_autoencoder::error::Error;

fn main() {
    // Die quietly like other Unix tools when the reader of stdout goes away
    // (`... | head`), instead of panicking on a broken pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let command = parse_command_line();
    if let Err(error) = mnist_autoencoder::commands::run(&command) {
        eprintln!("error: {error}");
        let interrupted = matches!(error, Error::Interrupted { .. } | Error::Stopped { .. });
        std::process::exit(if interrupted { 130 } else { 1 });
    }
}
