//! The judge's file: safetensors in PyTorch's layout (`judge.0.weight` (H, D),
//! `judge.2.weight` (C, H)), with the architecture and how it was made in the
//! metadata; the committed judge is built into the program.

use std::collections::HashMap;
use std::path::Path;

use super::{Judge, CLASSES, JUDGE_FORMAT, JUDGE_PATH};
use crate::checkpoint::{save_params, Reader};
use crate::error::{Error, Result};

/// How a judge file was made, written into its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Provenance {
    /// Accuracy on the 10,000 test images.
    pub test_accuracy: f64,
    /// The command that made the file.
    pub command: String,
}

/// The name of layer `l` in a judge file (`judge.0`, `judge.2`: indices of
/// `nn.Sequential(Linear, ReLU, Linear)`).
pub(super) fn layer_name(l: usize) -> String {
    format!("judge.{}", 2 * l)
}

/// Writes `judge` to `path` (atomically) with the format and architecture in
/// its metadata.
pub fn save_judge(path: &Path, judge: &Judge) -> Result<()> {
    write_judge(path, judge, HashMap::new())
}

/// [`save_judge`], adding how the file was made (test accuracy, command) to its metadata.
pub fn save_judge_with_provenance(
    path: &Path,
    judge: &Judge,
    provenance: &Provenance,
) -> Result<()> {
    let metadata = HashMap::from([
        (
            "test_accuracy".to_string(),
            provenance.test_accuracy.to_string(),
        ),
        ("command".to_string(), provenance.command.clone()),
    ]);
    write_judge(path, judge, metadata)
}

fn write_judge(path: &Path, judge: &Judge, mut metadata: HashMap<String, String>) -> Result<()> {
    let (pixels, hidden) = (judge.pixels(), judge.hidden());
    metadata.insert("format".into(), JUDGE_FORMAT.into());
    metadata.insert("input".into(), pixels.to_string());
    metadata.insert("hidden".into(), hidden.to_string());
    metadata.insert("classes".into(), CLASSES.to_string());
    metadata.insert(
        "architecture".into(),
        format!("{pixels}-{hidden}-{CLASSES}, ReLU hidden layer, softmax output"),
    );
    let names: Vec<String> = (0..2).map(layer_name).collect();
    save_params(path, &judge.params, &names, metadata)
}

/// Reads a judge written by [`save_judge`]; every problem names the file and
/// the field or tensor at fault. Shapes are checked before anything is copied,
/// and NaN or infinite weights are refused.
pub fn load_judge(path: &Path) -> Result<Judge> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    judge_from_bytes(&bytes, path)
}

/// The committed judge, built into the program so a run finds it from any folder.
pub fn bundled_judge() -> Result<Judge> {
    judge_from_bytes(
        include_bytes!("../../assets/judge.safetensors"),
        Path::new(JUDGE_PATH),
    )
}

/// Parses judge bytes; `path` names the file in errors.
pub fn judge_from_bytes(bytes: &[u8], path: &Path) -> Result<Judge> {
    let file = Reader::open(bytes, path, &[JUDGE_FORMAT])?;
    let (pixels, hidden) = (file.number("input")?, file.number("hidden")?);
    let params = file.params(&Judge::named_shapes(pixels, hidden), "", true)?;
    Ok(Judge { params })
}
