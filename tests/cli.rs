//! The command line: a small successful run, and every kind of bad input giving
//! one clear line, a non-zero exit status and no panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mnist_autoencoder::data::idx::encode_idx;

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mnist-autoencoder"))
}

/// Small, fast flags for a run on a tiny dataset.
const QUICK: &[&str] = &[
    "--epochs",
    "1",
    "--hidden",
    "16",
    "--latent",
    "4",
    "--batch-size",
    "32",
    "--val-size",
    "20",
    "--threads",
    "1",
    "--no-figures",
];

/// A dataset folder of tiny 4×4 images: `train` training and `test` test
/// images, labelled 0-9 in turn.
fn write_dataset(dir: &Path, train: usize, test: usize) {
    crate::support::write_dataset(dir, train, test, |i| (i % 10) as u8, 0);
}

fn run(args: &[&str]) -> Output {
    binary().args(args).output().expect("binary runs")
}

fn run_with_data(data: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<&str> = QUICK.to_vec();
    args.extend([
        "--data-dir",
        data.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
    ]);
    args.extend(extra);
    run(&args)
}

/// Asserts a clean failure: non-zero exit, one `error:` line containing every
/// `needle`, no panic or backtrace.
fn assert_clean_failure(output: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "should fail; stderr: {stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "panic: {stderr}"
    );
    let error_lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(error_lines.len(), 1, "one error line expected: {stderr}");
    for needle in needles {
        assert!(
            error_lines[0].contains(needle),
            "'{needle}' missing from: {stderr}"
        );
    }
}

#[test]
fn a_quick_run_writes_metrics_summary_and_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data, 100, 30);
    let out = tmp.path().join("out");
    let output = run_with_data(&data, &out, &["--epochs", "2"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("epoch   2/2"), "{stdout}");

    let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert!(
        metrics.starts_with("epoch,train_loss,val_loss,seconds"),
        "{metrics}"
    );
    assert_eq!(metrics.lines().count(), 3, "header + one row per epoch");

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    for key in [
        "test_mse",
        "best_val_loss",
        "epochs",
        "seconds_per_epoch",
        "images_per_second",
        "config",
    ] {
        assert!(summary.get(key).is_some(), "summary.json lacks {key}");
    }
    assert_eq!(summary["epochs"], 2);
    assert!(summary["test_mse"].as_f64().unwrap() > 0.0);
    let config = &summary["config"];
    assert_eq!(config["threads"], 1);
    assert_eq!(config["seed"], 0);
    assert_eq!(config["hidden"], serde_json::json!([16]));
    assert!(config["data_dir"].as_str().unwrap().ends_with("data"));

    let (params, arch) =
        mnist_autoencoder::checkpoint::load_model(&out.join("model.safetensors")).unwrap();
    assert_eq!(arch.describe(), "16-16-4-16-16");
    assert_eq!(params.layers.len(), 4);
}

#[test]
fn bad_flags_name_the_flag() {
    let cases: &[(&[&str], &str)] = &[
        (&["--epochs", "0"], "--epochs"),
        (&["--batch-size", "0"], "--batch-size"),
        (&["--latent", "0"], "--latent"),
        (&["--lr", "0"], "--lr"),
        (&["--lr", "-0.1"], "--lr"),
        (&["--lr", "inf"], "--lr"),
        (&["--lr", "NaN"], "--lr"),
        (&["--hidden", "12,,3"], "--hidden"),
        (&["--hidden", "0"], "--hidden"),
        (&["--epochs", "ten"], "--epochs"),
        (&["--loss", "l1"], "--loss"),
    ];
    for (args, flag) in cases {
        let output = run(args);
        assert_clean_failure(&output, &[flag]);
    }
}

#[test]
fn missing_data_is_reported_with_its_path() {
    let tmp = tempfile::tempdir().unwrap();
    let output = run_with_data(&tmp.path().join("nowhere"), &tmp.path().join("out"), &[]);
    assert_clean_failure(&output, &["nowhere", "data folder not found"]);

    let data = tmp.path().join("data");
    write_dataset(&data, 100, 30);
    std::fs::remove_file(data.join("t10k-labels-idx1-ubyte")).unwrap();
    let output = run_with_data(&data, &tmp.path().join("out"), &[]);
    assert_clean_failure(&output, &["t10k-labels-idx1-ubyte", "missing"]);
}

/// Replaces one file of a good dataset with `bytes` and checks the error.
fn assert_bad_file(name: &str, bytes: Vec<u8>, needles: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data, 100, 30);
    let path: PathBuf = data.join(name);
    std::fs::write(&path, bytes).unwrap();
    let output = run_with_data(&data, &tmp.path().join("out"), &[]);
    let mut all = vec![name];
    all.extend(needles);
    assert_clean_failure(&output, &all);
}

#[test]
fn malformed_idx_files_are_reported_with_their_path() {
    let good = encode_idx(&[100, 4, 4], &[9; 1600]);
    let mut bad_magic = good.clone();
    bad_magic[1] = 3;
    assert_bad_file("train-images-idx3-ubyte", bad_magic, &["not an IDX file"]);

    let mut bad_type = good.clone();
    bad_type[2] = 0x0C;
    assert_bad_file(
        "train-images-idx3-ubyte",
        bad_type,
        &["unsupported IDX data type"],
    );

    assert_bad_file(
        "train-images-idx3-ubyte",
        good[..800].to_vec(),
        &["truncated"],
    );

    let mut lying = vec![0, 0, 8, 3];
    for d in [4_000_000_000u32, 28, 28] {
        lying.extend_from_slice(&d.to_be_bytes());
    }
    lying.extend_from_slice(&[0; 1024]);
    assert_bad_file("train-images-idx3-ubyte", lying, &["4000000000"]);

    assert_bad_file(
        "train-labels-idx1-ubyte",
        encode_idx(&[99], &[1; 99]),
        &["99 labels", "100 images"],
    );

    assert_bad_file(
        "train-labels-idx1-ubyte",
        encode_idx(&[10, 10], &[1; 100]),
        &["expected 1 dimension"],
    );

    // A gzip header followed by garbage.
    let mut corrupt = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    corrupt.extend((0..200).map(|i| (i * 91 % 251) as u8));
    assert_bad_file("t10k-images-idx3-ubyte", corrupt, &["gzip"]);
}

#[test]
fn an_unwritable_output_folder_fails_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data, 100, 30);
    // A regular file where a folder should be: cannot be created, even by root.
    let blocker = tmp.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let output = run_with_data(&data, &blocker.join("out"), &[]);
    assert_clean_failure(&output, &["file/out"]);
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("epoch"),
        "no training before the check"
    );
}

#[test]
fn a_diverging_run_stops_with_epoch_and_step() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data, 100, 30);
    let output = run_with_data(
        &data,
        &tmp.path().join("out"),
        &["--lr", "1e30", "--epochs", "3"],
    );
    assert_clean_failure(&output, &["diverged", "epoch", "step", "--lr"]);
}

#[test]
fn help_explains_every_flag() {
    let output = run(&["train", "--help"]);
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--epochs",
        "--batch-size",
        "--lr",
        "--hidden",
        "--latent",
        "--loss",
        "--seed",
        "--threads",
        "--data-dir",
        "--out-dir",
        "--val-size",
        "--limit",
        "--no-figures",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn gradcheck_subcommand_prints_a_row_per_tensor_and_passes() {
    let output = run(&[
        "gradcheck",
        "--hidden",
        "8,4",
        "--latent",
        "3",
        "--samples",
        "0",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("encoder.") || l.starts_with("decoder."))
        .collect();
    assert_eq!(rows.len(), 12, "{stdout}");
    assert!(rows.iter().all(|r| r.ends_with("OK")), "{stdout}");
    assert!(stdout.contains("verdict: OK"), "{stdout}");
}

/// `MNIST_AE_SIMD` forces a kernel (summary.json names the one that ran), and
/// every kernel this CPU has trains to the same loss up to float rounding.
#[test]
fn the_simd_override_is_obeyed_and_every_kernel_trains_alike() {
    let data = tempfile::tempdir().unwrap();
    write_dataset(data.path(), 200, 40);
    let kernels: Vec<&str> = mnist_autoencoder::nn::kernel::Isa::supported()
        .into_iter()
        .map(|isa| isa.name())
        .collect();
    let mut losses = Vec::new();
    for kernel in &kernels {
        let out = tempfile::tempdir().unwrap();
        let mut command = binary();
        command.env("MNIST_AE_SIMD", kernel).args(QUICK).args([
            "--hidden",
            "40",
            "--data-dir",
            data.path().to_str().unwrap(),
            "--out-dir",
            out.path().to_str().unwrap(),
        ]);
        let output = command.output().unwrap();
        assert!(output.status.success(), "{kernel}: {output:?}");
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.path().join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(summary["config"]["simd"], *kernel);
        losses.push(summary["test_mse"].as_f64().unwrap());
    }
    for (kernel, loss) in kernels.iter().zip(&losses) {
        let relative = (loss - losses[0]).abs() / losses[0];
        assert!(
            relative < 1e-4,
            "{kernel}: test_mse {loss} vs {}",
            losses[0]
        );
    }
}

/// `eval --importance-samples K` on a VAE prints the ELBO and the larger
/// importance-weighted log p(x); on a plain autoencoder it names the flag.
#[test]
fn eval_estimates_a_vaes_log_likelihood_by_importance_sampling() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data, 100, 30);
    let (vae, ae) = (tmp.path().join("vae"), tmp.path().join("ae"));
    assert!(run_with_data(&data, &vae, &["--model", "vae"])
        .status
        .success());
    assert!(run_with_data(&data, &ae, &[]).status.success());
    let eval = |dir: &Path, k: &str| {
        let model = dir.join("model.safetensors");
        run(&[
            "eval",
            "--model",
            model.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "--importance-samples",
            k,
            "--images",
            "10",
        ])
    };
    let output = eval(&vae, "20");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let number = |after: &str| -> f64 {
        let rest = &stdout[stdout
            .find(after)
            .unwrap_or_else(|| panic!("{after}: {stdout}"))
            + after.len()..];
        rest.split_whitespace().next().unwrap().parse().unwrap()
    };
    let (elbo, log_p) = (number("ELBO"), number("log p(x)"));
    assert!(log_p > elbo, "{stdout}");
    assert_clean_failure(&eval(&ae, "20"), &["--importance-samples", "needs a VAE"]);
    assert_clean_failure(&eval(&vae, "0"), &["--importance-samples", "between 1 and"]);
}
