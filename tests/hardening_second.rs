//! Issue 28 (hardening, second round): each test names the item it covers and
//! failed before its fix. Every run of the binary has a hang guard.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use mnist_autoencoder::config::{Cli, Command as Parsed, Subcommands};
use mnist_autoencoder::data::idx::encode_idx;
use mnist_autoencoder::figures::class_names;
use proptest::prelude::*;

use crate::hardening::run;

/// Asserts a clean one-line failure (exit 1, no panic) naming `needle`.
fn fails_with(output: &Output, needle: &str) {
    let message = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(!message.contains("panicked"), "{message}");
    assert_eq!(message.trim_end().lines().count(), 1, "one line: {message}");
    assert!(
        message.contains(needle),
        "expected '{needle}' in: {message}"
    );
}

#[test]
fn item_7_gradcheck_and_judge_refuse_models_too_large_to_allocate() {
    let output = run(&["gradcheck", "--hidden", "1000000000"]);
    fails_with(&output, "--hidden");
    let output = run(&["gradcheck", "--hidden", "8", "--latent", "100000000000"]);
    fails_with(&output, "--hidden/--latent");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("judge.safetensors");
    let out = out.to_str().unwrap();
    let output = run(&["judge", "--hidden", "1000000000", "--out", out]);
    fails_with(&output, "--hidden");
}

#[test]
fn item_8_judge_threads_are_bounded_and_a_folder_is_not_its_output() {
    fails_with(&run(&["judge", "--threads", "100000"]), "--threads");
    fails_with(&run(&["judge", "--threads", "0"]), "--threads");
    let tmp = tempfile::tempdir().unwrap();
    let folder = format!("{}/", tmp.path().display());
    fails_with(&run(&["judge", "--out", &folder]), "--out");
}

/// classes.txt with `text` in a fresh dataset folder; the class names read.
fn names_from(text: &[u8], labels: &[u8]) -> Vec<String> {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("classes.txt"), text).unwrap();
    class_names(tmp.path(), labels)
}

#[test]
fn item_15_a_blank_line_in_classes_txt_leaves_its_class_numbered() {
    let names = names_from(b"zero\n\ntwo\n\n\n", &[0, 1, 2]);
    assert_eq!(names, ["zero", "1", "two"]);
}

#[test]
fn item_10_classes_txt_is_read_only_when_it_is_a_small_regular_file() {
    // Invalid UTF-8 is replaced, not a reason to ignore the file.
    let names = names_from(b"a\xffb\nsecond\n", &[0, 1]);
    assert_eq!(names, ["a\u{fffd}b", "second"]);
    // A long name is cut for drawing; a 5 MB file is not read at all.
    let long = format!("{}\n", "x".repeat(5000));
    assert_eq!(names_from(long.as_bytes(), &[0])[0].chars().count(), 40);
    assert_eq!(names_from(&vec![b'x'; 5 << 20], &[0, 1]), ["0", "1"]);
    // A link to /dev/zero and a FIFO are not opened: no hang, no memory.
    let tmp = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/dev/zero", tmp.path().join("classes.txt")).unwrap();
    assert_eq!(class_names(tmp.path(), &[0, 1]), ["0", "1"]);
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("classes.txt");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        let dir = tmp.path().to_path_buf();
        let (done, wait) = std::sync::mpsc::channel();
        std::thread::spawn(move || done.send(class_names(&dir, &[0])).unwrap());
        let names = wait
            .recv_timeout(Duration::from_secs(10))
            .expect("a FIFO blocked");
        assert_eq!(names, ["0"]);
    }
}

/// A dataset whose training images are `rows`×`cols` and test images 28×28.
fn mismatched_dataset(dir: &Path, rows: usize, cols: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for (split, n, shape) in [("train", 40, (rows, cols)), ("t10k", 10, (28, 28))] {
        let pixels = vec![0u8; n * shape.0 * shape.1];
        let images = encode_idx(&[n, shape.0, shape.1], &pixels);
        std::fs::write(dir.join(format!("{split}-images-idx3-ubyte")), images).unwrap();
        let labels = encode_idx(&[n], &vec![0u8; n]);
        std::fs::write(dir.join(format!("{split}-labels-idx1-ubyte")), labels).unwrap();
    }
}

#[test]
fn item_20_test_images_of_another_shape_with_as_many_pixels_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    mismatched_dataset(&data, 14, 56);
    let out = tmp.path().join("out");
    let output = run(&[
        "train",
        "--epochs",
        "1",
        "--val-size",
        "10",
        "--no-figures",
        "--data-dir",
        data.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
    ]);
    fails_with(&output, "14×56");
}

#[test]
fn item_24_a_negative_noise_is_refused_naming_the_flag() {
    fails_with(&run(&["train", "--noise", "-0.1"]), "--noise");
}

#[test]
fn item_27_generate_needs_a_png_file_name() {
    for out in ["noext", ".png", "digits.txt"] {
        let output = run(&["generate", "--model", "nowhere.safetensors", "--out", out]);
        fails_with(&output, "--out");
    }
}

/// Flag values a curious user can type, extremes included.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_string()),
        Just("1".to_string()),
        Just(u64::MAX.to_string()),
        Just("-1".to_string()),
        Just("1e40".to_string()),
        Just("NaN".to_string()),
        (0u64..100_000).prop_map(|n| n.to_string()),
    ]
}

/// Parses `args` and validates them as `commands::run` does first; for
/// `judge`, also sizes the judge's memory. Must never panic.
fn parse_and_validate(args: &[&str]) {
    let Ok(cli) = <Cli as clap::Parser>::try_parse_from(args) else {
        return;
    };
    let command = match cli.command {
        Some(Subcommands::Gradcheck(c)) => Parsed::Gradcheck(c),
        Some(Subcommands::Generate(c)) => Parsed::Generate(c),
        Some(Subcommands::TrainPrior(c)) => {
            let _ = c.fit_config();
            Parsed::TrainPrior(c)
        }
        Some(Subcommands::Judge(c)) => {
            let _ = c.check_memory(784, 128);
            Parsed::Judge(c)
        }
        _ => return,
    };
    let _ = command.validate();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// item "the property test covers every subcommand": gradcheck's, judge's,
    /// generate's and train-prior's flags parse and validate without panic,
    /// whatever the values.
    #[test]
    fn every_subcommands_flags_are_validated_without_panic(
        a in number(), b in number(), c in number(), d in number(),
        widths in prop::collection::vec(number(), 1..4),
    ) {
        let hidden = widths.join(",");
        parse_and_validate(&[
            "mnist-autoencoder", "gradcheck", "--hidden", &hidden, "--latent", &a,
            "--batch-size", &b, "--samples", &c, "--eps", &d,
        ]);
        parse_and_validate(&[
            "mnist-autoencoder", "judge", "--hidden", &a, "--epochs", &b, "--threads", &c,
        ]);
        parse_and_validate(&[
            "mnist-autoencoder", "generate", "--model", "m", "--count", &a, "--seed", &b,
            "--out", "x.idx", "--prior", "gmm",
        ]);
        parse_and_validate(&[
            "mnist-autoencoder", "train-prior", "--model", "m", "--components", &hidden,
            "--temperature", &a, "--epochs", &b, "--threads", &c, "--val-size", &d,
        ]);
    }
}

#[test]
fn item_23_a_run_that_fails_on_its_data_leaves_no_output_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("new/run");
    let missing = tmp.path().join("no-data");
    let output = run(&[
        "train",
        "--data-dir",
        missing.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(!tmp.path().join("new").exists(), "an empty folder was left");
}

#[test]
fn item_3_a_png_whose_header_claims_a_huge_size_is_refused_before_decoding() {
    // A valid 1×1 PNG whose IHDR is then rewritten to say 40000×40000.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bomb.png");
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, 1, 1);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        encoder
            .write_header()
            .unwrap()
            .write_image_data(&[0])
            .unwrap();
    }
    bytes[16..20].copy_from_slice(&40000u32.to_be_bytes()); // IHDR width
    bytes[20..24].copy_from_slice(&40000u32.to_be_bytes()); // IHDR height
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let error = mnist_autoencoder::commands::reconstruct::read_gray_png(&path).unwrap_err();
    assert!(error.to_string().contains("40000×40000"), "{error}");
}

/// CRC-32 (IEEE) of `bytes`, as PNG chunks carry it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn item_4_a_test_set_of_one_to_three_images_draws_every_map_without_hanging() {
    for count in [1usize, 2, 3] {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        crate::support::write_dataset(&data, 60, count, |i| (i % 3) as u8, count);
        let out = tmp.path().join("out");
        let output = run(&[
            "train",
            "--epochs",
            "1",
            "--hidden",
            "8",
            "--latent",
            "2",
            "--batch-size",
            "16",
            "--val-size",
            "10",
            "--threads",
            "1",
            "--tsne-points",
            "10",
            "--data-dir",
            data.to_str().unwrap(),
            "--out-dir",
            out.to_str().unwrap(),
        ]);
        let message = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{count} test images: {message}");
        assert!(out.join("latent_tsne.png").exists());
    }
}

#[test]
fn item_18_identity_activation_is_refused_with_a_cross_entropy_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, out) = (tmp.path().join("no-data"), tmp.path().join("out"));
    let (data, out) = (data.to_str().unwrap(), out.to_str().unwrap());
    let place = ["--data-dir", data, "--out-dir", out];
    for extra in [["--loss", "bce"], ["--model", "vae"]] {
        let mut args = vec!["train", "--activation", "identity"];
        args.extend(extra);
        args.extend(place);
        fails_with(&run(&args), "--activation");
    }
    assert!(!tmp.path().join("out").exists());
}

/// `train` with the tiny model on `data`, into `out`, with `extra` flags.
fn tiny_train(data: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "train",
        "--hidden",
        "8",
        "--latent",
        "2",
        "--batch-size",
        "16",
        "--val-size",
        "10",
        "--threads",
        "1",
        "--tsne-points",
        "10",
    ];
    args.extend_from_slice(extra);
    args.extend([
        "--data-dir",
        data.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
    ]);
    run(&args)
}

#[test]
fn item_26_a_divergence_in_epoch_1_says_no_checkpoint_was_written() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    crate::support::write_dataset(&data, 100, 20, |i| (i % 10) as u8, 1);
    let out = tmp.path().join("out");
    let output = tiny_train(&data, &out, &["--lr", "1e30", "--epochs", "3"]);
    fails_with(&output, "training diverged");
    fails_with(&output, "at epoch 1,");
    fails_with(&output, "no checkpoint was written yet");
    assert!(!out.join("checkpoint.safetensors").exists());
}

#[test]
fn item_28_an_out_dir_that_is_a_dangling_symlink_is_named_as_such() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    crate::support::write_dataset(&data, 60, 10, |i| (i % 3) as u8, 1);
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(tmp.path().join("gone"), &link).unwrap();
    for out in [link.clone(), link.join("run")] {
        let output = tiny_train(&data, &out, &["--epochs", "1", "--no-figures"]);
        fails_with(&output, "symbolic link");
        fails_with(&output, "gone, which does not exist");
    }
    assert!(!tmp.path().join("gone").exists());
}

#[test]
fn item_1_paths_that_are_not_utf8_are_refused_before_training() {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    crate::support::write_dataset(&data, 60, 10, |i| (i % 3) as u8, 1);
    let mut bad = tmp.path().as_os_str().to_owned().into_vec();
    bad.extend_from_slice(b"/bad\xffname");
    let bad = OsString::from_vec(bad);
    let good_out = tmp.path().join("out").into_os_string();
    for (flag, data_dir, out_dir) in [
        ("--out-dir", data.clone().into_os_string(), bad.clone()),
        ("--data-dir", bad.clone(), good_out.clone()),
    ] {
        let args: Vec<OsString> = [
            "train",
            "--epochs",
            "1",
            "--hidden",
            "8",
            "--latent",
            "2",
            "--val-size",
            "10",
            "--no-figures",
        ]
        .map(OsString::from)
        .into_iter()
        .chain(["--data-dir".into(), data_dir, "--out-dir".into(), out_dir])
        .collect();
        fails_with(&run(&args), flag);
    }
    let args = [OsString::from("train"), "--resume".into(), bad.clone()];
    fails_with(&run(&args), "--resume");
    assert!(!Path::new(&bad).exists());
}

#[test]
fn item_9_tsne_points_has_an_upper_bound_said_in_the_help() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("no-data");
    let out = tmp.path().join("out");
    for points in ["10001", "1000000000"] {
        let args = [
            "train",
            "--tsne-points",
            points,
            "--data-dir",
            data.to_str().unwrap(),
            "--out-dir",
            out.to_str().unwrap(),
        ];
        let output = run(&args);
        fails_with(&output, "--tsne-points");
        fails_with(&output, "10000");
    }
    let help = run(&["train", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout).replace(char::is_whitespace, "");
    assert!(help.contains("10to10,000"), "{help}");
}

#[test]
fn the_diffusion_prior_flags_are_bounded_and_named_in_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("no-data");
    let out = tmp.path().join("out");
    for (flag, value, said) in [
        ("--prior-hidden", "512,5000", "at most 4096"),
        ("--prior-epochs", "0", "at least 1"),
    ] {
        let args = [
            "train",
            flag,
            value,
            "--data-dir",
            data.to_str().unwrap(),
            "--out-dir",
            out.to_str().unwrap(),
        ];
        let output = run(&args);
        fails_with(&output, flag);
        fails_with(&output, said);
    }
}

#[test]
fn item_16_extra_classes_do_not_shrink_the_latent_maps() {
    use mnist_autoencoder::data::mnist::{Dataset, Splits};
    use mnist_autoencoder::figures::FigureInputs;
    let set = |labels: Vec<u8>| Dataset {
        images: ndarray::Array2::zeros((labels.len(), 16)),
        labels,
        rows: 4,
        cols: 4,
    };
    let mut labels: Vec<u8> = (0..1000).map(|i| (i % 10) as u8).collect();
    labels.extend([200, 255]);
    let splits = Splits {
        train: set(vec![0; 50]),
        validation: set(vec![0; 10]),
        test: set(labels.clone()),
    };
    // Labels up to 255, or 300 names in classes.txt: 200 points all the same.
    for names in [256, 300] {
        let names = (0..names).map(|c| c.to_string()).collect();
        let inputs = FigureInputs::new(&splits, 2, 200, 0, names);
        assert_eq!(inputs.mapped_labels.len(), 200);
    }
}

#[test]
fn item_17_reconstruct_uses_a_model_of_non_square_images() {
    use mnist_autoencoder::commands::reconstruct::write_gray_png;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    for (split, n) in [("train", 60), ("t10k", 10)] {
        let pixels: Vec<u8> = (0..n * 16).map(|i| (i * 37 % 256) as u8).collect();
        let images = encode_idx(&[n, 2, 8], &pixels);
        std::fs::write(data.join(format!("{split}-images-idx3-ubyte")), images).unwrap();
        let labels = encode_idx(&[n], &vec![0u8; n]);
        std::fs::write(data.join(format!("{split}-labels-idx1-ubyte")), labels).unwrap();
    }
    let out = tmp.path().join("out");
    let trained = tiny_train(&data, &out, &["--epochs", "1", "--no-figures"]);
    assert!(trained.status.success(), "{trained:?}");
    let (wide, square) = (tmp.path().join("wide.png"), tmp.path().join("square.png"));
    write_gray_png(&wide, 8, 2, &[128; 16]).unwrap();
    write_gray_png(&square, 4, 4, &[128; 16]).unwrap();
    for file in ["model.safetensors", "checkpoint.safetensors"] {
        let model = out.join(file);
        let reconstruct = |input: &Path| {
            let result = tmp.path().join("result.png");
            run(&[
                "reconstruct",
                "--model",
                model.to_str().unwrap(),
                "--input",
                input.to_str().unwrap(),
                "--out",
                result.to_str().unwrap(),
            ])
        };
        let output = reconstruct(&wide);
        assert!(output.status.success(), "{output:?}");
        fails_with(&reconstruct(&square), "takes 8×2 (width×height)");
    }
}

#[test]
fn item_12_a_copied_checkpoint_resumes_in_its_own_folder_not_the_recorded_one() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    crate::support::write_dataset(&data, 60, 10, |i| (i % 3) as u8, 1);
    let original = tmp.path().join("original");
    let first = tiny_train(&data, &original, &["--epochs", "1", "--no-figures"]);
    assert!(first.status.success(), "{first:?}");
    let copy = tmp.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    let checkpoint = copy.join("checkpoint.safetensors");
    std::fs::copy(original.join("checkpoint.safetensors"), &checkpoint).unwrap();
    let before = std::fs::read(original.join("metrics.csv")).unwrap();
    let resumed = run(&[
        "train",
        "--resume",
        checkpoint.to_str().unwrap(),
        "--epochs",
        "2",
    ]);
    assert!(resumed.status.success(), "{resumed:?}");
    let said = String::from_utf8_lossy(&resumed.stdout);
    assert!(
        said.contains("continuing in the checkpoint's folder"),
        "{said}"
    );
    assert_eq!(std::fs::read(original.join("metrics.csv")).unwrap(), before);
    assert!(copy.join("model.safetensors").exists());
    let metrics = std::fs::read_to_string(copy.join("metrics.csv")).unwrap();
    assert_eq!(
        metrics.lines().count(),
        3,
        "header and two epochs: {metrics}"
    );
}

#[test]
fn item_14_fashion_mnist_is_recognised_by_its_labels_not_its_folder_name() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("Fashion_backup/digits");
    std::fs::create_dir_all(&folder).unwrap();
    let digits: Vec<u8> = (0..10_000).map(|i| (i % 10) as u8).collect();
    let names = class_names(&folder, &digits);
    assert_eq!(names, (0..10).map(|c| c.to_string()).collect::<Vec<_>>());
    // The real Fashion-MNIST test labels, where Debian's package put them.
    let fashion = Path::new("/usr/share/datasets/fashion-mnist");
    if fashion.is_dir() {
        let labels = mnist_autoencoder::data::mnist::load_split(fashion, "t10k")
            .unwrap()
            .labels;
        let elsewhere = tmp.path().join("plain");
        assert_eq!(class_names(&elsewhere, &labels)[9], "Ankle boot");
    }
}

/// A dataset of 28×28 images (so the digit judge runs too) in `dir`.
fn digits_dataset(dir: &Path, train: usize, test: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for (split, n) in [("train", train), ("t10k", test)] {
        let pixels: Vec<u8> = (0..n * 784).map(|i| (i * 37 % 251) as u8).collect();
        let images = encode_idx(&[n, 28, 28], &pixels);
        std::fs::write(dir.join(format!("{split}-images-idx3-ubyte")), images).unwrap();
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let labels = encode_idx(&[n], &labels);
        std::fs::write(dir.join(format!("{split}-labels-idx1-ubyte")), labels).unwrap();
    }
}

/// Runs the binary with `args` and sends it `signal` (`"INT"`, `"TERM"`) as
/// soon as a line of its stdout starts with `after` (or half a second after
/// the start if `after` is None); killed after 60 s (a hang fails the test).
fn run_and_signal(args: &[&str], after: Option<&str>, signal: &str) -> Output {
    use std::io::{BufRead, BufReader, Read};
    let bin = env!("CARGO_BIN_EXE_mnist-autoencoder");
    let mut child = Command::new(bin)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stdout = String::new();
    match after {
        Some(prefix) => {
            for line in lines.by_ref() {
                let line = line.unwrap();
                stdout.push_str(&line);
                stdout.push('\n');
                if line.starts_with(prefix) {
                    break;
                }
            }
        }
        None => std::thread::sleep(Duration::from_millis(500)),
    }
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &pid])
        .status();
    assert!(sent.unwrap().success());
    let (done, wait) = std::sync::mpsc::channel();
    let mut stderr_pipe = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        let mut rest = String::new();
        for line in lines {
            rest.push_str(&line.unwrap_or_default());
            rest.push('\n');
        }
        let mut err = Vec::new();
        stderr_pipe.read_to_end(&mut err).unwrap();
        done.send((rest, err)).unwrap();
    });
    let Ok((rest, stderr)) = wait.recv_timeout(Duration::from_secs(60)) else {
        child.kill().unwrap();
        panic!("hung after SIG{signal}: {args:?}");
    };
    stdout.push_str(&rest);
    Output {
        status: child.wait().unwrap(),
        stdout: stdout.into_bytes(),
        stderr,
    }
}

/// Asserts an interrupted run: exit 130, no panic, the message contains `needle`.
fn interrupted_with(output: &Output, needle: &str) {
    let message = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{message}");
    assert!(!message.contains("panicked"), "{message}");
    assert!(
        message.contains(needle),
        "expected '{needle}' in: {message}"
    );
}

#[test]
fn item_13_no_figure_of_an_earlier_run_is_left_beside_a_new_model() {
    use mnist_autoencoder::figures::DRAWN_FILES;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    crate::support::write_dataset(&data, 60, 2000, |i| (i % 10) as u8, 1);
    let out = tmp.path().join("out");
    let first = tiny_train(&data, &out, &["--epochs", "1", "--noise", "0.2"]);
    assert!(first.status.success(), "{first:?}");
    for entry in std::fs::read_dir(&out).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let drawn = [".png", ".gif", ".html"].iter().any(|e| name.ends_with(e));
        assert!(!drawn || DRAWN_FILES.contains(&name.as_str()), "{name}");
    }
    assert!(out.join("denoising.png").exists());
    // Without --noise, the earlier denoising.png is not left behind.
    let second = tiny_train(&data, &out, &["--epochs", "1"]);
    assert!(second.status.success(), "{second:?}");
    assert!(
        !out.join("denoising.png").exists(),
        "a stale figure was kept"
    );
    // Interrupted once the test results are printed (before or while drawing):
    // the earlier report is gone, and the message says what is there.
    let mut args = vec!["train", "--epochs", "1", "--hidden", "8", "--latent", "2"];
    args.extend([
        "--val-size",
        "10",
        "--threads",
        "1",
        "--tsne-points",
        "2000",
    ]);
    args.extend(["--data-dir", data.to_str().unwrap()]);
    args.extend(["--out-dir", out.to_str().unwrap()]);
    let output = run_and_signal(&args, Some("test_mse"), "INT");
    interrupted_with(&output, "the figures");
    assert!(
        !out.join("report.html").exists(),
        "an earlier report was kept"
    );
}

#[test]
fn item_6_one_sigterm_after_the_last_epoch_stops_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    digits_dataset(&data, 200, 100);
    let out = tmp.path().join("out");
    let mut args = vec!["train", "--epochs", "1", "--hidden", "16", "--latent", "2"];
    args.extend(["--val-size", "20", "--threads", "1", "--tsne-points", "50"]);
    args.extend(["--data-dir", data.to_str().unwrap()]);
    args.extend(["--out-dir", out.to_str().unwrap()]);
    let output = run_and_signal(&args, Some("epoch   1/1"), "TERM");
    interrupted_with(&output, "interrupted");
    assert!(out.join("checkpoint.safetensors").exists());
}

#[test]
fn item_6_a_sigterm_while_reading_a_fifo_checkpoint_exits_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("checkpoint.safetensors");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        return;
    }
    let args = ["train", "--resume", fifo.to_str().unwrap()];
    let output = run_and_signal(&args, None, "TERM");
    interrupted_with(&output, "while reading the checkpoint or the data");
}

#[test]
fn item_5_a_latent_too_large_for_the_figures_is_refused_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("no-data");
    let out = tmp.path().join("out");
    for model in ["ae", "vae"] {
        let args = [
            "train",
            "--model",
            model,
            "--latent",
            "20000",
            "--hidden",
            "16",
            "--data-dir",
            data.to_str().unwrap(),
            "--out-dir",
            out.to_str().unwrap(),
        ];
        let output = run(&args);
        fails_with(&output, "--latent");
        fails_with(&output, "--no-figures");
    }
    // Without figures nothing is Z×Z: the flags are accepted.
    let args = [
        "mnist-autoencoder",
        "train",
        "--latent",
        "20000",
        "--no-figures",
    ];
    let cli = <Cli as clap::Parser>::try_parse_from(args).unwrap();
    let Some(Subcommands::Train(config)) = cli.command else {
        panic!("train")
    };
    config.validate().unwrap();
}

#[test]
fn item_2_figures_that_would_not_fit_in_memory_are_refused_before_training() {
    // 1×40000-pixel images: the PCA baseline's 40000×40000 covariance alone
    // would need 19 GB.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    for (split, n) in [("train", 30), ("t10k", 10)] {
        let images = encode_idx(&[n, 1, 40_000], &vec![7u8; n * 40_000]);
        std::fs::write(data.join(format!("{split}-images-idx3-ubyte")), images).unwrap();
        let labels = encode_idx(&[n], &vec![0u8; n]);
        std::fs::write(data.join(format!("{split}-labels-idx1-ubyte")), labels).unwrap();
    }
    let out = tmp.path().join("out");
    let output = run(&[
        "train",
        "--hidden",
        "4",
        "--latent",
        "2",
        "--val-size",
        "5",
        "--tsne-points",
        "10",
        "--data-dir",
        data.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
    ]);
    fails_with(&output, "--no-figures");
    fails_with(&output, "1×40000");
    assert!(!out.exists(), "nothing is written before the check");
}

#[test]
fn item_2_generate_reads_only_the_training_images_it_fits() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    crate::support::write_dataset(&data, 60, 10, |i| (i % 3) as u8, 1);
    let out = tmp.path().join("out");
    let trained = tiny_train(&data, &out, &["--epochs", "1", "--no-figures"]);
    assert!(trained.status.success(), "{trained:?}");
    // A training file whose header promises 6,000 images but holds 5,000:
    // generate fits its Gaussian to the first 5,000 and reads no further.
    let big = tmp.path().join("big");
    std::fs::create_dir_all(&big).unwrap();
    let gzip = |bytes: &[u8]| {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), Default::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    };
    let pixels: Vec<u8> = (0..6000 * 16).map(|i| (i * 37 % 256) as u8).collect();
    let images = encode_idx(&[6000, 4, 4], &pixels);
    let labels = encode_idx(&[6000], &vec![0u8; 6000]);
    let cut_images = &images[..16 + 5000 * 16];
    let cut_labels = &labels[..8 + 5000];
    std::fs::write(big.join("train-images-idx3-ubyte.gz"), gzip(cut_images)).unwrap();
    std::fs::write(big.join("train-labels-idx1-ubyte.gz"), gzip(cut_labels)).unwrap();
    let sheet = tmp.path().join("sheet.png");
    let output = run(&[
        "generate",
        "--model",
        out.join("model.safetensors").to_str().unwrap(),
        "--data-dir",
        big.to_str().unwrap(),
        "--out",
        sheet.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    assert!(sheet.exists());
}

#[test]
fn item_2_a_test_file_too_large_for_memory_is_refused_before_it_is_read() {
    // A raw t10k file whose header promises 10^12 bytes of images, and holds
    // them (a sparse file: no disk space is used).
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    crate::support::write_dataset(&data, 60, 10, |i| (i % 3) as u8, 1);
    let images = data.join("t10k-images-idx3-ubyte");
    let mut header = encode_idx(&[1, 1, 1], &[0]);
    header.truncate(4);
    for d in [100_000_000u32, 100, 100] {
        header.extend(d.to_be_bytes());
    }
    std::fs::write(&images, &header).unwrap();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&images)
        .unwrap();
    file.set_len(header.len() as u64 + 1_000_000_000_000)
        .unwrap();
    let out = tmp.path().join("out");
    let output = tiny_train(&data, &out, &["--epochs", "1", "--no-figures"]);
    fails_with(
        &output,
        "t10k-images-idx3-ubyte: 100000000 images of 100×100",
    );
    assert!(!out.exists());
    // eval reads the whole test file: it counts it first too.
    let model = tmp.path().join("model");
    crate::support::write_dataset(&tmp.path().join("small"), 60, 10, |i| (i % 3) as u8, 1);
    let trained = tiny_train(
        &tmp.path().join("small"),
        &model,
        &["--epochs", "1", "--no-figures"],
    );
    assert!(
        trained.status.success(),
        "{}",
        String::from_utf8_lossy(&trained.stderr)
    );
    let model_file = model.join("model.safetensors");
    let output = run(&[
        "eval",
        "--model",
        model_file.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    fails_with(
        &output,
        "t10k-images-idx3-ubyte: 100000000 images of 10000 pixels",
    );
}

#[test]
fn item_19_metrics_csv_never_runs_ahead_of_a_failed_checkpoint() {
    // checkpoint.safetensors is a non-empty folder: the checkpoint of epoch 1
    // cannot be renamed into place, and the run must stop before metrics.csv
    // records an epoch the checkpoint does not hold.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    crate::support::write_dataset(&data, 60, 10, |i| (i % 3) as u8, 1);
    let out = tmp.path().join("out");
    std::fs::create_dir_all(out.join("checkpoint.safetensors").join("inside")).unwrap();
    let output = tiny_train(&data, &out, &["--epochs", "2", "--no-figures"]);
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "should fail: {message}");
    assert!(!message.contains("panicked"), "{message}");
    assert!(message.contains("checkpoint.safetensors"), "{message}");
    let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap_or_default();
    assert!(
        metrics.lines().count() <= 1,
        "metrics.csv ran ahead of the checkpoint: {metrics}"
    );
}
