use mnist_autoencoder::nn::matmul::matmul;
use ndarray::Array2;
use std::time::Instant;
fn main() {
    let threads: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(2);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        for &(m, k, n) in &[
            (256usize, 784usize, 1024usize),
            (1024, 256, 1024),
            (256, 1024, 784),
            (1024, 1024, 1024),
            (128, 784, 128),
        ] {
            let a = Array2::from_shape_fn((m, k), |(i, j)| ((i * 7 + j * 3) % 11) as f32 * 0.1);
            let b = Array2::from_shape_fn((k, n), |(i, j)| ((i * 5 + j * 3) % 13) as f32 * 0.1);
            let mut c = Array2::<f32>::zeros((m, n));
            let flops = 2.0 * (m * k * n) as f64;
            let reps = (3e10 / flops) as usize + 3;
            let mut best = f64::MAX;
            for _ in 0..3 {
                let t = Instant::now();
                for _ in 0..reps {
                    matmul(a.view(), b.view(), 0.0, c.view_mut());
                }
                best = best.min(t.elapsed().as_secs_f64() / reps as f64);
            }
            print!("{m}x{k}x{n} {:.1}  ", flops / best / 1e9);
        }
        println!();
    });
}
