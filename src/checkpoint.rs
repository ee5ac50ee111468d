//! Saving and loading weights as safetensors, laid out like PyTorch's.
//!
//! Tensor names follow `nn.Sequential` (`encoder.0.weight`, `encoder.0.bias`,
//! `encoder.2.weight`, ..., `decoder.4.bias`). Weights are stored (out, in), as
//! `nn.Linear` stores them: the transpose of our (in, out) `W`, so that
//! `torch.nn.Sequential(...).load_state_dict(safetensors.torch.load_file(path))`
//! works. The metadata carries the architecture.

use std::collections::HashMap;
use std::path::Path;

use ndarray::{Array1, Array2};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;

use crate::error::{Error, Result};
use crate::model::{Architecture, Params};
use crate::output::write_atomic;

/// Value of the `format` metadata key in files this tool writes.
pub const FORMAT: &str = "mnist-autoencoder";

/// Serialises `params` of architecture `arch` to safetensors bytes.
pub fn model_to_bytes(params: &Params, arch: &Architecture) -> Vec<u8> {
    let mut buffers: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (l, layer) in params.layers.iter().enumerate() {
        let name = arch.layer_name(l);
        let (inputs, outputs) = layer.w.dim();
        let weight: Vec<u8> = layer.w.t().iter().flat_map(|v| v.to_le_bytes()).collect();
        let bias: Vec<u8> = layer.b.iter().flat_map(|v| v.to_le_bytes()).collect();
        buffers.push((format!("{name}.weight"), vec![outputs, inputs], weight));
        buffers.push((format!("{name}.bias"), vec![outputs], bias));
    }
    let views = buffers.iter().map(|(name, shape, bytes)| {
        let view = TensorView::new(Dtype::F32, shape.clone(), bytes).expect("shape matches bytes");
        (name.clone(), view)
    });
    let activations: Vec<&str> = (0..arch.layer_count())
        .map(|l| arch.activation(l).name())
        .collect();
    let metadata = HashMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("architecture".to_string(), arch.describe()),
        ("input".to_string(), arch.input.to_string()),
        ("hidden".to_string(), join(&arch.hidden)),
        ("latent".to_string(), arch.latent.to_string()),
        ("activations".to_string(), activations.join(",")),
    ]);
    safetensors::serialize(views, Some(metadata)).expect("in-memory serialisation cannot fail")
}

/// Writes the model to `path` (atomically: a temporary file renamed into place).
pub fn save_model(path: &Path, params: &Params, arch: &Architecture) -> Result<()> {
    write_atomic(path, &model_to_bytes(params, arch))
}

/// Reads a model written by [`save_model`]; every problem names the file and
/// the tensor or field at fault.
pub fn load_model(path: &Path) -> Result<(Params, Architecture)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    model_from_bytes(&bytes, path)
}

/// Parses safetensors bytes written by [`model_to_bytes`]; `path` names the file in errors.
pub fn model_from_bytes(bytes: &[u8], path: &Path) -> Result<(Params, Architecture)> {
    let bad = |message: String| Error::bad_file(path, message);
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| bad(format!("not a readable safetensors file: {e}")))?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let field = |key: &str| -> Result<&String> {
        metadata.get(key).ok_or_else(|| {
            bad(format!(
                "metadata field '{key}' is missing: not a model written by this tool"
            ))
        })
    };
    if field("format")? != FORMAT {
        return Err(bad(format!("metadata 'format' is not '{FORMAT}'")));
    }
    let number = |key: &str| -> Result<usize> {
        field(key)?
            .parse::<usize>()
            .ok()
            .filter(|&v| v > 0)
            .ok_or_else(|| bad(format!("metadata field '{key}' is not a positive integer")))
    };
    let hidden = crate::config::parse_hidden(field("hidden")?)
        .map_err(|e| bad(format!("metadata field 'hidden': {e}")))?
        .0;
    let arch = Architecture {
        input: number("input")?,
        hidden,
        latent: number("latent")?,
    };
    let tensors = SafeTensors::deserialize(bytes)
        .map_err(|e| bad(format!("corrupt safetensors data: {e}")))?;
    let mut params = Params::zeros(&arch);
    for (l, layer) in params.layers.iter_mut().enumerate() {
        let name = arch.layer_name(l);
        let (inputs, outputs) = layer.w.dim();
        let weight = read_tensor(
            &tensors,
            &format!("{name}.weight"),
            &[outputs, inputs],
            path,
        )?;
        layer.w = Array2::from_shape_vec((outputs, inputs), weight)
            .expect("shape checked")
            .reversed_axes()
            .as_standard_layout()
            .into_owned();
        layer.b = Array1::from(read_tensor(
            &tensors,
            &format!("{name}.bias"),
            &[outputs],
            path,
        )?);
    }
    Ok((params, arch))
}

/// Reads tensor `name`, checking that it exists, is f32 and has `shape`.
fn read_tensor(
    tensors: &SafeTensors,
    name: &str,
    shape: &[usize],
    path: &Path,
) -> Result<Vec<f32>> {
    let view = tensors
        .tensor(name)
        .map_err(|_| Error::bad_file(path, format!("tensor '{name}' is missing")))?;
    if view.dtype() != Dtype::F32 {
        return Err(Error::bad_file(
            path,
            format!("tensor '{name}' is {:?}, expected F32", view.dtype()),
        ));
    }
    if view.shape() != shape {
        return Err(Error::bad_file(
            path,
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

fn join(values: &[usize]) -> String {
    values
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(",")
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
    }
}
