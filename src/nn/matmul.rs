//! The one matrix product everything uses: `C = A·B + β·C` (β is 0 or 1).
//!
//! The three products of a dense layer all have this form:
//! forward `Y = X·W`, input gradient `dX = dY·Wᵀ`, weight gradient `dW = Xᵀ·dY`.
//! Transposed operands are strided views (`.t()`); packing reads them in place.
//!
//! How it is computed (the layout of GotoBLAS/BLIS, in two steps):
//!
//! ```text
//! 1. pack   A (M×K) into slivers of MR = 6 rows,   each stored k-major: a[p·6 + i]
//!           B (K×N) into slivers of NR = 16|32 columns, each stored k-major: b[p·NR + j]
//!           (zero-padded at the bottom and right edges; slivers packed in parallel)
//!
//!                 K                        N
//!           ┌───────────┐            ┌──┬──┬──┬──┐
//!         6 │ A sliver 0│          K │B0│B1│B2│..│  each Bj: K × NR
//!         6 │ A sliver 1│            │  │  │  │  │
//!           │    ...    │            └──┴──┴──┴──┘
//!           └───────────┘
//!
//! 2. multiply: C is cut into blocks of ≤ MC rows × a run of B slivers; each block is
//!    one task for a thread. Inside a block, for each KC-long piece of K:
//!      for each B sliver j (KC × NR floats: stays in L1)
//!        for each A sliver i of the block (KC × 6 floats, the block's A stays in L2)
//!          C[i, j] tile (6 × NR) += A sliver i · B sliver j      (kernel.rs)
//! ```
//!
//! Each element of `C` is summed in the same order (p = 0..K, in pieces of at most KC)
//! whoever computes it, so the result does not depend on the thread count or on
//! timing: the same inputs give bit-identical outputs.

use std::cell::{Cell, RefCell};

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Zip};
use rayon::prelude::*;

use super::kernel::{self, microkernel, Isa, Tile, MR};

/// Below this many floating-point operations a product runs on one thread:
/// splitting a small product costs more in synchronisation than it saves.
const PARALLEL_MIN_FLOPS: usize = 2_000_000;

/// The length of K multiplied per kernel call: a B sliver of KC × NR floats
/// (16 KB on AVX2) stays in the L1 cache while it meets every A sliver of a block.
const KC: usize = 256;

/// Rows of C per task, at most: the block's packed A (MC × KC floats, 96 KB)
/// stays in L2, and each B sliver brought into L1 meets 16 A slivers.
const MC: usize = 16 * MR;

/// `C = A·B + β·C`, with the instruction set picked at run time ([`kernel::selected`]).
///
/// a: (M, K), b: (K, N), c: (M, N). With β = 0, `C` is overwritten (whatever it
/// held, NaN included); with β = 1 the product is added to it.
pub fn matmul(a: ArrayView2<f32>, b: ArrayView2<f32>, beta: f32, c: ArrayViewMut2<f32>) {
    matmul_with(kernel::selected(), a, b, beta, c);
}

/// [`matmul`] with a given instruction set (tests run every set the CPU has).
pub fn matmul_with(
    isa: Isa,
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    beta: f32,
    c: ArrayViewMut2<f32>,
) {
    let ends = piece_ends(a.ncols());
    multiply_checked(isa, a, b, beta, c, &ends);
}

/// The ends of the pieces [`matmul`] sums K in: pieces of equal length, at
/// most KC (784 = 4 × 196, not 3 × 256 + 16: a short last piece would spend
/// its time loading and storing C). Each element of C is the sum of the
/// pieces' sums, in order.
pub fn piece_ends(k: usize) -> Vec<usize> {
    let piece = k.div_ceil(k.div_ceil(KC)).max(1);
    (1..=k.div_ceil(piece))
        .map(|i| (i * piece).min(k))
        .collect()
}

/// [`matmul`] with K summed in the pieces that end at `ends` (increasing, the
/// last K; a piece may be empty). A product whose A lost some columns of zeros
/// (and B the matching rows) sums the rest in the pieces the whole product
/// would have had, and so gets the same bits (see `dense::ZeroColumns`).
pub fn matmul_in_pieces(
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    beta: f32,
    c: ArrayViewMut2<f32>,
    ends: &[usize],
) {
    assert!(
        ends.windows(2).all(|w| w[0] <= w[1]) && ends.last() == Some(&a.ncols()),
        "matmul_in_pieces: the pieces must end in order at K = {}",
        a.ncols()
    );
    multiply_checked(kernel::selected(), a, b, beta, c, ends);
}

fn multiply_checked(
    isa: Isa,
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    beta: f32,
    mut c: ArrayViewMut2<f32>,
    ends: &[usize],
) {
    let (m, k) = a.dim();
    let n = b.ncols();
    assert_eq!(
        b.nrows(),
        k,
        "matmul: A is {m}×{k} but B has {} rows",
        b.nrows()
    );
    assert_eq!(c.dim(), (m, n), "matmul: C has the wrong shape");
    assert!(beta == 0.0 || beta == 1.0, "matmul: β must be 0 or 1");
    assert!(isa.is_supported(), "matmul: this CPU lacks {}", isa.name());
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if beta == 0.0 {
            c.fill(0.0);
        }
        return;
    }
    if n > 1 && c.strides()[1] != 1 {
        // The kernel writes rows of contiguous floats; any other C goes through a copy.
        let mut product = Array2::zeros((m, n));
        multiply_checked(isa, a, b, 0.0, product.view_mut(), ends);
        Zip::from(&mut c)
            .and(&product)
            .for_each(|c, &p| *c = beta * *c + p);
        return;
    }
    if padded_area(isa, n, m) * 4 < padded_area(isa, m, n) * 3 {
        return multiply_transposed(isa, a, b, beta, c, ends);
    }
    let threads = if crate::parallel::worth_splitting(2 * m * k * n, PARALLEL_MIN_FLOPS) {
        rayon::current_num_threads()
    } else {
        1
    };
    PACKED.with(|buffers| match buffers.try_borrow_mut() {
        Ok(mut buffers) => multiply(isa, a, b, beta, c, ends, &mut buffers, threads),
        // Re-entered on this thread (a product inside a product's task): fresh buffers.
        Err(_) => multiply(isa, a, b, beta, c, ends, &mut Packed::default(), threads),
    });
}

/// The elements of C the kernel computes, padding included: M and N rounded up
/// to whole tiles (MR × NR).
fn padded_area(isa: Isa, m: usize, n: usize) -> usize {
    m.next_multiple_of(MR) * n.next_multiple_of(isa.nr())
}

thread_local! {
    /// Cᵀ for [`multiply_transposed`], kept between products.
    static TRANSPOSED: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// `C = A·B + β·C` computed as `Cᵀ = Bᵀ·Aᵀ + β·Cᵀ`, for a C whose tiles would be
/// mostly padding: a weight gradient (32 × 9) has 9 of 32 columns in one tile
/// row of 6 × 32, its transpose (9 × 32) fills 9 of 12 rows, a third of the work.
/// Each element is the same sum, `Σ_p a[i,p]·b[p,j]` in the same pieces of K, with
/// the two factors of each fused multiply-add swapped, which does not change its
/// rounding: the bits are those of the direct product. With β = 1, Cᵀ starts from
/// C, so the pieces are added to C in the same order too.
///
/// a: (M, K), b: (K, N), c: (M, N), checked by the caller.
fn multiply_transposed(
    isa: Isa,
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    beta: f32,
    mut c: ArrayViewMut2<f32>,
    ends: &[usize],
) {
    let (m, n) = c.dim();
    // Taken, not borrowed: a product inside this one finds an empty buffer.
    let mut buffer = TRANSPOSED.take();
    if buffer.len() < m * n {
        buffer.resize(m * n, 0.0);
    }
    let mut transposed =
        ArrayViewMut2::from_shape((n, m), &mut buffer[..m * n]).expect("sized for Cᵀ");
    if beta == 1.0 {
        transposed.assign(&c.t());
    }
    multiply_checked(isa, b.t(), a.t(), beta, transposed.view_mut(), ends);
    c.assign(&transposed.t());
    TRANSPOSED.set(buffer);
}

/// The packed copies of A and B, kept between products so that each product
/// does not allocate (and page-fault in) a megabyte.
#[derive(Default)]
struct Packed {
    a: Vec<f32>,
    b: Vec<f32>,
}

impl Packed {
    /// The first `a` and `b` floats of the two buffers, grown if too short.
    /// Packing overwrites every float it uses, so a buffer that is long
    /// enough is not cleared first (clearing was 1.2% of a wide epoch's
    /// `perf` samples).
    fn sized(&mut self, a: usize, b: usize) -> (&mut [f32], &mut [f32]) {
        if self.a.len() < a {
            self.a.resize(a, 0.0);
        }
        if self.b.len() < b {
            self.b.resize(b, 0.0);
        }
        (&mut self.a[..a], &mut self.b[..b])
    }
}

thread_local! {
    static PACKED: RefCell<Packed> = RefCell::new(Packed::default());
}

/// A raw pointer that tasks on other threads may use: each task writes its own
/// rectangle of C, and no two rectangles overlap.
#[derive(Clone, Copy)]
struct SharedC(*mut f32);
// SAFETY: the pointer is only written through in disjoint rectangles, one per
// job (see above), and C outlives the parallel loop that uses it.
unsafe impl Send for SharedC {}
// SAFETY: as for Send: no two threads touch the same element of C.
unsafe impl Sync for SharedC {}

impl SharedC {
    /// The pointer (a method, so that closures capture the `Sync` wrapper).
    fn get(self) -> *mut f32 {
        self.0
    }
}

#[allow(clippy::too_many_arguments)]
fn multiply(
    isa: Isa,
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    beta: f32,
    mut c: ArrayViewMut2<f32>,
    ends: &[usize],
    packed: &mut Packed,
    threads: usize,
) {
    let (m, k) = a.dim();
    let n = b.ncols();
    let nr = isa.nr();
    let (a_slivers, b_slivers) = (m.div_ceil(MR), n.div_ceil(nr));
    let (packed_a, packed_b) = packed.sized(a_slivers * MR * k, b_slivers * nr * k);
    let pack_a = |buffer: &mut [f32]| pack::<MR>(buffer, a, isa, threads);
    let pack_b = |buffer: &mut [f32]| match nr {
        16 => pack::<16>(buffer, b.t(), isa, threads),
        32 => pack::<32>(buffer, b.t(), isa, threads),
        _ => unreachable!("tiles are 16 or 32 wide"),
    };
    if threads > 1 {
        rayon::join(|| pack_a(packed_a), || pack_b(packed_b));
    } else {
        pack_a(packed_a);
        pack_b(packed_b);
    }

    // Tasks: blocks of at most MC rows, cut evenly (256 rows: 90 + 90 + 76, not
    // 96 + 96 + 64), × runs of B slivers. At least 4 tasks per thread, and a
    // multiple of the thread count where there are slivers enough, so that
    // threads finish together.
    // Fewer B slivers than threads (a C of a few columns): cut the rows finer.
    let row_blocks = m
        .div_ceil(MC)
        .max(threads.div_ceil(b_slivers).min(a_slivers));
    let block_rows = m.div_ceil(row_blocks).next_multiple_of(MR);
    let mut runs = (4 * threads).div_ceil(row_blocks);
    while (row_blocks * runs) % threads != 0 && runs < b_slivers {
        runs += 1;
    }
    let runs = runs.clamp(1, b_slivers);
    let row_stride = c.strides()[0] as usize;
    let out = SharedC(c.as_mut_ptr());
    let (pa, pb) = (&packed_a[..], &packed_b[..]);
    let task = |t: usize| {
        let rows = (t / runs) * block_rows..((t / runs + 1) * block_rows).min(m);
        let run = t % runs; // slivers cut evenly too: 49 in 4 runs are 12, 12, 12, 13
        let cols = run * b_slivers / runs * nr..((run + 1) * b_slivers / runs * nr).min(n);
        multiply_block(
            isa,
            pa,
            pb,
            k,
            ends,
            rows,
            cols,
            beta,
            out.get(),
            row_stride,
        );
    };
    let tasks = row_blocks * runs;
    if threads > 1 {
        // One task per rayon job. Left to itself, rayon cuts the range into
        // pieces of about a quarter (on 2 threads), and a thread runs a piece
        // that no one stole from it to the end: the other thread, done early,
        // may wait up to a quarter of the product.
        (0..tasks).into_par_iter().with_max_len(1).for_each(task);
    } else {
        (0..tasks).for_each(task);
    }
}

/// Packs the rows of `src` (R×K: A itself, or Bᵀ) into slivers of `W` rows,
/// each stored k-major (`sliver[p·W + t] = src[W·s + t, p]`), zero-padded.
/// `W` is a constant so that the copies of one column compile to vector moves.
///
/// Slivers are packed in groups of about 128 rows of `src`: when a column of
/// `src` is contiguous, each step reads 512 contiguous bytes of it instead of
/// W floats a page apart.
fn pack<const W: usize>(buffer: &mut [f32], src: ArrayView2<f32>, isa: Isa, threads: usize) {
    let avx = isa != Isa::Portable; // AVX2 and AVX-512 CPUs have AVX
    let (rows, k) = src.dim();
    let (row_stride, k_stride) = (src.strides()[0], src.strides()[1]);
    let base = src.as_ptr() as usize;
    let group = (128 / W).max(1);
    let pack_group = |(g, slivers): (usize, &mut [f32])| {
        let first_sliver = g * group;
        let sliver_start = |s: usize| {
            (base as *const f32).wrapping_offset(((first_sliver + s) * W) as isize * row_stride)
        };
        let valid = |s: usize| W.min(rows - (first_sliver + s) * W);
        let count = slivers.len() / (W * k);
        let full = (0..count).take_while(|&s| valid(s) == W).count();
        // SAFETY: every element read is (row < rows, p < k) inside `src`; each
        // sliver holds k · W floats of `slivers`; `avx` comes from a supported
        // instruction set (checked by `matmul_with`).
        unsafe {
            if row_stride == 1 {
                // Column p of each sliver is contiguous in `src`, and so are
                // the group's columns p one after another: copy them in turn.
                for p in 0..k {
                    for s in 0..full {
                        let from = sliver_start(s).offset(p as isize * k_stride);
                        let to = slivers.as_mut_ptr().add(s * W * k + p * W);
                        std::ptr::copy_nonoverlapping(from, to, W);
                    }
                }
            } else {
                for (s, sliver) in slivers.chunks_exact_mut(W * k).take(full).enumerate() {
                    gather_sliver::<W>(sliver, sliver_start(s), row_stride, k_stride, avx);
                }
            }
            for s in full..count {
                let sliver = &mut slivers[s * W * k..(s + 1) * W * k];
                pack_partial_sliver(sliver, sliver_start(s), row_stride, k_stride, valid(s), W);
            }
        }
    };
    if threads > 1 {
        buffer
            .par_chunks_mut(group * W * k)
            .enumerate()
            .with_max_len(1) // one group per job, as for the tasks in `multiply`
            .for_each(pack_group);
    } else {
        buffer
            .chunks_mut(group * W * k)
            .enumerate()
            .for_each(pack_group);
    }
}

/// One full sliver whose rows are `row_stride` apart: walk its W rows side by
/// side, one column at a time (a transpose: each row of `src` becomes a column
/// of the sliver).
///
/// # Safety
/// `first` and the strides address W rows of `sliver.len() / W` elements, and
/// the CPU has AVX if `avx` is true.
unsafe fn gather_sliver<const W: usize>(
    sliver: &mut [f32],
    first: *const f32,
    row_stride: isize,
    k_stride: isize,
    avx: bool,
) {
    let k = sliver.len() / W;
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if avx && k_stride == 1 {
        done = transpose::gather_by_8x8::<W>(sliver, first, row_stride);
    }
    let row: [*const f32; W] = std::array::from_fn(|t| first.offset(t as isize * row_stride));
    for p in done..k {
        let at = p as isize * k_stride;
        for (x, r) in sliver[p * W..(p + 1) * W].iter_mut().zip(&row) {
            *x = *r.offset(at);
        }
    }
}

/// The transpose of [`gather_sliver`] with 256-bit vectors, 8 × 8 floats at a time.
#[cfg(target_arch = "x86_64")]
mod transpose {
    use std::arch::x86_64::*;

    /// Copies the first columns of a sliver, in blocks of 8, and returns how many
    /// it copied (the caller copies the rest one by one).
    ///
    /// ```text
    ///   src rows t0..t0+8, columns p..p+8        sliver, columns p..p+8
    ///   r0: a0 a1 .. a7                          p:   a0 b0 .. h0   (stored at p·W + t0)
    ///   r1: b0 b1 .. b7       8×8 transpose      p+1: a1 b1 .. h1
    ///   ..                   ─────────────▶      ..
    ///   r7: h0 h1 .. h7                          p+7: a7 b7 .. h7
    /// ```
    /// W = 6 loads rows 0 to 5, then row 5 again for lanes 6 and 7. Each column's
    /// 8-float store then spills 2 floats into the next column, which the next
    /// store (or the caller's loop) rewrites. So for W = 6 a block runs only if at
    /// least one column follows it; for W = 16 or 32 nothing spills.
    ///
    /// # Safety
    /// As for `gather_sliver`, with contiguous rows (k_stride 1), and the CPU has AVX.
    #[target_feature(enable = "avx")]
    pub unsafe fn gather_by_8x8<const W: usize>(
        sliver: &mut [f32],
        first: *const f32,
        row_stride: isize,
    ) -> usize {
        let k = sliver.len() / W;
        let out = sliver.as_mut_ptr();
        let spill = usize::from(!W.is_multiple_of(8));
        let mut p = 0;
        while p + 8 + spill <= k {
            for t0 in (0..W).step_by(8) {
                let row = |t: usize| first.offset((t0 + t).min(W - 1) as isize * row_stride);
                let r: [__m256; 8] = std::array::from_fn(|t| _mm256_loadu_ps(row(t).add(p)));
                let columns = transpose_8x8(r);
                for (q, column) in columns.iter().enumerate() {
                    _mm256_storeu_ps(out.add((p + q) * W + t0), *column);
                }
            }
            p += 8;
        }
        p
    }

    /// Rows r0..r7 of 8 floats in, columns out: `out[q][t] = r[t][q]`.
    ///
    /// # Safety
    /// The CPU must have AVX.
    #[target_feature(enable = "avx")]
    unsafe fn transpose_8x8(r: [__m256; 8]) -> [__m256; 8] {
        // Pairs of rows interleaved, then pairs of pairs, then the 128-bit halves.
        let t = [
            _mm256_unpacklo_ps(r[0], r[1]),
            _mm256_unpackhi_ps(r[0], r[1]),
            _mm256_unpacklo_ps(r[2], r[3]),
            _mm256_unpackhi_ps(r[2], r[3]),
            _mm256_unpacklo_ps(r[4], r[5]),
            _mm256_unpackhi_ps(r[4], r[5]),
            _mm256_unpacklo_ps(r[6], r[7]),
            _mm256_unpackhi_ps(r[6], r[7]),
        ];
        let u = [
            _mm256_shuffle_ps::<0x44>(t[0], t[2]),
            _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
            _mm256_shuffle_ps::<0x44>(t[1], t[3]),
            _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
            _mm256_shuffle_ps::<0x44>(t[4], t[6]),
            _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
            _mm256_shuffle_ps::<0x44>(t[5], t[7]),
            _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
        ];
        [
            _mm256_permute2f128_ps::<0x20>(u[0], u[4]),
            _mm256_permute2f128_ps::<0x20>(u[1], u[5]),
            _mm256_permute2f128_ps::<0x20>(u[2], u[6]),
            _mm256_permute2f128_ps::<0x20>(u[3], u[7]),
            _mm256_permute2f128_ps::<0x31>(u[0], u[4]),
            _mm256_permute2f128_ps::<0x31>(u[1], u[5]),
            _mm256_permute2f128_ps::<0x31>(u[2], u[6]),
            _mm256_permute2f128_ps::<0x31>(u[3], u[7]),
        ]
    }
}

/// The last sliver on an edge: `valid` real rows, the rest zeros.
///
/// # Safety
/// `first` and the strides address `valid` rows of `sliver.len() / width` elements.
unsafe fn pack_partial_sliver(
    sliver: &mut [f32],
    first: *const f32,
    row_stride: isize,
    k_stride: isize,
    valid: usize,
    width: usize,
) {
    for (p, column) in sliver.chunks_exact_mut(width).enumerate() {
        for (t, x) in column.iter_mut().enumerate() {
            *x = if t < valid {
                *first.offset(t as isize * row_stride + p as isize * k_stride)
            } else {
                0.0
            };
        }
    }
}

/// Computes `C[rows, cols] (+)= A[rows, :] · B[:, cols]` from the packed slivers.
#[allow(clippy::too_many_arguments)]
fn multiply_block(
    isa: Isa,
    packed_a: &[f32],
    packed_b: &[f32],
    k: usize,
    ends: &[usize],
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    beta: f32,
    c: *mut f32,
    row_stride: usize,
) {
    let nr = isa.nr();
    let starts = std::iter::once(0).chain(ends.iter().copied());
    let pieces = starts.zip(ends).filter(|&(start, &end)| end > start);
    for (i, (kc_start, &end)) in pieces.enumerate() {
        let kc = end - kc_start;
        for col in cols.clone().step_by(nr) {
            let b = packed_b[(col / nr) * nr * k + kc_start * nr..].as_ptr();
            for row in rows.clone().step_by(MR) {
                let a = packed_a[(row / MR) * MR * k + kc_start * MR..].as_ptr();
                let tile = Tile {
                    // SAFETY: (row, col) is inside C, whose rows are `row_stride` apart.
                    c: unsafe { c.add(row * row_stride + col) },
                    row_stride,
                    rows: MR.min(rows.end - row),
                    cols: nr.min(cols.end - col),
                    accumulate: i > 0 || beta == 1.0,
                };
                // SAFETY: the slivers hold kc·MR and kc·nr floats from these offsets,
                // the tile is this task's alone, and `isa` was checked by the caller.
                unsafe { microkernel(isa, kc, a, b, &tile) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array2};

    /// Naive triple loop in f64: the reference.
    fn reference(a: &Array2<f32>, b: &Array2<f32>) -> Array2<f64> {
        let mut c = Array2::<f64>::zeros((a.nrows(), b.ncols()));
        for i in 0..a.nrows() {
            for j in 0..b.ncols() {
                for k in 0..a.ncols() {
                    c[[i, j]] += a[[i, k]] as f64 * b[[k, j]] as f64;
                }
            }
        }
        c
    }

    fn pseudo_random(rows: usize, cols: usize, salt: usize) -> Array2<f32> {
        Array2::from_shape_fn((rows, cols), |(i, j)| {
            (((i * 31 + j * 17 + salt * 7) % 23) as f32 - 11.0) / 11.0
        })
    }

    /// Largest absolute difference from the f64 reference.
    fn max_error(c: &Array2<f32>, expected: &Array2<f64>) -> f64 {
        (&c.mapv(f64::from) - expected)
            .mapv(f64::abs)
            .fold(0.0, |m: f64, &x| m.max(x))
    }

    /// Packs the rows of `src` into slivers of W with every instruction set,
    /// and checks each float against `sliver[p·W + t] = src[W·s + t, p]`.
    fn check_packing<const W: usize>(src: ArrayView2<f32>) {
        let (rows, k) = src.dim();
        for isa in Isa::supported() {
            let mut buffer = vec![f32::NAN; rows.div_ceil(W) * W * k];
            pack::<W>(&mut buffer, src, isa, 2);
            for (s, sliver) in buffer.chunks_exact(W * k).enumerate() {
                for p in 0..k {
                    for t in 0..W {
                        let expected = src.get((W * s + t, p)).copied().unwrap_or(0.0);
                        let got = sliver[p * W + t];
                        assert_eq!(got, expected, "{isa:?} W={W} k={k} sliver {s} p={p} t={t}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_product_computed_as_its_transpose_has_the_direct_products_bits() {
        // 32 × 9 with K = 600 (3 pieces): its transpose is a third of the tiles.
        for isa in Isa::supported() {
            assert!(padded_area(isa, 9, 32) * 4 < padded_area(isa, 32, 9) * 3);
            let (a, b) = (pseudo_random(32, 600, 5), pseudo_random(600, 9, 6));
            let ends = piece_ends(600);
            for beta in [0.0, 1.0] {
                let start = pseudo_random(32, 9, 7);
                let (mut direct, mut via_transpose) = (start.clone(), start.clone());
                let mut packed = Packed::default();
                let c = direct.view_mut();
                multiply(isa, a.view(), b.view(), beta, c, &ends, &mut packed, 1);
                matmul_with(isa, a.view(), b.view(), beta, via_transpose.view_mut());
                assert_eq!(direct, via_transpose, "{isa:?} β = {beta}");
            }
        }
    }

    #[test]
    fn pieces_of_k_sum_in_order_and_may_be_empty() {
        assert_eq!(piece_ends(784), [196, 392, 588, 784]);
        assert_eq!(piece_ends(256), [256]);
        let (a, b) = (pseudo_random(9, 10, 1), pseudo_random(10, 7, 2));
        // An empty first piece, then 4 and 6: C (NaN) is overwritten, not added to.
        let mut c = Array2::from_elem((9, 7), f32::NAN);
        matmul_in_pieces(a.view(), b.view(), 0.0, c.view_mut(), &[0, 4, 4, 10]);
        assert!(max_error(&c, &reference(&a, &b)) < 1e-5);
        // The same as adding the two pieces' products by hand.
        let mut by_hand = Array2::zeros((9, 7));
        matmul(
            a.slice(s![.., ..4]),
            b.slice(s![..4, ..]),
            0.0,
            by_hand.view_mut(),
        );
        matmul(
            a.slice(s![.., 4..]),
            b.slice(s![4.., ..]),
            1.0,
            by_hand.view_mut(),
        );
        assert_eq!(c, by_hand);
    }

    #[test]
    fn packing_puts_every_float_in_its_place_on_every_instruction_set() {
        // K around the 8-column blocks of the vector transpose; rows with a
        // partial last sliver; contiguous rows (gathered) and a transposed view.
        // 300 rows: several packing groups of 128 rows, packed in parallel.
        for k in [1, 7, 8, 9, 16, 17, 31, 40] {
            let src = pseudo_random(300, k, k);
            check_packing::<MR>(src.view());
            check_packing::<16>(src.view());
            check_packing::<32>(src.view());
            let tall = pseudo_random(k, 300, k);
            check_packing::<MR>(tall.t());
            check_packing::<16>(tall.t());
            check_packing::<32>(tall.t());
        }
    }

    #[test]
    fn every_instruction_set_matches_the_reference_on_edges_transposes_and_beta() {
        // Shapes that hit partial tiles on every side, K longer than KC, and tiny ones.
        let shapes = [
            (301, 97, 203),
            (1, 1, 1),
            (7, 300, 33),
            (128, 784, 64),
            (13, 5, 1),
        ];
        for isa in Isa::supported() {
            for (salt, &(m, k, n)) in shapes.iter().enumerate() {
                let a = pseudo_random(m, k, salt);
                let b = pseudo_random(k, n, salt + 1);
                let expected = reference(&a, &b);
                let mut c = Array2::<f32>::from_elem((m, n), f32::NAN);
                matmul_with(isa, a.view(), b.view(), 0.0, c.view_mut());
                let err = max_error(&c, &expected);
                assert!(err < 1e-3, "{isa:?} {m}×{k}×{n}, β=0: max error {err}");

                let mut c = Array2::<f32>::from_elem((m, n), 0.5);
                matmul_with(isa, a.view(), b.view(), 1.0, c.view_mut());
                let err = max_error(&c, &(&expected + 0.5));
                assert!(err < 1e-3, "{isa:?} {m}×{k}×{n}, β=1: max error {err}");

                // Both operands as transposed (strided) views, and a column-major C.
                let (at, bt) = (a.t().to_owned(), b.t().to_owned());
                let mut c = Array2::<f32>::zeros((n, m)).reversed_axes();
                matmul_with(isa, at.t(), bt.t(), 0.0, c.view_mut());
                let err = max_error(&c, &expected);
                assert!(
                    err < 1e-3,
                    "{isa:?} {m}×{k}×{n}, transposed: max error {err}"
                );
            }
        }
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count_and_vector_sets_agree_bit_for_bit() {
        let a = pseudo_random(256, 784, 3);
        let b = pseudo_random(784, 512, 4);
        let run = |isa: Isa, threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut c = Array2::<f32>::zeros((256, 512));
            pool.install(|| matmul_with(isa, a.view(), b.view(), 0.0, c.view_mut()));
            c
        };
        for isa in Isa::supported() {
            assert_eq!(run(isa, 1), run(isa, 3), "{isa:?}: 1 and 3 threads differ");
        }
        // AVX2 and AVX-512 both sum with one fused multiply-add per term, in order.
        if Isa::Avx512.is_supported() && Isa::Avx2.is_supported() {
            assert_eq!(run(Isa::Avx512, 2), run(Isa::Avx2, 2));
        }
    }

    #[test]
    fn parallel_product_matches_reference_including_transposes_and_beta() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        pool.install(|| {
            let a = pseudo_random(301, 97, 1);
            let b = pseudo_random(97, 203, 2);
            let mut c = Array2::<f32>::from_elem((301, 203), 0.5);
            matmul(a.view(), b.view(), 1.0, c.view_mut());
            let expected = reference(&a, &b) + 0.5;
            let err = (&c.mapv(f64::from) - &expected)
                .mapv(f64::abs)
                .fold(0.0, |m: f64, &x| m.max(x));
            assert!(err < 1e-3, "max error {err}");

            // Aᵀ as a strided view.
            let at = a.t().to_owned();
            let mut c2 = Array2::<f32>::zeros((97, 97));
            matmul(at.view(), a.view(), 0.0, c2.view_mut());
            let mut c3 = Array2::<f32>::zeros((97, 97));
            matmul(a.t(), a.view(), 0.0, c3.view_mut());
            let err = (&c2 - &c3).mapv(f32::abs).fold(0.0f32, |m, &x| m.max(x));
            assert!(err < 1e-4, "transposed view differs by {err}");
        });
    }
}
