//! The weights in SafeTensors, a format other tools read (PyTorch, NumPy,
//! JAX...), written through Burn's `SafetensorsStore`.
//!
//! Tensors (f32, little-endian), in PyTorch's `nn.Linear` layout:
//!
//! ```text
//! layers.0.weight [hidden[0], inputs]     layers.0.bias [hidden[0]]
//! layers.1.weight [hidden[1], hidden[0]]  layers.1.bias [hidden[1]]
//! ...
//! layers.N.weight [classes, hidden[N-1]]  layers.N.bias [classes]
//! ```
//!
//! (the tutorial's network has `layers.0` to `layers.2`), so that
//! `logits = x @ W.T + b` layer by layer, with the activation after every layer
//! but the last, softmax after the last, and `x = pixel / 255 - 0.5` (the 784
//! pixels row-major). Dropout is a training device only and is not in the file. The file's metadata says the same in
//! [`METADATA_KEYS`], plus the architecture as `model.json` writes it.

use std::path::Path;

use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, SafetensorsStore};

use crate::committee::{Combine, Committee};
use crate::{Mlp, MlpConfig};

/// Metadata keys written besides Burn's own (`format`, `producer`, `version`).
pub const METADATA_KEYS: [&str; 5] = ["architecture", "layers", "layout", "input", "output"];

/// Why the export failed; names the file.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {reason}")]
pub struct ExportError {
    pub path: std::path::PathBuf,
    pub reason: String,
}

/// Writes `model`'s weights and `config` to `path` as SafeTensors. The file
/// appears whole or not at all: Burn writes it beside `path` and renames it.
pub fn export_safetensors(model: &Mlp, config: &MlpConfig, path: &Path) -> Result<(), ExportError> {
    let architecture =
        serde_json::to_string(config).expect("a config of numbers and names serialises");
    let layers = layer_chain("", config.hidden.len() + 1);
    save(model, architecture, layers, config, path)
}

/// Writes a committee's weights to `path` as SafeTensors, each member's
/// under `members.<i>.` (`members.0.layers.0.weight`, ...), with
/// [`Committee::architecture`] (the members' configs `configs`, in order,
/// and the combination) as `architecture`.
pub fn export_committee_safetensors(
    committee: &Committee,
    configs: &[MlpConfig],
    path: &Path,
) -> Result<(), ExportError> {
    let chains: Vec<String> = configs
        .iter()
        .enumerate()
        .map(|(index, config)| layer_chain(&format!("members.{index}."), config.hidden.len() + 1))
        .collect();
    let layers = match committee.combine {
        Combine::Mean => format!("mean of ({})", chains.join("; ")),
        Combine::Geometric => format!(
            "softmax of the mean logits of ({})",
            chains.join("; ").replace(" -> softmax", "")
        ),
    };
    let first = configs.first().ok_or_else(|| ExportError {
        path: path.to_path_buf(),
        reason: "a committee has no members".into(),
    })?;
    save(
        committee,
        committee.architecture(configs),
        layers,
        first,
        path,
    )
}

/// Writes `module`'s parameters to `path` in PyTorch's layout with the
/// [`METADATA_KEYS`]; `config` gives the input and output sizes.
fn save<M: ModuleSnapshot>(
    module: &M,
    architecture: String,
    layers: String,
    config: &MlpConfig,
    path: &Path,
) -> Result<(), ExportError> {
    let values = [
        architecture,
        layers,
        "torch.nn.Linear: weight [out, in], bias [out], y = x @ weight.T + bias; float32"
            .to_string(),
        format!(
            "[batch, {}] float32, x = pixel / 255 - 0.5, pixels row-major",
            config.inputs
        ),
        format!(
            "[batch, {}] logits; softmax gives the class probabilities",
            config.classes
        ),
    ];
    let mut store = SafetensorsStore::from_file(path)
        .overwrite(true)
        .with_to_adapter(BurnToPyTorchAdapter);
    for (key, value) in METADATA_KEYS.into_iter().zip(values) {
        store = store.metadata(key, value);
    }
    module.save_into(&mut store).map_err(|error| ExportError {
        path: path.to_path_buf(),
        reason: error.to_string(),
    })
}

/// `<prefix>layers.0 -> activation -> ... -> <prefix>layers.N -> softmax`
/// for `count` layers.
fn layer_chain(prefix: &str, count: usize) -> String {
    let names: Vec<String> = (0..count).map(|i| format!("{prefix}layers.{i}")).collect();
    format!("{} -> softmax", names.join(" -> activation -> "))
}
#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn the_file_holds_pytorch_layout_weights_and_the_architecture() {
        let device = Device::flex();
        let config = MlpConfig::new().with_hidden(vec![5, 4]);
        let model = config.init(&device);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        export_safetensors(&model, &config, &path).unwrap();

        let bytes = std::fs::read(&path).unwrap();
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let metadata = header.metadata().as_ref().unwrap();
        let stored: MlpConfig = serde_json::from_str(&metadata["architecture"]).unwrap();
        assert_eq!(stored, config);
        assert!(METADATA_KEYS.iter().all(|key| metadata.contains_key(*key)));
        assert_eq!(
            metadata["layers"],
            "layers.0 -> activation -> layers.1 -> activation -> layers.2 -> softmax"
        );

        let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut names = file.names();
        names.sort();
        assert_eq!(
            names,
            [
                "layers.0.bias",
                "layers.0.weight",
                "layers.1.bias",
                "layers.1.weight",
                "layers.2.bias",
                "layers.2.weight"
            ]
        );
        let weight = file.tensor("layers.0.weight").unwrap();
        assert_eq!(weight.shape(), [5, 784]);
        assert_eq!(weight.dtype(), safetensors::Dtype::F32);
        // Row o of the file is column o of Burn's [in, out] weight.
        let values: Vec<f32> = weight
            .data()
            .chunks(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let burn_weight: Vec<f32> = model.layers[0]
            .weight
            .val()
            .into_data()
            .try_to_vec()
            .unwrap();
        for out in 0..5 {
            for input in [0, 1, 400, 783] {
                assert_eq!(values[out * 784 + input], burn_weight[input * 5 + out]);
            }
        }
        assert_eq!(file.tensor("layers.2.bias").unwrap().shape(), [10]);
    }

    #[test]
    fn a_committee_holds_each_member_under_its_index() {
        let device = Device::flex();
        let configs = [
            MlpConfig::new().with_hidden(vec![5]),
            MlpConfig::new().with_hidden(vec![]),
        ];
        let committee = Committee {
            members: configs.iter().map(|config| config.init(&device)).collect(),
            combine: Combine::Geometric,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("committee.safetensors");
        export_committee_safetensors(&committee, &configs, &path).unwrap();

        let bytes = std::fs::read(&path).unwrap();
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let metadata = header.metadata().as_ref().unwrap();
        let architecture: serde_json::Value =
            serde_json::from_str(&metadata["architecture"]).unwrap();
        assert_eq!(architecture["combine"], "geometric");
        let stored: Vec<MlpConfig> =
            serde_json::from_value(architecture["members"].clone()).unwrap();
        assert_eq!(stored, configs);
        assert_eq!(
            metadata["layers"],
            "softmax of the mean logits of (members.0.layers.0 -> activation -> \
             members.0.layers.1; members.1.layers.0)"
        );
        let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut names = file.names();
        names.sort();
        assert_eq!(
            names,
            [
                "members.0.layers.0.bias",
                "members.0.layers.0.weight",
                "members.0.layers.1.bias",
                "members.0.layers.1.weight",
                "members.1.layers.0.bias",
                "members.1.layers.0.weight"
            ]
        );
        // PyTorch's [out, in], as for a single network.
        assert_eq!(
            file.tensor("members.0.layers.0.weight").unwrap().shape(),
            [5, 784]
        );
        assert_eq!(
            file.tensor("members.1.layers.0.weight").unwrap().shape(),
            [10, 784]
        );
    }

    #[test]
    fn an_unwritable_path_names_the_file() {
        let device = Device::flex();
        let config = MlpConfig::new();
        let model = config.init(&device);
        let path = Path::new("/nonexistent-dir/model.safetensors");
        let error = export_safetensors(&model, &config, path)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("cannot write /nonexistent-dir/model.safetensors: "),
            "{error}"
        );
    }
}
