//! The network as a standard ONNX model, which runtimes we did not write
//! (onnxruntime, onnxruntime-web, tract) run without Burn.
//!
//! The graph, opset [`OPSET`], for `L` layers (`L - 1` hidden):
//!
//! ```text
//! x [N, 784] float, x = pixel / 255 - 0.5 (pixels row-major); N is free ("N")
//!   -> MatMul(layers.0.weight [784, hidden[0]]) -> Add(layers.0.bias) -> activation
//!   -> ...
//!   -> MatMul(layers.L-1.weight [hidden[L-2], 10]) -> Add(layers.L-1.bias)
//!   -> Softmax(axis 1) -> probabilities [N, 10] float
//! ```
//!
//! Weights keep Burn's `[in, out]` layout, so `x @ W + b` is a plain MatMul
//! and Add. Activations are ONNX operators: Relu, Sigmoid, Tanh, LeakyRelu
//! (alpha 0.01), and GELU in its exact form `0.5 x (1 + erf(x / sqrt 2))`
//! with Erf, as Burn computes it (the Gelu operator only exists from opset
//! 20). Dropout acts only while training and is not in the graph.
//!
//! The messages are ONNX's protobuf types as prost generates them
//! ([`proto`], from the pinned `onnx.proto3`), encoded by prost.

#[allow(clippy::all)]
pub mod proto;

use prost::Message;
use proto::attribute_proto::AttributeType;
use proto::tensor_proto::DataType;
use proto::tensor_shape_proto::{Dimension, dimension};
use proto::type_proto::{self, Tensor as TensorType};
use proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

use crate::committee::{Combine, Committee};
use crate::mlp::{Activation, LEAKY_RELU_SLOPE, Mlp, MlpConfig};

/// The ONNX operator set the graph is written against: 13 has every
/// operator used here, and every runtime of the last years reads it.
pub const OPSET: i64 = 13;
/// The IR version that goes with opset 13 (ONNX 1.8).
const IR_VERSION: i64 = 7;
/// Name of the graph's input: `[N, inputs]` float, `pixel / 255 - 0.5`.
pub const INPUT: &str = "x";
/// Name of the graph's output: `[N, classes]` float, each row summing to 1.
pub const OUTPUT: &str = "probabilities";
/// Name of the free batch dimension of the input and the output.
pub const BATCH_DIM: &str = "N";

/// One fully connected layer's parameters, read back to the host.
#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    pub inputs: usize,
    pub outputs: usize,
    /// `[inputs, outputs]`, row-major (Burn's layout): `y = x @ weight + bias`.
    pub weight: Vec<f32>,
    /// `[outputs]`.
    pub bias: Vec<f32>,
}

/// Why the model could not be turned into ONNX.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the {layer} weights back from the device: {reason}")]
pub struct OnnxError {
    pub layer: String,
    pub reason: String,
}

/// `model`'s layers read back to the host, input side first; errors name
/// the layer as `<prefix>layers.<i>`.
pub fn dense_layers(model: &Mlp) -> Result<Vec<Dense>, OnnxError> {
    prefixed_dense_layers(model, "")
}

fn prefixed_dense_layers(model: &Mlp, prefix: &str) -> Result<Vec<Dense>, OnnxError> {
    model
        .layers
        .iter()
        .enumerate()
        .map(|(index, layer)| {
            let failed = |reason: String| OnnxError {
                layer: format!("{prefix}layers.{index}"),
                reason,
            };
            let [inputs, outputs] = layer.weight.dims();
            let weight = layer
                .weight
                .val()
                .try_into_data()
                .map_err(|error| failed(error.to_string()))?
                .convert::<f32>()
                .try_into_vec::<f32>()
                .map_err(|error| failed(format!("{error:?}")))?;
            let bias = match &layer.bias {
                Some(bias) => bias
                    .val()
                    .try_into_data()
                    .map_err(|error| failed(error.to_string()))?
                    .convert::<f32>()
                    .try_into_vec::<f32>()
                    .map_err(|error| failed(format!("{error:?}")))?,
                None => vec![0.0; outputs],
            };
            Ok(Dense {
                inputs,
                outputs,
                weight,
                bias,
            })
        })
        .collect()
}

/// The encoded ONNX file for `model` (whose architecture is `config`), with
/// `metadata` as the model's `metadata_props` (key, value) besides
/// `architecture` (the config as `model.json` holds it).
pub fn onnx_bytes(
    model: &Mlp,
    config: &MlpConfig,
    metadata: &[(String, String)],
) -> Result<Vec<u8>, OnnxError> {
    let architecture =
        serde_json::to_string(config).expect("a config of numbers and names serialises");
    let mut props = vec![("architecture".to_string(), architecture)];
    props.extend_from_slice(metadata);
    Ok(model_proto(&dense_layers(model)?, config.activation, &props).encode_to_vec())
}

/// The encoded ONNX file for `committee` (its members' architectures
/// `configs`, in order), as [`committee_proto`] builds it, with `metadata`
/// besides `architecture` ([`Committee::architecture`]).
pub fn committee_onnx_bytes(
    committee: &Committee,
    configs: &[MlpConfig],
    metadata: &[(String, String)],
) -> Result<Vec<u8>, OnnxError> {
    let mut props = vec![("architecture".to_string(), committee.architecture(configs))];
    props.extend_from_slice(metadata);
    let members = committee
        .members
        .iter()
        .zip(configs)
        .enumerate()
        .map(|(index, (member, config))| {
            let layers = prefixed_dense_layers(member, &format!("members.{index}."))?;
            Ok((layers, config.activation))
        })
        .collect::<Result<Vec<_>, OnnxError>>()?;
    Ok(committee_proto(&members, committee.combine, &props).encode_to_vec())
}

/// The ONNX model of `layers` (input side first) with `activation` after
/// every layer but the last and softmax after the last.
pub fn model_proto(
    layers: &[Dense],
    activation: Activation,
    metadata: &[(String, String)],
) -> ModelProto {
    let mut graph = Graph::default();
    let logits = graph.network("", layers, activation);
    graph.node(
        "Softmax",
        OUTPUT,
        &[&logits],
        vec![int_attribute("axis", 1)],
    );
    graph.into_model(layers, metadata)
}

/// The ONNX model of a committee (`crate::committee`): each member's layers
/// and activation under `members.<i>.`, combined into [`OUTPUT`] as
/// `combine` says (the mean of the members' softmax, or the softmax of
/// their mean logits). Every member has the same inputs and classes.
pub fn committee_proto(
    members: &[(Vec<Dense>, Activation)],
    combine: Combine,
    metadata: &[(String, String)],
) -> ModelProto {
    let mut graph = Graph::default();
    let axis = || vec![int_attribute("axis", 1)];
    let outputs: Vec<String> = members
        .iter()
        .enumerate()
        .map(|(index, (layers, activation))| {
            let prefix = format!("members.{index}.");
            let logits = graph.network(&prefix, layers, *activation);
            match combine {
                Combine::Mean => graph.node(
                    "Softmax",
                    &format!("{prefix}probabilities"),
                    &[&logits],
                    axis(),
                ),
                Combine::Geometric => logits,
            }
        })
        .collect();
    let outputs: Vec<&str> = outputs.iter().map(String::as_str).collect();
    match combine {
        Combine::Mean => graph.node("Mean", OUTPUT, &outputs, vec![]),
        Combine::Geometric => {
            let mean = graph.node("Mean", "mean_logits", &outputs, vec![]);
            graph.node("Softmax", OUTPUT, &[&mean], axis())
        }
    };
    let first = members
        .first()
        .map_or(&[][..], |(layers, _)| layers.as_slice());
    graph.into_model(first, metadata)
}

/// The nodes and constants of a graph being built.
#[derive(Default)]
struct Graph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

impl Graph {
    /// The layers of one network reading [`INPUT`], their constants and
    /// nodes named `<prefix>layers.<i>...`; returns the name of its logits.
    fn network(&mut self, prefix: &str, layers: &[Dense], activation: Activation) -> String {
        let mut x = INPUT.to_string();
        for (index, layer) in layers.iter().enumerate() {
            let name = format!("{prefix}layers.{index}");
            let weight = self.initializer(
                &format!("{name}.weight"),
                &[layer.inputs, layer.outputs],
                &layer.weight,
            );
            let bias = self.initializer(&format!("{name}.bias"), &[layer.outputs], &layer.bias);
            let product = self.node("MatMul", &format!("{name}.matmul"), &[&x, &weight], vec![]);
            x = self.node("Add", &format!("{name}.linear"), &[&product, &bias], vec![]);
            if index + 1 < layers.len() {
                x = self.activation(activation, &name, &x);
            }
        }
        x
    }

    /// The model of this graph, once its [`OUTPUT`] is written: inputs and
    /// classes as `layers` (one network's) has them, `metadata` as its
    /// `metadata_props`.
    fn into_model(self, layers: &[Dense], metadata: &[(String, String)]) -> ModelProto {
        let inputs = layers.first().map_or(0, |layer| layer.inputs);
        let classes = layers.last().map_or(0, |layer| layer.outputs);
        let graph = GraphProto {
            name: "simple-nn mlp".into(),
            node: self.nodes,
            initializer: self.initializers,
            input: vec![float_matrix(INPUT, inputs)],
            output: vec![float_matrix(OUTPUT, classes)],
            ..GraphProto::default()
        };
        ModelProto {
            ir_version: IR_VERSION,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            }],
            producer_name: "simple-nn".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            doc_string: format!(
                "MNIST digit classifier: {INPUT} = pixel / 255 - 0.5 [N, {inputs}] -> {OUTPUT} [N, {classes}]"
            ),
            graph: Some(graph),
            metadata_props: metadata
                .iter()
                .map(|(key, value)| StringStringEntryProto {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
            ..ModelProto::default()
        }
    }

    /// Adds a float constant (`values`, row-major in `shape`); returns its name.
    fn initializer(&mut self, name: &str, shape: &[usize], values: &[f32]) -> String {
        debug_assert_eq!(shape.iter().product::<usize>(), values.len());
        self.initializers.push(TensorProto {
            name: name.into(),
            dims: shape.iter().map(|&d| d as i64).collect(),
            data_type: DataType::Float as i32,
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..TensorProto::default()
        });
        name.into()
    }

    /// Adds an `op` node reading `inputs` and writing one tensor named
    /// `output`; returns that name.
    fn node(
        &mut self,
        op: &str,
        output: &str,
        inputs: &[&str],
        attribute: Vec<AttributeProto>,
    ) -> String {
        self.nodes.push(NodeProto {
            name: output.into(),
            op_type: op.into(),
            input: inputs.iter().map(|&input| input.into()).collect(),
            output: vec![output.into()],
            attribute,
            ..NodeProto::default()
        });
        output.into()
    }

    /// `activation` of `x` after layer `name`; returns the result's name.
    fn activation(&mut self, activation: Activation, name: &str, x: &str) -> String {
        let output = format!("{name}.{activation}");
        match activation {
            Activation::Relu => self.node("Relu", &output, &[x], vec![]),
            Activation::Sigmoid => self.node("Sigmoid", &output, &[x], vec![]),
            Activation::Tanh => self.node("Tanh", &output, &[x], vec![]),
            Activation::LeakyRelu => {
                let alpha = AttributeProto {
                    name: "alpha".into(),
                    r#type: AttributeType::Float as i32,
                    f: LEAKY_RELU_SLOPE,
                    ..AttributeProto::default()
                };
                self.node("LeakyRelu", &output, &[x], vec![alpha])
            }
            Activation::Gelu => {
                // 0.5 x (1 + erf(x / sqrt 2)), the constants shared by every layer.
                if !self.initializers.iter().any(|t| t.name == "gelu.half") {
                    self.initializer("gelu.half", &[], &[0.5]);
                    self.initializer("gelu.one", &[], &[1.0]);
                    self.initializer("gelu.inv_sqrt2", &[], &[std::f32::consts::FRAC_1_SQRT_2]);
                }
                let scaled = self.node(
                    "Mul",
                    &format!("{output}.scaled"),
                    &[x, "gelu.inv_sqrt2"],
                    vec![],
                );
                let erf = self.node("Erf", &format!("{output}.erf"), &[&scaled], vec![]);
                let plus = self.node(
                    "Add",
                    &format!("{output}.plus_one"),
                    &[&erf, "gelu.one"],
                    vec![],
                );
                let half = self.node("Mul", &format!("{output}.half"), &[x, "gelu.half"], vec![]);
                self.node("Mul", &output, &[&half, &plus], vec![])
            }
        }
    }
}

fn int_attribute(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: value,
        ..AttributeProto::default()
    }
}

/// A `[N, columns]` float value named `name`, N free.
fn float_matrix(name: &str, columns: usize) -> ValueInfoProto {
    let dim = |value| Dimension {
        value: Some(value),
        ..Dimension::default()
    };
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(TensorType {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto {
                    dim: vec![
                        dim(dimension::Value::DimParam(BATCH_DIM.into())),
                        dim(dimension::Value::DimValue(columns as i64)),
                    ],
                }),
            })),
            ..TypeProto::default()
        }),
        ..ValueInfoProto::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Tensor, TensorData};
    use tract_onnx::prelude::*;

    /// The largest difference between `burn`'s probabilities and tract's
    /// run of the ONNX file `bytes` on `batch` made-up images (pixel `i` is
    /// `(i * stride mod 256) / 255 - 0.5`).
    fn worst_against_tract(
        bytes: &[u8],
        batch: usize,
        stride: usize,
        burn: impl Fn(Tensor<2>) -> Tensor<2>,
    ) -> f32 {
        let x: Vec<f32> = (0..batch * 784)
            .map(|i| ((i * stride % 256) as f32) / 255.0 - 0.5)
            .collect();
        let input = TensorData::new(x.clone(), [batch, 784]);
        let ours: Vec<f32> = burn(Tensor::<2>::from_data(input, &Device::flex()))
            .into_data()
            .try_into_vec()
            .unwrap();
        let tract = run_in_tract(bytes, &x, 784).concat();
        assert_eq!(tract.len(), batch * 10);
        ours.iter()
            .zip(&tract)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max)
    }

    /// Runs the ONNX file `bytes` in tract on `rows` inputs of `columns`
    /// floats and returns the output rows.
    fn run_in_tract(bytes: &[u8], x: &[f32], columns: usize) -> Vec<Vec<f32>> {
        let plan = tract_onnx::onnx()
            .model_for_read(&mut &*bytes)
            .unwrap()
            .into_optimized()
            .unwrap()
            .into_runnable()
            .unwrap();
        let input =
            tract_onnx::prelude::Tensor::from_shape(&[x.len() / columns, columns], x).unwrap();
        let output = plan.run(tvec!(input.into_tvalue())).unwrap();
        let view = output[0].to_plain_array_view::<f32>().unwrap();
        let classes = view.shape()[1];
        let values: Vec<f32> = view.iter().copied().collect();
        values.chunks(classes).map(<[f32]>::to_vec).collect()
    }

    /// 2 inputs -> 2 hidden -> 2 classes with hand-set weights ([in, out]):
    /// W1 = [[1, -1], [2, 0]], b1 = [0, 0.5]; W2 = identity, b2 = [0, 0].
    /// x = [1, 1]: x @ W1 + b1 = [3, -0.5].
    fn tiny() -> Vec<Dense> {
        vec![
            Dense {
                inputs: 2,
                outputs: 2,
                weight: vec![1.0, -1.0, 2.0, 0.0],
                bias: vec![0.0, 0.5],
            },
            Dense {
                inputs: 2,
                outputs: 2,
                weight: vec![1.0, 0.0, 0.0, 1.0],
                bias: vec![0.0, 0.0],
            },
        ]
    }

    fn softmax2(a: f64, b: f64) -> [f64; 2] {
        let m = a.max(b);
        let (ea, eb) = ((a - m).exp(), (b - m).exp());
        [ea / (ea + eb), eb / (ea + eb)]
    }

    #[test]
    fn hand_set_weights_give_hand_computed_probabilities() {
        // Hidden [3, -0.5] through each activation, then softmax of it.
        let erf = |x: f64| libm::erf(x);
        let gelu = |x: f64| 0.5 * x * (1.0 + erf(x / 2f64.sqrt()));
        let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
        let cases = [
            (Activation::Relu, [3.0, 0.0]),
            (Activation::LeakyRelu, [3.0, -0.005]),
            (Activation::Sigmoid, [sigmoid(3.0), sigmoid(-0.5)]),
            (Activation::Tanh, [3f64.tanh(), (-0.5f64).tanh()]),
            (Activation::Gelu, [gelu(3.0), gelu(-0.5)]),
        ];
        for (activation, hidden) in cases {
            let bytes = model_proto(&tiny(), activation, &[]).encode_to_vec();
            let got = run_in_tract(&bytes, &[1.0, 1.0], 2);
            let want = softmax2(hidden[0], hidden[1]);
            for (g, w) in got[0].iter().zip(want) {
                assert!(
                    (f64::from(*g) - w).abs() < 1e-6,
                    "{activation}: {got:?} vs {want:?}"
                );
            }
        }
        // ReLU: softmax([3, 0]) = [e^3 / (e^3 + 1), 1 / (e^3 + 1)] = [0.952574, 0.047426].
        let bytes = model_proto(&tiny(), Activation::Relu, &[]).encode_to_vec();
        let got = run_in_tract(&bytes, &[1.0, 1.0], 2);
        assert!((got[0][0] - 0.952_574).abs() < 1e-6, "{got:?}");
    }

    /// Every activation, 0 to 3 hidden layers, batches of 1 and 7 through one
    /// file: tract's probabilities equal Burn's within 1e-5.
    #[test]
    fn tract_reproduces_burn_for_every_activation_and_depth() {
        let device = Device::flex();
        for activation in [
            Activation::Relu,
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Gelu,
            Activation::LeakyRelu,
        ] {
            for hidden in [vec![], vec![16], vec![16, 8], vec![12, 10, 8]] {
                let config = MlpConfig::new()
                    .with_hidden(hidden)
                    .with_activation(activation)
                    .with_dropout(0.25);
                let model = config.init(&device);
                let bytes = onnx_bytes(&model, &config, &[]).unwrap();
                for batch in [1, 7] {
                    let worst = worst_against_tract(&bytes, batch, 37, |x| model.probabilities(x));
                    assert!(worst <= 1e-5, "{}: {worst}", config.describe());
                }
            }
        }
    }

    /// A committee of members of different depths and activations, both
    /// combinations, batches of 1 and 5: tract's probabilities equal Burn's
    /// `Committee` within 1e-5, and the graph's output is one `Mean` (mean)
    /// or one `Softmax` of a `Mean` (geometric).
    #[test]
    fn tract_reproduces_a_committee_for_both_combinations() {
        let device = Device::flex();
        let members: Vec<(MlpConfig, Mlp)> = [
            (vec![16], Activation::Relu),
            (vec![12, 8], Activation::Tanh),
            (vec![], Activation::Gelu),
        ]
        .into_iter()
        .map(|(hidden, activation)| {
            let config = MlpConfig::new()
                .with_hidden(hidden)
                .with_activation(activation);
            let model = config.init(&device);
            (config, model)
        })
        .collect();
        let configs: Vec<MlpConfig> = members.iter().map(|(config, _)| config.clone()).collect();
        for combine in [Combine::Mean, Combine::Geometric] {
            let committee = Committee {
                members: members.iter().map(|(_, model)| model.clone()).collect(),
                combine,
            };
            let bytes = committee_onnx_bytes(&committee, &configs, &[]).unwrap();
            let proto = ModelProto::decode(bytes.as_slice()).unwrap();
            let architecture: serde_json::Value =
                serde_json::from_str(&proto.metadata_props[0].value).unwrap();
            assert_eq!(proto.metadata_props[0].key, "architecture");
            assert_eq!(architecture["combine"], combine.to_string());
            assert_eq!(
                architecture["members"][1]["hidden"],
                serde_json::json!([12, 8])
            );
            let ops: Vec<&str> = proto
                .graph
                .as_ref()
                .unwrap()
                .node
                .iter()
                .map(|n| n.op_type.as_str())
                .collect();
            let tail = match combine {
                Combine::Mean => &["Mean"][..],
                Combine::Geometric => &["Mean", "Softmax"][..],
            };
            assert!(ops.ends_with(tail), "{combine}: {ops:?}");
            for batch in [1, 5] {
                let worst = worst_against_tract(&bytes, batch, 53, |x| committee.probabilities(x));
                assert!(worst <= 1e-5, "{combine}: {worst}");
            }
        }
    }

    #[test]
    fn the_file_names_its_input_output_batch_and_metadata() {
        let config = MlpConfig::new();
        let model = config.init(&Device::flex());
        let metadata = [("test_accuracy".to_string(), "0.9686".to_string())];
        let bytes = onnx_bytes(&model, &config, &metadata).unwrap();
        let proto = ModelProto::decode(bytes.as_slice()).unwrap();
        assert_eq!(proto.opset_import[0].version, 13);
        let props: Vec<(&str, &str)> = proto
            .metadata_props
            .iter()
            .map(|p| (p.key.as_str(), p.value.as_str()))
            .collect();
        assert_eq!(props[1], ("test_accuracy", "0.9686"));
        let stored: MlpConfig = serde_json::from_str(props[0].1).unwrap();
        assert_eq!(stored, config);
        let graph = proto.graph.unwrap();
        assert_eq!(graph.input[0].name, "x");
        assert_eq!(graph.output[0].name, "probabilities");
        let Some(type_proto::Value::TensorType(input)) =
            &graph.input[0].r#type.as_ref().unwrap().value
        else {
            panic!("the input is a tensor")
        };
        let dims: Vec<_> = input
            .shape
            .as_ref()
            .unwrap()
            .dim
            .iter()
            .map(|d| d.value.clone())
            .collect();
        assert_eq!(
            dims,
            [
                Some(dimension::Value::DimParam("N".into())),
                Some(dimension::Value::DimValue(784))
            ]
        );
        let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(
            ops,
            [
                "MatMul", "Add", "Relu", "MatMul", "Add", "Relu", "MatMul", "Add", "Softmax"
            ]
        );
        // Burn's [in, out] weight is stored as it is.
        let weight = &graph.initializer[0];
        assert_eq!(
            (weight.name.as_str(), weight.dims.as_slice()),
            ("layers.0.weight", &[784, 64][..])
        );
        let first = f32::from_le_bytes(weight.raw_data[..4].try_into().unwrap());
        let burn: Vec<f32> = model.layers[0]
            .weight
            .val()
            .into_data()
            .try_into_vec()
            .unwrap();
        assert_eq!(first, burn[0]);
    }
}
