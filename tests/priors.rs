//! Priors over the code from the command line: `train-prior` writes a prior
//! file beside the model, `generate` samples from it (by default when it is
//! there), writes IDX files, and refuses a prior that belongs to another model.

use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mnist-autoencoder"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn succeeded(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "failed: {stderr}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// One `error:` line holding every needle, no panic.
fn failed_with(output: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "should fail: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    for needle in needles {
        assert!(errors[0].contains(needle), "'{needle}' missing: {stderr}");
    }
}

/// A tiny model trained on `data` into `out` with `seed`.
fn train(data: &Path, out: &Path, seed: &str) {
    succeeded(&run(&[
        "train",
        "--epochs",
        "1",
        "--hidden",
        "16",
        "--latent",
        "3",
        "--batch-size",
        "32",
        "--val-size",
        "40",
        "--threads",
        "1",
        "--no-figures",
        "--seed",
        seed,
        "--data-dir",
        data.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
    ]));
}

#[test]
fn train_prior_then_generate_samples_from_it_and_writes_idx() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, out) = (tmp.path().join("data"), tmp.path().join("out"));
    crate::support::write_dataset(&data, 240, 30, |i| (i % 10) as u8, 0);
    train(&data, &out, "0");
    let model = out.join("model.safetensors");
    let (model_arg, data_arg) = (model.to_str().unwrap(), data.to_str().unwrap());
    let common = [
        "--model",
        model_arg,
        "--data-dir",
        data_arg,
        "--val-size",
        "40",
    ];

    // Without a prior file, generate falls back to the model's own sampler.
    let png = tmp.path().join("a.png");
    let stdout = succeeded(&run(&[
        "generate",
        "--model",
        model_arg,
        "--data-dir",
        data_arg,
        "--out",
        png.to_str().unwrap(),
    ]));
    assert!(stdout.contains("a Gaussian fitted"), "{stdout}");
    // Asking for a prior that is not there names the command that makes it.
    failed_with(
        &run(&[
            "generate",
            "--model",
            model_arg,
            "--data-dir",
            data_arg,
            "--out",
            png.to_str().unwrap(),
            "--prior",
            "gmm",
        ]),
        &["--prior", "prior-gmm.safetensors", "train-prior"],
    );

    for (kind, extra) in [
        ("gmm", ["--components", "1,2"]),
        ("diffusion", ["--epochs", "1"]),
    ] {
        let mut args = vec!["train-prior", "--prior", kind, "--threads", "1"];
        args.extend(common);
        args.extend(extra);
        let stdout = succeeded(&run(&args));
        assert!(stdout.contains(&format!("prior {kind}")), "{stdout}");
        assert!(out.join(format!("prior-{kind}.safetensors")).exists());
    }
    // The gmm prior is the default once its file is there.
    let stdout = succeeded(&run(&[
        "generate",
        "--model",
        model_arg,
        "--data-dir",
        data_arg,
        "--out",
        png.to_str().unwrap(),
    ]));
    assert!(stdout.contains("prior gmm"), "{stdout}");
    // 25 digits of the diffusion prior as an IDX file of u8 4×4 images.
    let idx = tmp.path().join("digits.idx");
    let stdout = succeeded(&run(&[
        "generate",
        "--model",
        model_arg,
        "--data-dir",
        data_arg,
        "--prior",
        "diffusion",
        "--count",
        "25",
        "--out",
        idx.to_str().unwrap(),
    ]));
    assert!(stdout.contains("prior diffusion"), "{stdout}");
    let parsed =
        mnist_autoencoder::data::idx::parse_idx(&std::fs::read(&idx).unwrap(), &idx).unwrap();
    assert_eq!(parsed.dims, vec![25, 4, 4]);

    // Retrained: the old prior file belongs to another model and is refused.
    train(&data, &out, "1");
    failed_with(
        &run(&[
            "generate",
            "--model",
            model_arg,
            "--data-dir",
            data_arg,
            "--out",
            png.to_str().unwrap(),
        ]),
        &[
            "prior-gmm.safetensors",
            "another model's codes",
            "train-prior",
        ],
    );
}

#[test]
fn train_prior_flags_are_checked_before_any_work() {
    for (flag, value, needle) in [
        ("--components", "0,5", "at least 1"),
        ("--temperature", "-1", "positive"),
        ("--out", "prior.bin", ".safetensors"),
        ("--prior", "flow", "flow"),
    ] {
        let output = run(&["train-prior", "--model", "nowhere.safetensors", flag, value]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && stderr.contains(needle),
            "{flag} {value}: {stderr}"
        );
        assert!(
            !stderr.contains("panicked") && !stderr.contains("nowhere"),
            "{stderr}"
        );
    }
}
