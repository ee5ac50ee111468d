//! Saving and loading weights and training state as safetensors.
//!
//! **Model files** (`model.safetensors`) hold the weights only, named like
//! PyTorch's `nn.Sequential` (`encoder.0.weight`, `encoder.0.bias`,
//! `encoder.2.weight`, ..., `decoder.4.bias`). Weights are stored (out, in), as
//! `nn.Linear` stores them: the transpose of our (in, out) `W`, so that
//! `torch.nn.Sequential(...).load_state_dict(safetensors.torch.load_file(path))`
//! works. The metadata carries the architecture.
//!
//! **Checkpoints** (`checkpoint.safetensors`) add everything needed to continue
//! training exactly: Adam's moments (`adam.m.<name>`, `adam.v.<name>`, weights
//! in this crate's (in, out) layout, written straight from memory) and step
//! count, the progress (epochs done, steps into the next epoch), the history of
//! metrics, the full configuration, and the figure snapshots taken so far. The
//! shuffling needs no saved RNG: epoch e's order is drawn from a generator seeded
//! by (seed, e) alone (see `data::mnist::epoch_order`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use ndarray::{Array1, Array2};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;

use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::figures::Snapshot;
use crate::model::{Architecture, Params};
use crate::train::{EpochRecord, Progress, Trainer};

/// Value of the `format` metadata key in model files.
pub const FORMAT: &str = "mnist-autoencoder";
/// Value of the `format` metadata key in checkpoints.
pub const CHECKPOINT_FORMAT: &str = "mnist-autoencoder-checkpoint";

/// Named little-endian f32 tensors waiting to be serialised: borrowed where
/// the memory already has the file's layout, copied where it must be transposed.
#[derive(Default)]
struct Tensors<'a>(Vec<(String, Vec<usize>, Cow<'a, [u8]>)>);

/// The bytes of f32 values as stored in safetensors (little-endian), without a
/// copy on little-endian machines.
fn le_bytes(values: &[f32]) -> Cow<'_, [u8]> {
    if cfg!(target_endian = "little") {
        Cow::Borrowed(bytemuck::cast_slice(values))
    } else {
        Cow::Owned(values.iter().flat_map(|v| v.to_le_bytes()).collect())
    }
}

impl<'a> Tensors<'a> {
    /// Every layer of `params` as `{prefix}{layer}.weight` and `.bias`; weights
    /// (out, in) as PyTorch stores them if `pytorch_layout`, else (in, out) as
    /// this crate does (no copy: used for Adam's moments in checkpoints).
    fn push_params(
        &mut self,
        prefix: &str,
        params: &'a Params,
        arch: &Architecture,
        pytorch_layout: bool,
    ) {
        for (l, layer) in params.layers.iter().enumerate() {
            let name = arch.layer_name(l);
            let (inputs, outputs) = layer.w.dim();
            let weight = if pytorch_layout {
                let transposed: Vec<f32> = layer.w.t().iter().copied().collect();
                (
                    vec![outputs, inputs],
                    Cow::Owned(le_bytes(&transposed).into_owned()),
                )
            } else {
                (
                    vec![inputs, outputs],
                    le_bytes(layer.w.as_slice().expect("contiguous")),
                )
            };
            self.0
                .push((format!("{prefix}{name}.weight"), weight.0, weight.1));
            self.0.push((
                format!("{prefix}{name}.bias"),
                vec![outputs],
                le_bytes(layer.b.as_slice().expect("contiguous")),
            ));
        }
    }

    fn push_array(&mut self, name: String, array: &'a Array2<f32>) {
        let bytes = le_bytes(array.as_slice().expect("snapshots are contiguous"));
        self.0.push((name, array.shape().to_vec(), bytes));
    }

    fn views(&self) -> impl Iterator<Item = (String, TensorView<'_>)> {
        self.0.iter().map(|(name, shape, bytes)| {
            let view =
                TensorView::new(Dtype::F32, shape.clone(), bytes).expect("shape matches bytes");
            (name.clone(), view)
        })
    }

    fn serialize(&self, metadata: HashMap<String, String>) -> Vec<u8> {
        safetensors::serialize(self.views(), Some(metadata))
            .expect("in-memory serialisation cannot fail")
    }

    /// Streams the file to `path` (through a temporary file renamed into place),
    /// without building it in memory first.
    fn write(&self, path: &Path, metadata: HashMap<String, String>) -> Result<()> {
        let tmp = crate::output::temp_sibling(path);
        if let Err(e) = safetensors::serialize_to_file(self.views(), Some(metadata), &tmp) {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::bad_file(path, format!("cannot write: {e}")));
        }
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    }
}

/// The architecture's metadata fields.
fn architecture_metadata(format: &str, arch: &Architecture) -> HashMap<String, String> {
    let activations: Vec<&str> = (0..arch.layer_count())
        .map(|l| arch.activation(l).name())
        .collect();
    HashMap::from([
        ("format".to_string(), format.to_string()),
        ("architecture".to_string(), arch.describe()),
        ("input".to_string(), arch.input.to_string()),
        (
            "hidden".to_string(),
            crate::config::Hidden(arch.hidden.clone()).to_string(),
        ),
        ("latent".to_string(), arch.latent.to_string()),
        ("activations".to_string(), activations.join(",")),
    ])
}

/// Serialises `params` of architecture `arch` to safetensors bytes.
pub fn model_to_bytes(params: &Params, arch: &Architecture) -> Vec<u8> {
    let mut tensors = Tensors::default();
    tensors.push_params("", params, arch, true);
    tensors.serialize(architecture_metadata(FORMAT, arch))
}

/// Writes the model to `path` (atomically: a temporary file renamed into place).
pub fn save_model(path: &Path, params: &Params, arch: &Architecture) -> Result<()> {
    let mut tensors = Tensors::default();
    tensors.push_params("", params, arch, true);
    tensors.write(path, architecture_metadata(FORMAT, arch))
}

/// Reads the weights of a model file or a checkpoint; every problem names the
/// file and the tensor or field at fault.
pub fn load_model(path: &Path) -> Result<(Params, Architecture)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    model_from_bytes(&bytes, path)
}

/// Parses the weights of a model file or checkpoint; `path` names the file in errors.
pub fn model_from_bytes(bytes: &[u8], path: &Path) -> Result<(Params, Architecture)> {
    let file = Reader::new(bytes, path, &[FORMAT, CHECKPOINT_FORMAT])?;
    let params = file.params("", true)?;
    Ok((params, file.arch))
}

/// Parsed safetensors bytes with their metadata, for reading with clear errors.
struct Reader<'a> {
    path: &'a Path,
    metadata: HashMap<String, String>,
    tensors: SafeTensors<'a>,
    arch: Architecture,
}

impl<'a> Reader<'a> {
    /// Parses `bytes`, checks that the `format` field is one of `formats`, and
    /// reads the architecture.
    fn new(bytes: &'a [u8], path: &'a Path, formats: &[&str]) -> Result<Reader<'a>> {
        let bad = |message: String| Error::bad_file(path, message);
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| bad(format!("not a readable safetensors file: {e}")))?;
        let metadata = header.metadata().clone().unwrap_or_default();
        let tensors = SafeTensors::deserialize(bytes)
            .map_err(|e| bad(format!("corrupt safetensors data: {e}")))?;
        let mut reader = Reader {
            path,
            metadata,
            tensors,
            arch: Architecture {
                input: 0,
                hidden: Vec::new(),
                latent: 0,
            },
        };
        let format = reader.field("format")?;
        if !formats.contains(&format) {
            return Err(bad(format!(
                "metadata 'format' is '{format}', expected {}",
                formats.join(" or ")
            )));
        }
        let hidden = crate::config::parse_hidden(reader.field("hidden")?)
            .map_err(|e| bad(format!("metadata field 'hidden': {e}")))?
            .0;
        reader.arch = Architecture {
            input: reader.number("input")?,
            hidden,
            latent: reader.number("latent")?,
        };
        Ok(reader)
    }

    fn field(&self, key: &str) -> Result<&str> {
        self.metadata.get(key).map(String::as_str).ok_or_else(|| {
            Error::bad_file(
                self.path,
                format!("metadata field '{key}' is missing: not a file written by this tool"),
            )
        })
    }

    fn number(&self, key: &str) -> Result<usize> {
        self.field(key)?
            .parse::<usize>()
            .ok()
            .filter(|&v| v > 0)
            .ok_or_else(|| {
                Error::bad_file(
                    self.path,
                    format!("metadata field '{key}' is not a positive integer"),
                )
            })
    }

    /// A JSON metadata field.
    fn json<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<T> {
        serde_json::from_str(self.field(key)?).map_err(|e| {
            Error::bad_file(
                self.path,
                format!("metadata field '{key}' is malformed: {e}"),
            )
        })
    }

    /// Tensor `name`, checking that it exists, is f32 and has `shape`.
    fn values(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let view = self
            .tensors
            .tensor(name)
            .map_err(|_| Error::bad_file(self.path, format!("tensor '{name}' is missing")))?;
        if view.dtype() != Dtype::F32 {
            return Err(Error::bad_file(
                self.path,
                format!("tensor '{name}' is {:?}, expected F32", view.dtype()),
            ));
        }
        if view.shape() != shape {
            return Err(Error::bad_file(
                self.path,
                format!(
                    "tensor '{name}' has shape {:?}, expected {shape:?}",
                    view.shape()
                ),
            ));
        }
        Ok(view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    fn array(&self, name: &str, shape: (usize, usize)) -> Result<Array2<f32>> {
        Ok(
            Array2::from_shape_vec(shape, self.values(name, &[shape.0, shape.1])?)
                .expect("shape checked"),
        )
    }

    /// Every layer as written by `Tensors::push_params` with `prefix` and layout.
    fn params(&self, prefix: &str, pytorch_layout: bool) -> Result<Params> {
        let mut params = Params::zeros(&self.arch);
        for (l, layer) in params.layers.iter_mut().enumerate() {
            let name = format!("{prefix}{}", self.arch.layer_name(l));
            let (inputs, outputs) = layer.w.dim();
            layer.w = if pytorch_layout {
                self.array(&format!("{name}.weight"), (outputs, inputs))?
                    .reversed_axes()
                    .as_standard_layout()
                    .into_owned()
            } else {
                self.array(&format!("{name}.weight"), (inputs, outputs))?
            };
            layer.b = Array1::from(self.values(&format!("{name}.bias"), &[outputs])?);
        }
        Ok(params)
    }
}

/// Everything a checkpoint holds.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub arch: Architecture,
    pub params: Params,
    pub adam_m: Params,
    pub adam_v: Params,
    pub adam_step: u64,
    pub config: TrainConfig,
    pub progress: Progress,
    pub history: Vec<EpochRecord>,
    pub snapshots: Vec<Snapshot>,
}

/// The epoch and validation loss of a snapshot, stored as JSON metadata.
#[derive(serde::Serialize, serde::Deserialize)]
struct SnapshotInfo {
    epoch: usize,
    val_loss: f64,
}

/// Writes a checkpoint of `trainer` (atomically).
pub fn save_checkpoint(
    path: &Path,
    trainer: &Trainer,
    config: &TrainConfig,
    progress: &Progress,
    history: &[EpochRecord],
    snapshots: &[Snapshot],
) -> Result<()> {
    let arch = &trainer.arch;
    let mut tensors = Tensors::default();
    tensors.push_params("", &trainer.params, arch, true);
    tensors.push_params("adam.m.", &trainer.adam.m, arch, false);
    tensors.push_params("adam.v.", &trainer.adam.v, arch, false);
    for (k, snap) in snapshots.iter().enumerate() {
        tensors.push_array(
            format!("snapshot.{k}.reconstructions"),
            &snap.reconstructions,
        );
        tensors.push_array(format!("snapshot.{k}.codes"), &snap.codes);
        tensors.push_array(format!("snapshot.{k}.generated"), &snap.generated);
    }
    let infos: Vec<SnapshotInfo> = snapshots
        .iter()
        .map(|s| SnapshotInfo {
            epoch: s.epoch,
            val_loss: s.val_loss,
        })
        .collect();
    let mut metadata = architecture_metadata(CHECKPOINT_FORMAT, arch);
    metadata.insert("adam_step".into(), trainer.adam.step.to_string());
    metadata.insert("config".into(), to_json(config));
    metadata.insert("progress".into(), to_json(progress));
    metadata.insert("history".into(), to_json(&history));
    metadata.insert("snapshots".into(), to_json(&infos));
    tensors.write(path, metadata)
}

/// Reads a checkpoint written by [`save_checkpoint`].
pub fn load_checkpoint(path: &Path) -> Result<Checkpoint> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    checkpoint_from_bytes(&bytes, path)
}

/// Parses checkpoint bytes; `path` names the file in errors.
pub fn checkpoint_from_bytes(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
    let file = Reader::new(bytes, path, &[CHECKPOINT_FORMAT])?;
    let infos: Vec<SnapshotInfo> = file.json("snapshots")?;
    let mut snapshots = Vec::with_capacity(infos.len());
    for (k, info) in infos.iter().enumerate() {
        let shape = |name: &str| -> Result<(usize, usize)> {
            let name = format!("snapshot.{k}.{name}");
            let view = file
                .tensors
                .tensor(&name)
                .map_err(|_| Error::bad_file(path, format!("tensor '{name}' is missing")))?;
            match view.shape() {
                [rows, cols] => Ok((*rows, *cols)),
                other => Err(Error::bad_file(
                    path,
                    format!("tensor '{name}' has shape {other:?}, expected 2 dimensions"),
                )),
            }
        };
        snapshots.push(Snapshot {
            epoch: info.epoch,
            val_loss: info.val_loss,
            reconstructions: file.array(
                &format!("snapshot.{k}.reconstructions"),
                shape("reconstructions")?,
            )?,
            codes: file.array(&format!("snapshot.{k}.codes"), shape("codes")?)?,
            generated: file.array(&format!("snapshot.{k}.generated"), shape("generated")?)?,
        });
    }
    let adam_step = file
        .field("adam_step")?
        .parse::<u64>()
        .map_err(|_| Error::bad_file(path, "metadata field 'adam_step' is not an integer"))?;
    Ok(Checkpoint {
        params: file.params("", true)?,
        adam_m: file.params("adam.m.", false)?,
        adam_v: file.params("adam.v.", false)?,
        adam_step,
        config: file.json("config")?,
        progress: file.json("progress")?,
        history: file.json("history")?,
        snapshots,
        arch: file.arch.clone(),
    })
}

/// A metadata value as JSON.
fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("metadata serialises")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray_rand::rand::rngs::StdRng;
    use ndarray_rand::rand::SeedableRng;

    fn arch() -> Architecture {
        Architecture {
            input: 12,
            hidden: vec![7, 5],
            latent: 3,
        }
    }

    #[test]
    fn model_round_trips_and_weights_are_stored_out_by_in() {
        let params = Params::init(&arch(), &mut StdRng::seed_from_u64(1));
        let bytes = model_to_bytes(&params, &arch());
        let tensors = SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(
            tensors.tensor("encoder.0.weight").unwrap().shape(),
            &[7, 12]
        );
        assert_eq!(tensors.tensor("decoder.4.bias").unwrap().shape(), &[12]);
        let (loaded, loaded_arch) = model_from_bytes(&bytes, Path::new("m")).unwrap();
        assert_eq!(loaded_arch, arch());
        assert_eq!(loaded, params);
    }

    #[test]
    fn damaged_files_are_refused_with_the_field_named() {
        let params = Params::init(&arch(), &mut StdRng::seed_from_u64(1));
        let bytes = model_to_bytes(&params, &arch());
        let err =
            model_from_bytes(&bytes[..bytes.len() - 10], Path::new("m.safetensors")).unwrap_err();
        assert!(err.to_string().starts_with("m.safetensors: "), "{err}");
        let err = model_from_bytes(b"hello", Path::new("m")).unwrap_err();
        assert!(
            err.to_string().contains("not a readable safetensors file"),
            "{err}"
        );
        let err = checkpoint_from_bytes(&bytes, Path::new("m")).unwrap_err();
        assert!(
            err.to_string()
                .contains("expected mnist-autoencoder-checkpoint"),
            "{err}"
        );
    }
}
