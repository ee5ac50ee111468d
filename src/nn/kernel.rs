//! The innermost loop of the matrix product: a 6×NR tile of `C` from a packed
//! sliver of `A` and a packed sliver of `B`, and the choice of instruction set.
//!
//! ```text
//!            packed B sliver: kc rows of NR floats (NR = 16 on AVX2, 32 on AVX-512)
//!            ┌────────────────┐ p = 0      b[p·NR .. p·NR+NR]
//!            │ b0 b1 ...  b15 │ p = 1
//!            │      ...       │
//!            └────────────────┘ p = kc-1
//!  packed A sliver             C tile (6 × NR), held in 6 × (NR/lanes) vector registers
//!  kc columns of 6 floats      ┌────────────────┐
//!  a[p·6 .. p·6+6]             │ c[0][0..NR]    │   for each p:
//!  ┌─┬─┬───┬─┐                 │ c[1][0..NR]    │     load the NR floats of B's row p
//!  │a│a│...│a│ row 0           │  ...           │     for each row i of the tile:
//!  │ │ │   │ │ ...             │ c[5][0..NR]    │       c[i] += broadcast(a[p·6+i]) · b
//!  └─┴─┴───┴─┘ row 5           └────────────────┘     (one fused multiply-add per vector)
//! ```
//!
//! Every element of the tile is a sum over p in order 0, 1, …, kc−1 with one
//! fused multiply-add per term, so the AVX2 and AVX-512 kernels give the same bits.
//! The portable kernel (no SIMD intrinsics) rounds each product separately.
//!
//! The instruction set is picked once, at run time, from what the CPU reports:
//! AVX-512F if present, else AVX2 with FMA, else portable. The environment
//! variable `MNIST_AE_SIMD=avx512|avx2|portable` forces one (a forced set the CPU
//! lacks falls back to the best one it has).

use std::sync::OnceLock;

/// Rows of every tile (the height of a packed A sliver), on every instruction set.
pub const MR: usize = 6;

/// An instruction set with a microkernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// 512-bit vectors, 16 floats: tiles of 6×32.
    Avx512,
    /// 256-bit vectors with fused multiply-add, 8 floats: tiles of 6×16.
    Avx2,
    /// Plain Rust, whatever the compiler makes of it: tiles of 6×16.
    Portable,
}

impl Isa {
    /// Columns of every tile (the width of a packed B sliver).
    pub fn nr(self) -> usize {
        match self {
            Isa::Avx512 => 32,
            Isa::Avx2 | Isa::Portable => 16,
        }
    }

    /// The name used by `MNIST_AE_SIMD` and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2 => "avx2",
            Isa::Portable => "portable",
        }
    }

    /// Whether this CPU can run the set.
    pub fn is_supported(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            // Every AVX-512 CPU has AVX2 and FMA too; the element-wise loops
            // (`wide_vectors`) use them.
            Isa::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            Isa::Portable => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// Every set this CPU can run, best first.
    pub fn supported() -> Vec<Isa> {
        [Isa::Avx512, Isa::Avx2, Isa::Portable]
            .into_iter()
            .filter(|isa| isa.is_supported())
            .collect()
    }
}

/// The instruction set every product uses: `MNIST_AE_SIMD` if set and
/// supported, else the best the CPU has. Decided once per process.
pub fn selected() -> Isa {
    static SELECTED: OnceLock<Isa> = OnceLock::new();
    *SELECTED.get_or_init(|| {
        let best = Isa::supported()[0];
        match std::env::var("MNIST_AE_SIMD").ok().as_deref() {
            Some("avx512") if Isa::Avx512.is_supported() => Isa::Avx512,
            Some("avx2") if Isa::Avx2.is_supported() => Isa::Avx2,
            Some("portable") => Isa::Portable,
            _ => best,
        }
    })
}

/// Whether element-wise loops (the sigmoid, Adam) may use the 256-bit vector
/// units: yes unless the portable path was chosen (`MNIST_AE_SIMD=portable`) or
/// the CPU lacks AVX2. The same loop compiled for AVX2 gives the same bits as
/// the plain one: Rust never fuses a multiply and an add on its own.
pub fn wide_vectors() -> bool {
    selected() != Isa::Portable
}

/// Where a tile goes: `c` points at its top-left element, rows are `row_stride`
/// apart, columns are contiguous; only the top-left `rows × cols` part exists
/// (the rest of a tile on the matrix's bottom or right edge is padding).
pub struct Tile {
    pub c: *mut f32,
    pub row_stride: usize,
    pub rows: usize,
    pub cols: usize,
    /// Add to what is in `C` (true) or overwrite it (false).
    pub accumulate: bool,
}

/// Computes one tile: `C_tile (+)= A_sliver · B_sliver` over `kc` steps.
///
/// # Safety
/// `a` holds `kc·MR` floats, `b` holds `kc·isa.nr()` floats, the tile's
/// `rows × cols` elements are valid and written by no one else, and `isa` is
/// supported by this CPU.
pub unsafe fn microkernel(isa: Isa, kc: usize, a: *const f32, b: *const f32, tile: &Tile) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => avx512::kernel(kc, a, b, tile),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => avx2::kernel(kc, a, b, tile),
        _ => portable_kernel(kc, a, b, tile),
    }
}

/// The same loop in plain Rust, for CPUs without AVX2 (and as the readable version).
///
/// # Safety
/// As for [`microkernel`]: `a`, `b` and the tile address valid memory.
unsafe fn portable_kernel(kc: usize, a: *const f32, b: *const f32, tile: &Tile) {
    const NR: usize = 16;
    let mut acc = [0.0f32; MR * NR];
    for p in 0..kc {
        let bp = std::slice::from_raw_parts(b.add(p * NR), NR);
        for (i, row) in acc.chunks_exact_mut(NR).enumerate() {
            let ai = *a.add(p * MR + i);
            for (c, &bj) in row.iter_mut().zip(bp) {
                *c += ai * bj;
            }
        }
    }
    store(&acc, NR, tile);
}

/// Writes a tile held in `acc` (MR rows of `nr`) to `C`, adding or overwriting.
///
/// # Safety
/// The tile's `rows × cols` elements of C are valid and written by no one else.
unsafe fn store(acc: &[f32], nr: usize, tile: &Tile) {
    for i in 0..tile.rows {
        let row = tile.c.add(i * tile.row_stride);
        for j in 0..tile.cols {
            let v = acc[i * nr + j];
            *row.add(j) = if tile.accumulate { *row.add(j) + v } else { v };
        }
    }
}

/// The vector kernels: one body, written once, instantiated with the AVX2 and
/// the AVX-512 intrinsics (`$lanes` floats per vector, two vectors per tile row).
#[cfg(target_arch = "x86_64")]
macro_rules! simd_kernel {
    ($features:literal, $vec:ty, $lanes:literal,
     $zero:ident, $load:ident, $store:ident, $set1:ident, $fma:ident, $add:ident) => {
        use super::{store, Tile, MR};
        use std::arch::x86_64::*;

        const NR: usize = 2 * $lanes;

        /// The microkernel for this instruction set.
        ///
        /// # Safety
        /// As for [`super::microkernel`], and the CPU has these features.
        #[target_feature(enable = $features)]
        pub unsafe fn kernel(kc: usize, a: *const f32, b: *const f32, tile: &Tile) {
            let mut c: [[$vec; 2]; MR] = [[$zero(); 2]; MR];
            // One step of p: two vectors of B's row p, six broadcasts of A's column p.
            let step = |p: usize, c: &mut [[$vec; 2]; MR]| {
                let b0 = $load(b.add(p * NR));
                let b1 = $load(b.add(p * NR + $lanes));
                for (i, row) in c.iter_mut().enumerate() {
                    let ai = $set1(*a.add(p * MR + i));
                    row[0] = $fma(ai, b0, row[0]);
                    row[1] = $fma(ai, b1, row[1]);
                }
            };
            // Four steps per loop turn: less loop overhead between the multiply-adds.
            let mut p = 0;
            while p + 4 <= kc {
                step(p, &mut c);
                step(p + 1, &mut c);
                step(p + 2, &mut c);
                step(p + 3, &mut c);
                p += 4;
            }
            while p < kc {
                step(p, &mut c);
                p += 1;
            }
            if tile.rows == MR && tile.cols == NR {
                for (i, row) in c.iter().enumerate() {
                    let out = tile.c.add(i * tile.row_stride);
                    let (mut v0, mut v1) = (row[0], row[1]);
                    if tile.accumulate {
                        v0 = $add(v0, $load(out));
                        v1 = $add(v1, $load(out.add($lanes)));
                    }
                    $store(out, v0);
                    $store(out.add($lanes), v1);
                }
            } else {
                let mut acc = [0.0f32; MR * NR];
                for (i, row) in c.iter().enumerate() {
                    $store(acc.as_mut_ptr().add(i * NR), row[0]);
                    $store(acc.as_mut_ptr().add(i * NR + $lanes), row[1]);
                }
                store(&acc, NR, tile);
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    simd_kernel!(
        "avx2,fma",
        __m256,
        8,
        _mm256_setzero_ps,
        _mm256_loadu_ps,
        _mm256_storeu_ps,
        _mm256_set1_ps,
        _mm256_fmadd_ps,
        _mm256_add_ps
    );
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    simd_kernel!(
        "avx512f",
        __m512,
        16,
        _mm512_setzero_ps,
        _mm512_loadu_ps,
        _mm512_storeu_ps,
        _mm512_set1_ps,
        _mm512_fmadd_ps,
        _mm512_add_ps
    );
}
