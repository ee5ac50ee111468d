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
    return_large_buffers_to_the_system();
    let command = parse_command_line();
    if let Err(error) = mnist_autoencoder::commands::run(&command) {
        eprintln!("error: {error}");
        let interrupted = matches!(error, Error::Interrupted { .. } | Error::Stopped { .. });
        std::process::exit(if interrupted { 130 } else { 1 });
    }
}

/// Makes glibc give every buffer of 4 MiB or more its own mapping, unmapped
/// when freed. By default glibc raises that threshold (up to 32 MiB) each
/// time such a buffer is freed, after which large buffers come from heaps
/// that it seldom shrinks: the buffers of one phase of `train` (the PCA
/// baseline, the prior's EM, the judge) then stay resident beneath the
/// next, about 100 MB more at the peak. 4 MiB, not lower: a training step's
/// batch buffers (under 2 MiB) stay in the heap, where a 128 KiB threshold
/// mapped and zeroed them afresh each time (the default run took 55.9 s
/// instead of 50.3 s, 2026-12-03, AMD EPYC). One arena for every thread: with
/// an arena per worker thread, the freed buffers of each stayed resident
/// beside the others' (the wide run, `train --hidden 1024,512 --batch-size 256
/// --lr 1e-3 --epochs 2 --no-figures`, peaked at 172 MB with them and 140 MB
/// with one, 2026-12-03 19:40 UTC, AMD EPYC; the default run's time did not
/// change beyond the machine's drift). The numbers computed do not change.
fn return_large_buffers_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: a plain setting of the allocator, made before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
