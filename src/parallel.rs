//! The thread pool every computation runs in, with denormals flushed to zero.
//!
//! Sigmoid outputs near 0 and 1 make tiny gradients; once values fall below
//! f32's normal range (~1.2e-38) each operation on them can cost ~100× more, and
//! training slows epoch after epoch. Setting the FTZ (flush-to-zero) and DAZ
//! (denormals-are-zero) bits of the x86 MXCSR register on every computing thread
//! turns them into zeros instead (PyTorch's `torch.set_flush_denormal(True)`).
//!
//! It also keeps the switch that tells computations whether to split across
//! threads: [`on_this_thread`] and [`worth_splitting`].

use std::cell::Cell;

use crate::error::{Error, Result};

thread_local! {
    /// Set inside [`on_this_thread`]: [`worth_splitting`] says no.
    static ALONE: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with every computation that asks [`worth_splitting`] (matrix
/// products, activations, loss gradients) kept on the calling thread: a shard
/// of a batch runs this way while the other thread runs the other shard (see
/// `train::Shard`).
pub fn on_this_thread<R>(f: impl FnOnce() -> R) -> R {
    /// Puts the flag back even if `f` panics.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            ALONE.set(self.0);
        }
    }
    let _restore = Restore(ALONE.replace(true));
    f()
}

/// Below this many elements an element-wise pass (an activation, a loss
/// gradient) runs on one thread: splitting it costs more than it saves.
pub const PARALLEL_MIN_ELEMENTS: usize = 1 << 16;

/// Whether a computation of `size` (elements or operations) should be split
/// across the pool's threads: only when it is at least `min`, the pool has more
/// than one thread, and the caller is not inside [`on_this_thread`].
pub fn worth_splitting(size: usize, min: usize) -> bool {
    size >= min && !ALONE.get() && rayon::current_num_threads() > 1
}

/// Sets FTZ and DAZ on the calling thread (x86-64 only; a no-op elsewhere).
pub fn flush_denormals_to_zero() {
    #[cfg(target_arch = "x86_64")]
    {
        const FTZ: u32 = 1 << 15;
        const DAZ: u32 = 1 << 6;
        let mut csr: u32 = 0;
        // SAFETY: stmxcsr/ldmxcsr read and write the SSE control register of this
        // thread only; the bits we set change rounding of denormals, nothing else.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags));
            csr |= FTZ | DAZ;
            std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, preserves_flags, readonly));
        }
    }
}

/// A rayon pool of `threads` workers, each with denormals flushed to zero.
/// Run work inside it with `pool.install(|| ...)`.
pub fn build_pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .start_handler(|_| flush_denormals_to_zero())
        .build()
        .map_err(|e| Error::bad_flag("--threads", format!("cannot start {threads} threads: {e}")))
}
