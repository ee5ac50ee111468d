//! A short run with figures on a subset of the bundled MNIST: every file is
//! written, decodes, has the expected size, and every animation has one frame
//! per drawn epoch plus the untrained model.

use std::fs::File;
use std::path::Path;
use std::process::Command;

const PNGS: &[&str] = &[
    "losses.png",
    "reconstructions.png",
    "latent_pca.png",
    "latent_tsne.png",
    "samples.png",
    "interpolation.png",
    "code_marginals.png",
];
const GIFS: &[&str] = &[
    "reconstructions.gif",
    "latent_pca.gif",
    "latent_tsne.gif",
    "generated.gif",
];

fn png_size(path: &Path) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::BufReader::new(File::open(path).unwrap()));
    let mut reader = decoder
        .read_info()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut buffer = vec![0; reader.output_buffer_size()];
    let info = reader
        .next_frame(&mut buffer)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (info.width, info.height)
}

/// (width, height, frames) of a GIF, decoding every frame.
fn gif_info(path: &Path) -> (u16, u16, usize) {
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::Indexed);
    let mut decoder = options
        .read_info(File::open(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (w, h) = (decoder.width(), decoder.height());
    let mut frames = 0;
    while decoder.read_next_frame().unwrap().is_some() {
        frames += 1;
    }
    (w, h, frames)
}

#[test]
fn a_run_writes_every_figure_and_a_self_contained_report() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    // 3 epochs, frames every 2: the untrained model, epoch 2, and the last epoch 3.
    let output = Command::new(env!("CARGO_BIN_EXE_mnist-autoencoder"))
        .args([
            "train",
            "--val-size",
            "200",
            "--epochs",
            "3",
            "--frames-every",
            "2",
        ])
        .args([
            "--hidden",
            "32",
            "--latent",
            "8",
            "--batch-size",
            "64",
            "--tsne-points",
            "200",
            "--threads",
            "2",
        ])
        // The first 1,200 training digits (as --limit 1200), 2,000 test digits.
        .arg("--data-dir")
        .arg(crate::support::mnist_subset(1200, 2000))
        .args(["--out-dir", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    for name in PNGS {
        let (w, h) = png_size(&out.join(name));
        assert!(w >= 400 && h >= 200, "{name} is {w}×{h}");
    }
    assert_eq!(png_size(&out.join("losses.png")), (900, 560));
    assert_eq!(png_size(&out.join("latent_tsne.png")), (820, 700));
    // 2 blocks × (originals + reconstructions) of 10 digits at 2× scale.
    let (w, _) = png_size(&out.join("reconstructions.png"));
    assert_eq!(w, 2 * 12 + 200 + 10 * (56 + 4));

    for name in GIFS {
        let (w, h, frames) = gif_info(&out.join(name));
        assert!(w >= 400 && h >= 200, "{name} is {w}×{h}");
        assert_eq!(frames, 3, "{name}: untrained + epoch 2 + epoch 3");
    }
    assert_eq!(
        gif_info(&out.join("latent_pca.gif")).0 as u32,
        png_size(&out.join("latent_pca.png")).0
    );

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    // The mixture prior is fitted after training, saved, and judged beside the rest.
    assert!(out.join("prior-gmm.safetensors").exists());
    if let Some(judge) = summary.get("judge").filter(|j| !j.is_null()) {
        assert!(judge["prior_gmm"]["score"].as_f64().is_some(), "{judge}");
    }
    let pca = summary["pca_test_mse"]
        .as_f64()
        .expect("pca_test_mse in summary.json");
    assert!(pca > 0.0 && pca < 0.1, "PCA-8 test MSE {pca}");

    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    for name in PNGS.iter().chain(GIFS) {
        assert!(html.contains(name), "report.html does not show {name}");
    }
    assert_eq!(
        html.matches("src=\"data:image/").count(),
        PNGS.len() + GIFS.len()
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "report.html must not reference the network"
    );
    // No temporary files left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn no_figures_writes_none() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let output = Command::new(env!("CARGO_BIN_EXE_mnist-autoencoder"))
        .args([
            "--limit",
            "600",
            "--val-size",
            "100",
            "--epochs",
            "1",
            "--hidden",
            "16",
            "--latent",
            "4",
            "--no-figures",
            "--out-dir",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for name in PNGS.iter().chain(GIFS).chain(&["report.html"]) {
        assert!(
            !out.join(name).exists(),
            "{name} written despite --no-figures"
        );
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert!(summary["pca_test_mse"].is_null());
}
