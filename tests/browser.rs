//! The latent explorer of report.html, checked in a real browser: Debian's
//! `chromium`, headless.
//!
//! The driver is Chromium's own `--dump-dom`: the page, opened with `#selftest`
//! at the end of its address, runs its checks itself, as a user would, with
//! dispatched pointer and key events (parity; errors, blocked requests,
//! resources; two decodes under the mouse; the map's extreme points read on the
//! sliders the axis labels name; a touch drag's last decode surviving the lift;
//! an arrow key's step; the map square at 360 px; every image's alt text), and
//! writes one PASS/FAIL line, the list of checks, and the whole report as JSON
//! in `<script type="application/json" id="selftest-json">`; `--dump-dom
//! --virtual-time-budget` prints the DOM once the page's timers have run, and
//! this test reads the JSON out of it. It runs on a small plain autoencoder's
//! report (with a tiny diffusion prior: its "sample (diffusion)" button, and
//! the page's DDIM sampler against Rust's on the same noise), on a 2-d VAE's
//! (whose map is the code itself) and on a conv autoencoder's. The runs skip
//! the digit judge (`--no-judge`): its Fréchet distances took most of each
//! run's time, and the page does not show them. No WebDriver server to start and wait
//! for (chromium-driver), no DevTools-protocol client over a WebSocket, no
//! extra crate: one process, its stdout, and nothing but the `chromium` package.
//!
//! Without a browser the test is skipped with a message, unless
//! `CI_REQUIRE_BROWSER=1` (CI sets it; `.ci/install-chromium` installs one).
//! `CHROMIUM=/path/to/chromium` picks another browser.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ndarray::Array2;
use serde_json::Value;

/// The Rust decoder's output for `codes` (each of length Z), from the model the run saved.
fn rust_decode(model: &Path, codes: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let (params, arch) = mnist_autoencoder::checkpoint::load_model(model).expect("load the model");
    let latent = arch.latent;
    let mut flat = Vec::with_capacity(codes.len() * latent);
    for code in codes {
        assert_eq!(code.len(), latent, "a code of the wrong length");
        flat.extend_from_slice(code);
    }
    let z = Array2::from_shape_vec((codes.len(), latent), flat).unwrap();
    let images = mnist_autoencoder::model::decode(&params, &arch, z.view(), 64);
    images.rows().into_iter().map(|row| row.to_vec()).collect()
}

const NOT_FOUND: &str =
    "chromium not found (install Debian's chromium package, or run .ci/install-chromium)";

/// Longest a browser run may take before it is killed.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

/// `CHROMIUM` if set, else /usr/bin/chromium, else `chromium` on PATH.
fn find_browser() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let debian = Path::new("/usr/bin/chromium");
    if debian.is_file() {
        return Some(debian.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("chromium"))
        .find(|candidate| candidate.is_file())
}

/// Runs headless Chromium on `url` with `--dump-dom` and returns what it printed,
/// killing it after [`BROWSER_TIMEOUT`].
fn dump_dom(browser: &Path, url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--dump-dom", "--virtual-time-budget=10000", url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout can kill its helper processes too.
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()));
    // The DOM is several MB (weights, figures): read both pipes while waiting,
    // or Chromium blocks on a full pipe.
    let stdout = read_in_background(child.stdout.take().unwrap());
    let stderr = read_in_background(child.stderr.take().unwrap());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > BROWSER_TIMEOUT {
            let group = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = child.kill();
            let _ = child.wait();
            let stderr = stderr
                .recv_timeout(Duration::from_secs(5))
                .unwrap_or_default();
            panic!("chromium did not finish in {BROWSER_TIMEOUT:?} and was killed; its stderr:\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = stdout.recv().expect("chromium's stdout was not read");
    let stderr = stderr.recv().unwrap_or_default();
    assert!(
        status.success(),
        "chromium failed ({status}); its stderr:\n{stderr}"
    );
    stdout
}

/// Reads `pipe` to its end on another thread; the text arrives on the channel.
fn read_in_background(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        let _ = sender.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    receiver
}

/// The JSON the page wrote into `<script id="selftest-json">`, out of the dumped DOM.
fn selftest_json(dom: &str) -> Value {
    let open = "<script type=\"application/json\" id=\"selftest-json\">";
    // The first one: the page puts its self-test at the start of <body>.
    let Some(found) = dom.find(open) else {
        let tail: String = dom
            .chars()
            .rev()
            .take(2000)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        panic!("no selftest-json element in the DOM (did the explorer's script run?); the DOM ends with:\n{tail}");
    };
    let start = found + open.len();
    let end = start
        + dom[start..]
            .find("</script>")
            .expect("unterminated selftest-json element");
    // The page escapes `<` as \u003c, so the text is the JSON as written.
    let text = &dom[start..end];
    serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("selftest-json is not JSON ({e}):\n{text}"))
}

/// The text of the page's one PASS/FAIL line.
fn verdict_line(dom: &str) -> String {
    let open = "id=\"selftest-verdict\"";
    let start = dom.find(open).expect("no selftest-verdict line");
    let start = start + dom[start..].find('>').expect("an element") + 1;
    let end = start
        + dom[start..]
            .find("</p>")
            .expect("unterminated verdict line");
    dom[start..end].to_string()
}

fn floats(value: &Value, what: &str) -> Vec<f32> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("{what} is not an array: {value}"))
        .iter()
        .map(|x| x.as_f64().unwrap_or_else(|| panic!("{what} holds {x}")) as f32)
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "images of different sizes");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Trains a small model with `args` (few images, one epoch) into a temporary
/// folder, opens its report.html in Chromium with `#selftest`, and checks what
/// the page reports. `diffusion`: the run fits a diffusion prior, whose page
/// sampler must match Rust's.
fn check_report_in_browser(args: &[&str], diffusion: bool) {
    let Some(browser) = find_browser() else {
        if std::env::var("CI_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!("CI_REQUIRE_BROWSER=1, but {NOT_FOUND}");
        }
        eprintln!("browser test skipped: {NOT_FOUND}");
        return;
    };

    // A small real run writes report.html and model.safetensors.
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_mnist-autoencoder"))
        .arg("train")
        // MNIST's first 600 training digits (as --limit 600) and 2,000 test digits.
        .arg("--data-dir")
        .arg(crate::support::mnist_subset(600, 2000))
        .args([
            "--val-size",
            "100",
            "--epochs",
            "1",
            "--tsne-points",
            "50",
            "--threads",
            "2",
            "--no-judge",
        ])
        // --hidden does not apply to --arch conv.
        .args(match args.contains(&"conv") {
            true => &[][..],
            false => &["--hidden", "32"][..],
        })
        .args(args)
        .arg("--out-dir")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "training failed:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report = out.path().join("report.html");
    let size = std::fs::metadata(&report)
        .expect("the run wrote no report.html")
        .len();
    assert!(
        size <= mnist_autoencoder::viz::report::MAX_REPORT_BYTES as u64,
        "report.html is {size} bytes"
    );

    let url = format!("file://{}#selftest", report.display());
    let dom = dump_dom(&browser, &url);
    let result = selftest_json(&dom);
    let verdict = verdict_line(&dom);
    eprintln!("browser self-test ({args:?}): {verdict}");
    let checks = result["checks"].as_array().expect("checks is not an array");
    for check in checks {
        eprintln!(
            "  {} {}: {}",
            if check["ok"] == Value::Bool(true) {
                "ok  "
            } else {
                "FAIL"
            },
            check["name"].as_str().unwrap_or("?"),
            check["detail"].as_str().unwrap_or("?")
        );
    }

    // The checks a user would make are all there, and passed.
    for wanted in [
        "parity",
        "no error",
        "axes are the sliders",
        "touch drag",
        "arrow keys",
        "square in a 360 px",
        "alt text",
    ] {
        assert!(
            checks
                .iter()
                .any(|c| c["name"].as_str().unwrap_or("").contains(wanted)),
            "no self-test check named like {wanted:?}"
        );
    }
    let failed: Vec<&Value> = checks
        .iter()
        .filter(|c| c["ok"] != Value::Bool(true))
        .collect();
    assert!(failed.is_empty(), "self-test checks failed: {failed:#?}");
    assert_eq!(result["verdict"], "PASS");
    assert!(
        verdict.starts_with("SELF-TEST PASS · parity "),
        "the page's verdict line reads {verdict:?}"
    );

    // The page's decoder agrees with Rust's on the five reference codes.
    let parity = result["parity"]
        .as_f64()
        .unwrap_or_else(|| panic!("parity is not a number: {}", result["parity"]));
    assert!(parity <= 1e-4, "parity {parity} > 1e-4");
    // Nothing went wrong, nothing was blocked, nothing was fetched.
    assert_eq!(result["errors"], Value::Array(vec![]), "errors in the page");
    assert_eq!(
        result["violations"],
        Value::Array(vec![]),
        "requests blocked by the page's Content-Security-Policy"
    );
    assert_eq!(result["resources"], 0, "the page fetched resources");

    // Two map points under the mouse decode to two different digits, each
    // equal to Rust's decode of the same code.
    let probes = result["probes"].as_array().expect("probes is not an array");
    assert_eq!(probes.len(), 2, "expected two probes: {probes:?}");
    let codes: Vec<Vec<f32>> = probes.iter().map(|p| floats(&p["code"], "code")).collect();
    let digits: Vec<Vec<f32>> = probes
        .iter()
        .map(|p| floats(&p["digit"], "digit"))
        .collect();
    let expected = rust_decode(&out.path().join("model.safetensors"), &codes);
    for (k, (digit, rust)) in digits.iter().zip(&expected).enumerate() {
        let diff = max_abs_diff(digit, rust);
        assert!(
            diff <= 1e-4,
            "probe {k} at {}: the page's digit differs from Rust's by {diff}",
            probes[k]["point"]
        );
    }
    let apart = max_abs_diff(&digits[0], &digits[1]);
    assert!(
        apart > 1e-3,
        "the two probes decode to the same digit (max difference {apart})"
    );

    if diffusion {
        check_diffusion_sampler(&result, checks, &out.path().join("model.safetensors"));
    } else {
        assert_eq!(
            result["diffusionParity"],
            Value::Null,
            "a page without a diffusion prior checked one"
        );
    }
}

/// The page's DDIM sampler matched Rust's on the report's fixed noise (≤ 1e-4
/// per pixel), and the "sample (diffusion)" button's digit is Rust's decode of
/// the code it sampled.
fn check_diffusion_sampler(result: &Value, checks: &[Value], model: &Path) {
    for wanted in ["diffusion sampler parity", "sample (diffusion) button"] {
        assert!(
            checks
                .iter()
                .any(|c| c["name"].as_str().unwrap_or("").contains(wanted)),
            "no self-test check named like {wanted:?}"
        );
    }
    let parity = result["diffusionParity"].as_f64().unwrap_or_else(|| {
        panic!(
            "diffusionParity is not a number: {}",
            result["diffusionParity"]
        )
    });
    eprintln!("  diffusion sampler: largest pixel difference page vs Rust {parity:.2e}");
    assert!(parity <= 1e-4, "diffusion sampler parity {parity} > 1e-4");
    let sample = &result["diffusionSample"];
    let code = floats(&sample["code"], "diffusion code");
    let digit = floats(&sample["digit"], "diffusion digit");
    let rust = rust_decode(model, &[code]);
    let diff = max_abs_diff(&digit, &rust[0]);
    assert!(
        diff <= 1e-4,
        "the diffusion button's digit differs from Rust's decode of its code by {diff}"
    );
}

#[test]
fn latent_explorer_of_an_autoencoder_works_in_headless_chromium() {
    // A tiny diffusion prior: its cost is a few hundredths of a second.
    check_report_in_browser(
        &[
            "--latent",
            "8",
            "--prior",
            "diffusion",
            "--prior-epochs",
            "2",
            "--prior-hidden",
            "32",
        ],
        true,
    );
}

#[test]
fn latent_explorer_of_a_2d_vae_works_in_headless_chromium() {
    check_report_in_browser(&["--model", "vae", "--latent", "2"], false);
}

#[test]
fn latent_explorer_of_a_conv_autoencoder_runs_transposed_convolutions_in_headless_chromium() {
    check_report_in_browser(&["--arch", "conv", "--latent", "8"], false);
}
