//! The one matrix product everything uses: `C = A·B + β·C` (β is 0 or 1).
//!
//! The three products of a dense layer all have this form:
//! forward `Y = X·W`, input gradient `dX = dY·Wᵀ`, weight gradient `dW = Xᵀ·dY`.
//! Transposed operands are strided views (`.t()`); packing reads them in place.
//!
//! How it is computed (after GotoBLAS/BLIS):
//!
//! ```text
//!                 K                        N
//!           ┌───────────┐            ┌──┬──┬──┬──┐
//!         6 │ A rows    │          K │B0│B1│B2│..│  B packed in slivers of NR = 16|32
//!         6 │ A rows    │            │  │  │  │  │  columns, each k-major: b[p·NR + j]
//!           │    ...    │            └──┴──┴──┴──┘  (zero-padded on the right edge)
//!           └───────────┘
//!
//! C is cut into runs of columns, about four per thread; each run is one task:
//!   pack the run's slivers of B (they stay in this core's cache)
//!   for each block of MC rows of A (read in place: the block stays in L2)
//!     for each KC-long piece of K
//!       for each B sliver j of the run (KC × NR floats: stays in L1)
//!         for each 6 rows i of the block
//!           C[i, j] tile (6 × NR) += A[i, piece] · B sliver j     (kernel.rs)
//! ```
//!
//! A is not copied: the kernel reads its six rows where they are (a transposed A
//! too, whose six "rows" are then six neighbouring floats of each row of the
//! matrix). Only the last six rows of A, if M is not a multiple of 6, are copied
//! into a zero-padded sliver. One product is one parallel step: the threads are
//! woken once.
//!
//! Each element of `C` is summed in the same order (p = 0..K, KC at a time)
//! whoever computes it, so the result does not depend on the thread count or on
//! timing: the same inputs give bit-identical outputs.

use std::cell::RefCell;

use ndarray::{s, Array2, ArrayView2, ArrayViewMut2, Zip};
use rayon::prelude::*;

use super::kernel::{self, microkernel, Isa, Sliver, Tile, MR};

/// Below this many floating-point operations a product runs on one thread:
/// splitting a small product costs more in synchronisation than it saves.
const PARALLEL_MIN_FLOPS: usize = 2_000_000;

/// The length of K multiplied per kernel call: a B sliver of KC × NR floats
/// (16 KB on AVX2) stays in the L1 cache while it meets every row of a block.
const KC: usize = 256;

/// Rows of A per block: MC × KC floats (48 KB) stay in L2 while a run's slivers
/// of B pass over them.
const MC: usize = 8 * MR;

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
    mut c: ArrayViewMut2<f32>,
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
        matmul_with(isa, a, b, 0.0, product.view_mut());
        Zip::from(&mut c)
            .and(&product)
            .for_each(|c, &p| *c = beta * *c + p);
        return;
    }
    let threads = if 2 * m * k * n < PARALLEL_MIN_FLOPS {
        1
    } else {
        rayon::current_num_threads()
    };
    PACKED_B.with(|buffer| match buffer.try_borrow_mut() {
        Ok(mut buffer) => multiply(isa, a, b, beta, c, &mut buffer, threads),
        // Re-entered on this thread (a product inside a product's task): a fresh buffer.
        Err(_) => multiply(isa, a, b, beta, c, &mut Vec::new(), threads),
    });
}

thread_local! {
    /// The packed copy of B, kept between products so that each product does
    /// not allocate (and page-fault in) a megabyte.
    static PACKED_B: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// A raw pointer that tasks on other threads may use: each task writes its own
/// columns of C, and only reads A.
#[derive(Clone, Copy)]
struct Shared(*mut f32);
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

impl Shared {
    /// The pointer (a method, so that closures capture the `Sync` wrapper).
    fn get(self) -> *mut f32 {
        self.0
    }
}

fn multiply(
    isa: Isa,
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    beta: f32,
    mut c: ArrayViewMut2<f32>,
    packed_b: &mut Vec<f32>,
    threads: usize,
) {
    let (m, k) = a.dim();
    let n = b.ncols();
    let nr = isa.nr();
    let b_slivers = n.div_ceil(nr);
    packed_b.resize(b_slivers * nr * k, 0.0);
    let runs = (4 * threads).min(b_slivers);
    let run_len = b_slivers.div_ceil(runs);
    let row_stride = c.strides()[0] as usize;
    let (out, a_start) = (Shared(c.as_mut_ptr()), Shared(a.as_ptr() as *mut f32));
    let (a_rows, a_cols) = (a.strides()[0], a.strides()[1]);
    let task = |(t, packed_run): (usize, &mut [f32])| {
        let cols = t * run_len * nr..((t + 1) * run_len * nr).min(n);
        let b_run = b.slice(s![.., cols.clone()]);
        match nr {
            16 => pack::<16>(packed_run, b_run.t()),
            32 => pack::<32>(packed_run, b_run.t()),
            _ => unreachable!("tiles are 16 or 32 wide"),
        }
        let a = Sliver {
            a: a_start.get(),
            p_stride: a_cols,
            i_stride: a_rows,
        };
        // SAFETY: column `cols.start` of C's first row.
        let c_run = unsafe { out.get().add(cols.start) };
        multiply_run(
            isa,
            a,
            m,
            k,
            packed_run,
            cols.len(),
            beta,
            c_run,
            row_stride,
        );
    };
    let run_floats = run_len * nr * k;
    if threads > 1 {
        packed_b
            .par_chunks_mut(run_floats)
            .enumerate()
            .for_each(task);
    } else {
        packed_b.chunks_mut(run_floats).enumerate().for_each(task);
    }
}

/// Packs the rows of `src` (R×K: A itself, or Bᵀ) into slivers of `W` rows,
/// each stored k-major (`sliver[p·W + t] = src[W·s + t, p]`), zero-padded.
/// `W` is a constant so that the copies of one column compile to vector moves.
///
/// Slivers are packed in groups of about 128 rows of `src`: when a column of
/// `src` is contiguous, each step reads 512 contiguous bytes of it instead of
/// W floats a page apart.
fn pack<const W: usize>(buffer: &mut [f32], src: ArrayView2<f32>) {
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
        // sliver holds k · W floats of `slivers`.
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
                    // Walk the sliver's W rows side by side, one column at a time.
                    let first = sliver_start(s);
                    let row: [*const f32; W] =
                        std::array::from_fn(|t| first.offset(t as isize * row_stride));
                    for (p, column) in sliver.chunks_exact_mut(W).enumerate() {
                        let at = p as isize * k_stride;
                        for (x, r) in column.iter_mut().zip(&row) {
                            *x = *r.offset(at);
                        }
                    }
                }
            }
            for s in full..count {
                let sliver = &mut slivers[s * W * k..(s + 1) * W * k];
                pack_partial_sliver(sliver, sliver_start(s), row_stride, k_stride, valid(s), W);
            }
        }
    };
    buffer
        .chunks_mut(group * W * k)
        .enumerate()
        .for_each(pack_group);
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

/// Computes `C[:, run] (+)= A · B[:, run]` from A in place and the run's packed
/// slivers of B; `c` points at the run's first column, `cols` is its width.
#[allow(clippy::too_many_arguments)]
fn multiply_run(
    isa: Isa,
    a: Sliver,
    m: usize,
    k: usize,
    packed_b: &[f32],
    cols: usize,
    beta: f32,
    c: *mut f32,
    row_stride: usize,
) {
    let nr = isa.nr();
    // The last rows of A, if fewer than 6, in a zero-padded sliver of their own.
    let full_rows = m - m % MR;
    let mut edge = vec![0.0f32; if full_rows < m { MR * k } else { 0 }];
    for (i, row) in (full_rows..m).enumerate() {
        for p in 0..k {
            // SAFETY: (row, p) is inside A.
            edge[p * MR + i] = unsafe {
                *a.a.offset(row as isize * a.i_stride + p as isize * a.p_stride)
            };
        }
    }
    let sliver_at = |row: usize, p: usize| {
        if row < full_rows {
            Sliver {
                // SAFETY: (row, p) is inside A.
                a: unsafe {
                    a.a.offset(row as isize * a.i_stride + p as isize * a.p_stride)
                },
                ..a
            }
        } else {
            Sliver {
                a: edge[p * MR..].as_ptr(),
                p_stride: MR as isize,
                i_stride: 1,
            }
        }
    };
    // K in pieces of equal length, at most KC (784 = 4 × 196, not 3 × 256 + 16:
    // a short last piece would spend its time loading and storing C).
    let piece = k.div_ceil(k.div_ceil(KC));
    for block in (0..m).step_by(MC) {
        let rows = block..(block + MC).min(m);
        for kc_start in (0..k).step_by(piece) {
            let kc = piece.min(k - kc_start);
            for col in (0..cols).step_by(nr) {
                let b = packed_b[(col / nr) * nr * k + kc_start * nr..].as_ptr();
                for row in rows.clone().step_by(MR) {
                    let tile = Tile {
                        // SAFETY: (row, col) is inside C, whose rows are `row_stride` apart.
                        c: unsafe { c.add(row * row_stride + col) },
                        row_stride,
                        rows: MR.min(m - row),
                        cols: nr.min(cols - col),
                        accumulate: kc_start > 0 || beta == 1.0,
                    };
                    // SAFETY: the sliver holds MR rows of kc floats from kc_start, B's
                    // sliver kc·nr floats, the tile is this task's alone, and `isa`
                    // was checked by the caller.
                    unsafe { microkernel(isa, kc, sliver_at(row, kc_start), b, &tile) };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

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

    /// Largest absolute difference from the f64 reference, plus `offset`.
    fn max_error(c: &Array2<f32>, expected: &Array2<f64>) -> f64 {
        (&c.mapv(f64::from) - expected)
            .mapv(f64::abs)
            .fold(0.0, |m: f64, &x| m.max(x))
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
