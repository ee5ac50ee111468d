//! The thread pool every computation runs in, with denormals flushed to zero.
//!
//! Sigmoid outputs near 0 and 1 make tiny gradients; once values fall below
//! f32's normal range (~1.2e-38) each operation on them can cost ~100× more, and
//! training slows epoch after epoch. Setting the FTZ (flush-to-zero) and DAZ
//! (denormals-are-zero) bits of the x86 MXCSR register on every computing thread
//! turns them into zeros instead (PyTorch's `torch.set_flush_denormal(True)`).

use crate::error::{Error, Result};

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
