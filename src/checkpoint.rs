//! Saving and loading weights and training state as safetensors.
//!
//! **Model files** (`model.safetensors`) hold the weights only, named like
//! PyTorch's `nn.Sequential` (`encoder.0.weight`, `encoder.0.bias`,
//! `encoder.2.weight`, ..., `decoder.4.bias`). Weights are stored (out, in), as
//! `nn.Linear` stores them: the transpose of our (in, out) `W`, so that
//! `torch.nn.Sequential(...).load_state_dict(safetensors.torch.load_file(path))`
//! works; a convolution's kernel is stored (out, in, kh, kw) (`nn.Conv2d`) or
//! (in, out, kh, kw) (`nn.ConvTranspose2d`), the bytes as they are in memory
//! ([`LayerOp::file_shape`]). The metadata carries the architecture.
//!
//! **Checkpoints** (`checkpoint.safetensors`) add everything needed to continue
//! training exactly: Adam's moments (`adam.m.<name>`, `adam.v.<name>`, weights
//! in this crate's (in, out) layout, written straight from memory) and step
//! count, the progress (epochs done, steps into the next epoch), the history of
//! metrics, the full configuration, and any extra named arrays the caller adds
//! (the figure snapshots taken so far: this module does not know what they
//! are). Nothing random needs saving: every draw is seeded by (seed, epoch,
//! step) (see `train`).
//!
//! Files are written through [`crate::files`] (temporary file, fsync, rename),
//! streamed tensor by tensor. Reading trusts nothing: every size in the
//! metadata is checked against the tensors actually present before anything is
//! allocated from it, and NaN or infinite weights are refused by name.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use ndarray::{Array1, Array2, CowArray, Ix2};
use safetensors::tensor::Dtype;
use safetensors::SafeTensors;

use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::files::write_atomic_with;
use crate::metrics::EpochRecord;
use crate::model::{Architecture, Backbone, Dense, LayerOp, ModelKind, Params};
use crate::nn::Activation;
use crate::optim::Adam;
use crate::train::{Progress, TrainState};

/// Value of the `format` metadata key in model files.
pub const FORMAT: &str = "mnist-autoencoder";
/// Value of the `format` metadata key in checkpoints.
pub const CHECKPOINT_FORMAT: &str = "mnist-autoencoder-checkpoint";

/// Named little-endian f32 tensors waiting to be serialised: borrowed where
/// the memory already has the file's layout, copied where it must be transposed.
#[derive(Default)]
pub(crate) struct Tensors<'a>(Vec<(String, Vec<usize>, Cow<'a, [u8]>)>);

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
    pub(crate) fn push_params(
        &mut self,
        prefix: &str,
        params: &'a Params,
        names: &[String],
        pytorch_layout: bool,
    ) {
        for (layer, name) in params.layers.iter().zip(names) {
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

    /// `values` as tensor `name` of `shape` (row-major, as many values as the shape holds).
    pub(crate) fn push(&mut self, name: String, shape: Vec<usize>, values: &'a [f32]) {
        assert_eq!(
            shape.iter().product::<usize>(),
            values.len(),
            "{name}: shape and values"
        );
        self.0.push((name, shape, le_bytes(values)));
    }

    /// [`Tensors::push`] of values computed for the file (owned by it).
    pub(crate) fn push_owned(&mut self, name: String, shape: Vec<usize>, values: Vec<f32>) {
        assert_eq!(
            shape.iter().product::<usize>(),
            values.len(),
            "{name}: shape and values"
        );
        self.0
            .push((name, shape, Cow::Owned(le_bytes(&values).into_owned())));
    }

    fn push_array(&mut self, name: String, array: &'a CowArray<'_, f32, Ix2>) {
        let bytes = le_bytes(array.as_slice().expect("snapshots are contiguous"));
        self.0.push((name, array.shape().to_vec(), bytes));
    }

    /// Streams the file to `path` through the one atomic writer (see [`Tensors::write_to`]).
    pub(crate) fn write(&self, path: &Path, metadata: HashMap<String, String>) -> Result<()> {
        write_atomic_with(path, |file| {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
            self.write_to(&mut out, metadata).map_err(|e| e.to_string())
        })
    }

    /// The one safetensors writer: the 8-byte header length, the JSON header
    /// (names, shapes, byte offsets, metadata), then each tensor's bytes in
    /// order, without building the file in memory.
    pub(crate) fn write_to(
        &self,
        out: &mut impl std::io::Write,
        metadata: HashMap<String, String>,
    ) -> std::io::Result<()> {
        let mut header = serde_json::Map::new();
        header.insert("__metadata__".into(), serde_json::json!(metadata));
        let mut offset = 0usize;
        for (name, shape, bytes) in &self.0 {
            let entry = serde_json::json!({
                "dtype": "F32", "shape": shape, "data_offsets": [offset, offset + bytes.len()]
            });
            header.insert(name.clone(), entry);
            offset += bytes.len();
        }
        let mut header = serde_json::to_string(&header).expect("header serialises");
        while !header.len().is_multiple_of(8) {
            header.push(' '); // the format pads the header to 8 bytes with spaces
        }
        out.write_all(&(header.len() as u64).to_le_bytes())?;
        out.write_all(header.as_bytes())?;
        for (_, _, bytes) in &self.0 {
            out.write_all(bytes)?;
        }
        out.flush()
    }
}

impl<'a> Tensors<'a> {
    /// Every layer of a model of [`LayerOp`]s, as [`Tensors::push_params`]
    /// writes dense layers, named and described by `layers`; weights as PyTorch stores them if
    /// `pytorch_layout` (a dense layer's (out, in) transposed, a convolution's
    /// 4-D kernel as it is), else as this crate holds them (no copy: used for
    /// Adam's moments in checkpoints).
    fn push_layers(
        &mut self,
        prefix: &str,
        params: &'a Params,
        layers: &[(String, LayerOp)],
        pytorch_layout: bool,
    ) {
        for (layer, (name, op)) in params.layers.iter().zip(layers) {
            let (rows, cols) = layer.w.dim();
            let in_memory = le_bytes(layer.w.as_slice().expect("contiguous"));
            let weight = match (pytorch_layout, op.file_transposed()) {
                (false, _) => (vec![rows, cols], in_memory),
                (true, false) => (op.file_shape(), in_memory),
                (true, true) => {
                    let transposed: Vec<f32> = layer.w.t().iter().copied().collect();
                    let bytes = Cow::Owned(le_bytes(&transposed).into_owned());
                    (op.file_shape(), bytes)
                }
            };
            self.0
                .push((format!("{prefix}{name}.weight"), weight.0, weight.1));
            self.0.push((
                format!("{prefix}{name}.bias"),
                vec![layer.b.len()],
                le_bytes(layer.b.as_slice().expect("contiguous")),
            ));
        }
    }
}

/// Every stored layer of `arch` with its name (`encoder.0`, …, `mu`, `logvar`).
fn named_layers(arch: &Architecture) -> Vec<(String, LayerOp)> {
    let ops = arch.layer_ops().into_iter().enumerate();
    ops.map(|(l, op)| (arch.layer_name(l), op)).collect()
}

/// Dense layers of (in, out) `shapes` with their names.
fn named_dense(layers: &[(String, (usize, usize))]) -> Vec<(String, LayerOp)> {
    let dense = layers.iter().map(|(name, (inputs, outputs))| {
        let (inputs, outputs) = (*inputs, *outputs);
        (name.clone(), LayerOp::Dense { inputs, outputs })
    });
    dense.collect()
}

/// The architecture's metadata fields.
fn architecture_metadata(format: &str, arch: &Architecture) -> HashMap<String, String> {
    let activations: Vec<&str> = (0..arch.layer_count())
        .map(|l| arch.activation(l).name())
        .collect();
    HashMap::from([
        ("format".to_string(), format.to_string()),
        ("architecture".to_string(), arch.describe()),
        ("arch".to_string(), arch.backbone.name().to_string()),
        ("input".to_string(), arch.input.to_string()),
        (
            "hidden".to_string(),
            crate::config::Hidden(arch.hidden.clone()).to_string(),
        ),
        ("latent".to_string(), arch.latent.to_string()),
        ("kind".to_string(), arch.kind.name().to_string()),
        ("activation".to_string(), arch.activation.name().to_string()),
        ("activations".to_string(), activations.join(",")),
    ])
}

/// Serialises `params` of architecture `arch` to safetensors bytes.
pub fn model_to_bytes(params: &Params, arch: &Architecture) -> Vec<u8> {
    let mut tensors = Tensors::default();
    tensors.push_layers("", params, &named_layers(arch), true);
    let mut bytes = Vec::new();
    let written = tensors.write_to(&mut bytes, architecture_metadata(FORMAT, arch));
    written.expect("writing into memory cannot fail");
    bytes
}

/// Writes the model of images `image` = (rows, cols) to `path` (atomically:
/// a temporary file renamed into place).
pub fn save_model(
    path: &Path,
    params: &Params,
    arch: &Architecture,
    image: (usize, usize),
) -> Result<()> {
    let mut metadata = architecture_metadata(FORMAT, arch);
    insert_image_shape(&mut metadata, image);
    let mut tensors = Tensors::default();
    tensors.push_layers("", params, &named_layers(arch), true);
    tensors.write(path, metadata)
}

/// Records the image shape (rows, cols) beside the architecture, which knows
/// only the pixel count: `reconstruct` needs it for non-square images.
fn insert_image_shape(metadata: &mut HashMap<String, String>, (rows, cols): (usize, usize)) {
    metadata.insert("rows".into(), rows.to_string());
    metadata.insert("cols".into(), cols.to_string());
}

/// Writes a chain of dense layers of this crate's [`Params`] (the digit
/// judge) to `path`: layer l as `names[l].weight` (out, in), as PyTorch's
/// `nn.Linear` stores it, and `names[l].bias`, with `metadata`.
pub fn save_params(
    path: &Path,
    params: &Params,
    names: &[String],
    metadata: HashMap<String, String>,
) -> Result<()> {
    assert_eq!(params.layers.len(), names.len(), "one name per layer");
    let mut tensors = Tensors::default();
    tensors.push_params("", params, names, true);
    tensors.write(path, metadata)
}

/// Reads the weights of a model file or a checkpoint; every problem names the
/// file and the tensor or field at fault.
pub fn load_model(path: &Path) -> Result<(Params, Architecture)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    model_from_bytes(&bytes, path)
}

/// Parses the weights of a model file or checkpoint; `path` names the file in errors.
pub fn model_from_bytes(bytes: &[u8], path: &Path) -> Result<(Params, Architecture)> {
    let (params, arch, _) = model_and_shape_from_bytes(bytes, path)?;
    Ok((params, arch))
}

/// [`load_model`], and the image shape (rows, cols) the file records; None
/// for files written before it was recorded.
pub fn load_model_and_shape(path: &Path) -> Result<(Params, Architecture, ImageShape)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    model_and_shape_from_bytes(&bytes, path)
}

/// An image's (rows, cols) as a file records it: None if it does not.
pub type ImageShape = Option<(usize, usize)>;

/// [`model_from_bytes`], and the image shape the file records.
pub fn model_and_shape_from_bytes(
    bytes: &[u8],
    path: &Path,
) -> Result<(Params, Architecture, ImageShape)> {
    let file = Reader::open(bytes, path, &[FORMAT, CHECKPOINT_FORMAT])?;
    let arch = file.architecture()?;
    let image = file.image_shape(arch.input)?;
    let params = file.layer_params(&named_layers(&arch), "", true)?;
    Ok((params, arch, image))
}

/// Parsed safetensors bytes with their metadata, for reading with clear
/// errors (model files, checkpoints, and the digit judge's file).
pub(crate) struct Reader<'a> {
    path: &'a Path,
    metadata: HashMap<String, String>,
    tensors: SafeTensors<'a>,
}

impl<'a> Reader<'a> {
    /// Parses `bytes` and checks that the `format` field is one of `formats`.
    pub(crate) fn open(bytes: &'a [u8], path: &'a Path, formats: &[&str]) -> Result<Reader<'a>> {
        let bad = |message: String| Error::bad_file(path, message);
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| bad(format!("not a readable safetensors file: {e}")))?;
        let metadata = header.metadata().clone().unwrap_or_default();
        let tensors = SafeTensors::deserialize(bytes)
            .map_err(|e| bad(format!("corrupt safetensors data: {e}")))?;
        let reader = Reader {
            path,
            metadata,
            tensors,
        };
        let format = reader.field("format")?;
        if !formats.contains(&format) {
            return Err(bad(format!(
                "metadata 'format' is '{format}', expected {}",
                formats.join(" or ")
            )));
        }
        Ok(reader)
    }

    /// The autoencoder's architecture, from the metadata.
    fn architecture(&self) -> Result<Architecture> {
        let bad = |message: String| Error::bad_file(self.path, message);
        let hidden = crate::config::parse_hidden(self.field("hidden")?)
            .map_err(|e| bad(format!("metadata field 'hidden': {e}")))?
            .0;
        // Files written before the VAE existed have neither field: a plain ReLU model.
        let kind = match self.metadata.get("kind") {
            None => Default::default(),
            Some(name) => ModelKind::from_name(name)
                .map_err(|e| bad(format!("metadata field 'kind': {e}")))?,
        };
        let activation = match self.metadata.get("activation") {
            None => Activation::Relu,
            Some(name) => name
                .parse()
                .map_err(|e| bad(format!("metadata field 'activation': {e}")))?,
        };
        let input = self.number("input")?;
        Ok(Architecture {
            backbone: self.backbone(input)?,
            kind,
            input,
            hidden,
            latent: self.number("latent")?,
            activation,
        })
    }

    /// The image shape (rows, cols) recorded beside `input` pixels; None
    /// when neither field is there (files written before they were).
    fn image_shape(&self, input: usize) -> Result<ImageShape> {
        if !self.metadata.contains_key("rows") && !self.metadata.contains_key("cols") {
            return Ok(None);
        }
        let (rows, cols) = (self.number("rows")?, self.number("cols")?);
        if rows.checked_mul(cols) != Some(input) {
            return Err(Error::bad_file(
                self.path,
                format!("metadata fields 'rows' and 'cols' say {rows}×{cols}, but 'input' is {input} pixels"),
            ));
        }
        Ok(Some((rows, cols)))
    }

    /// The `arch` field (files written before the convolutional model have
    /// none: dense), checked against the image size `input`.
    fn backbone(&self, input: usize) -> Result<Backbone> {
        let bad = |message: String| Error::bad_file(self.path, message);
        let backbone = match self.metadata.get("arch") {
            None => Backbone::Dense,
            Some(name) => {
                Backbone::from_name(name).map_err(|e| bad(format!("metadata field 'arch': {e}")))?
            }
        };
        backbone
            .fits(input)
            .map_err(|e| bad(format!("metadata field 'input': {e}")))?;
        Ok(backbone)
    }

    pub(crate) fn field(&self, key: &str) -> Result<&str> {
        self.metadata.get(key).map(String::as_str).ok_or_else(|| {
            Error::bad_file(
                self.path,
                format!("metadata field '{key}' is missing: not a file written by this tool"),
            )
        })
    }

    pub(crate) fn number(&self, key: &str) -> Result<usize> {
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
    pub(crate) fn values(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
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

    /// Every dense layer `(name, (in, out))` of `layers` as written by
    /// `Tensors::push_params` with `prefix` and layout (see [`Reader::layer_params`]).
    pub(crate) fn params(
        &self,
        layers: &[(String, (usize, usize))],
        prefix: &str,
        pytorch_layout: bool,
    ) -> Result<Params> {
        self.layer_params(&named_dense(layers), prefix, pytorch_layout)
    }

    /// The weight tensor `name` of a layer `op`, in memory's layout (see
    /// `Tensors::push_layers`).
    fn weight(&self, name: &str, op: &LayerOp, pytorch_layout: bool) -> Result<Array2<f32>> {
        let (rows, cols) = op.weight_dim();
        Ok(match (pytorch_layout, op.file_transposed()) {
            (false, _) => self.array(name, (rows, cols))?,
            (true, false) => {
                let values = self.values(name, &op.file_shape())?;
                Array2::from_shape_vec((rows, cols), values).expect("shape checked")
            }
            (true, true) => self
                .array(name, (cols, rows))?
                .reversed_axes()
                .as_standard_layout()
                .into_owned(),
        })
    }

    /// Every layer `(name, operation)` of `layers` as written by
    /// `Tensors::push_layers` with `prefix` and layout. Each tensor's shape is
    /// checked against the file before its memory is allocated, and NaN or
    /// infinite values are refused.
    fn layer_params(
        &self,
        layers: &[(String, LayerOp)],
        prefix: &str,
        pytorch_layout: bool,
    ) -> Result<Params> {
        let mut dense = Vec::new();
        for (name, op) in layers {
            let name = format!("{prefix}{name}");
            let w = self.weight(&format!("{name}.weight"), op, pytorch_layout)?;
            let b = Array1::from(self.values(&format!("{name}.bias"), &[op.bias_len()])?);
            dense.push(Dense { w, b });
        }
        for (layer, (name, _)) in dense.iter().zip(layers) {
            for (suffix, finite) in [
                ("weight", layer.w.iter().all(|v| v.is_finite())),
                ("bias", layer.b.iter().all(|v| v.is_finite())),
            ] {
                if !finite {
                    let name = format!("{prefix}{name}.{suffix}");
                    let message = format!("tensor '{name}' holds NaN or infinite values");
                    return Err(Error::bad_file(self.path, message));
                }
            }
        }
        Ok(Params { layers: dense })
    }
}

/// Named 2-D arrays a checkpoint carries for its caller (the figure snapshots),
/// with a JSON string describing them: borrowed when saving (no copy), owned
/// when loaded.
#[derive(Debug, Clone, Default)]
pub struct Extra<'a> {
    pub info: String,
    pub arrays: Vec<(String, CowArray<'a, f32, Ix2>)>,
}

/// Everything a checkpoint holds.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub state: TrainState,
    pub config: TrainConfig,
    pub extra: Extra<'static>,
}

/// Writes a checkpoint of `state` for images `image` = (rows, cols)
/// (atomically), with `extra` arrays.
pub fn save_checkpoint(
    path: &Path,
    state: &TrainState,
    config: &TrainConfig,
    image: (usize, usize),
    extra: &Extra,
) -> Result<()> {
    let arch = &state.arch;
    let mut tensors = Tensors::default();
    let names = named_layers(arch);
    tensors.push_layers("", &state.params, &names, true);
    tensors.push_layers("adam.m.", &state.adam.m, &names, false);
    tensors.push_layers("adam.v.", &state.adam.v, &names, false);
    for (name, array) in &extra.arrays {
        tensors.push_array(format!("extra.{name}"), array);
    }
    let names: Vec<&str> = extra.arrays.iter().map(|(n, _)| n.as_str()).collect();
    let mut metadata = architecture_metadata(CHECKPOINT_FORMAT, arch);
    insert_image_shape(&mut metadata, image);
    metadata.insert("adam_step".into(), state.adam.step.to_string());
    metadata.insert("lr".into(), to_json(&state.adam.lr));
    metadata.insert("config".into(), to_json(config));
    metadata.insert("progress".into(), to_json(&state.progress));
    metadata.insert("history".into(), to_json(&state.history));
    metadata.insert("data_fingerprint".into(), state.data_fingerprint.clone());
    metadata.insert("extra_info".into(), extra.info.clone());
    metadata.insert("extra_names".into(), to_json(&names));
    tensors.write(path, metadata)
}

/// Reads a checkpoint written by [`save_checkpoint`].
pub fn load_checkpoint(path: &Path) -> Result<Checkpoint> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    checkpoint_from_bytes(&bytes, path)
}

/// Parses checkpoint bytes; `path` names the file in errors.
pub fn checkpoint_from_bytes(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
    let file = Reader::open(bytes, path, &[CHECKPOINT_FORMAT])?;
    let arch = file.architecture()?;
    file.image_shape(arch.input)?;
    let bad = |message: String| Error::bad_file(path, message);
    let adam_step = file
        .field("adam_step")?
        .parse::<u64>()
        .map_err(|_| bad("metadata field 'adam_step' is not an integer".into()))?;
    let config: TrainConfig = file.json("config")?;
    let progress: Progress = file.json("progress")?;
    let history: Vec<EpochRecord> = file.json("history")?;
    if history.len() != progress.epochs_done {
        return Err(bad(format!(
            "metadata says {} epochs are done but holds {} epochs of history",
            progress.epochs_done,
            history.len()
        )));
    }
    let layers = named_layers(&arch);
    let params = file.layer_params(&layers, "", true)?;
    let mut adam = Adam::new(&params, config.lr);
    adam.eps = config.adam_eps;
    adam.m = file.layer_params(&layers, "adam.m.", false)?;
    adam.v = file.layer_params(&layers, "adam.v.", false)?;
    adam.step = adam_step;
    let names: Vec<String> = file.json("extra_names").unwrap_or_default();
    let mut arrays = Vec::with_capacity(names.len());
    for name in names {
        let tensor = format!("extra.{name}");
        let view = file
            .tensors
            .tensor(&tensor)
            .map_err(|_| bad(format!("tensor '{tensor}' is missing")))?;
        let shape = match view.shape() {
            [rows, cols] => (*rows, *cols),
            other => {
                return Err(bad(format!(
                    "tensor '{tensor}' has shape {other:?}, expected 2 dimensions"
                )))
            }
        };
        arrays.push((name, CowArray::from(file.array(&tensor, shape)?)));
    }
    Ok(Checkpoint {
        state: TrainState {
            arch,
            params,
            adam,
            progress,
            history,
            data_fingerprint: file
                .metadata
                .get("data_fingerprint")
                .cloned()
                .unwrap_or_default(),
        },
        config,
        extra: Extra {
            info: file.metadata.get("extra_info").cloned().unwrap_or_default(),
            arrays,
        },
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
        Architecture::plain(12, vec![7, 5], 3)
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

    /// Issue 28 item 17: the image shape is recorded; files without it
    /// (older ones) load with None, and a shape that disagrees is refused.
    #[test]
    fn the_image_shape_is_recorded_and_checked() {
        let arch = arch();
        let params = Params::init(&arch, &mut StdRng::seed_from_u64(0));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        save_model(&path, &params, &arch, (3, 4)).unwrap();
        assert_eq!(load_model_and_shape(&path).unwrap().2, Some((3, 4)));
        let old = model_to_bytes(&params, &arch);
        assert_eq!(model_and_shape_from_bytes(&old, &path).unwrap().2, None);
        save_model(&path, &params, &arch, (2, 5)).unwrap();
        let error = load_model_and_shape(&path).unwrap_err().to_string();
        assert!(error.contains("say 2×5, but 'input' is 12"), "{error}");
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
