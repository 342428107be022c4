//! A minimal ONNX graph builder: inputs, initialisers, nodes, outputs and card metadata, encoded
//! with the `proto` messages. Shapes may be fixed or symbolic (dynamic batch / height / width).

use prost::Message;

use super::proto::*;

/// One dimension of a declared shape.
#[derive(Debug, Clone)]
pub enum Dim {
    Fixed(i64),
    Param(String),
}

impl From<i64> for Dim {
    fn from(v: i64) -> Self {
        Dim::Fixed(v)
    }
}

impl From<&str> for Dim {
    fn from(v: &str) -> Self {
        Dim::Param(v.to_string())
    }
}

/// An attribute value for `GraphBuilder::node`.
#[derive(Debug, Clone)]
pub enum Attr {
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
    Floats(Vec<f32>),
    Str(String),
}

#[derive(Debug, Default, Clone)]
pub struct GraphBuilder {
    graph: GraphProto,
    metadata: Vec<(String, String)>,
    opset: i64,
}

fn value_info(name: &str, dims: &[Dim]) -> ValueInfoProto {
    typed_value_info(name, dims, data_type::FLOAT)
}

fn typed_value_info(name: &str, dims: &[Dim], elem_type: i32) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| match d {
            Dim::Fixed(v) => TensorShapeDimension { dim_value: Some(*v), dim_param: None },
            Dim::Param(p) => TensorShapeDimension { dim_value: None, dim_param: Some(p.clone()) },
        })
        .collect();
    ValueInfoProto {
        name: name.to_string(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor { elem_type, shape: Some(TensorShapeProto { dim }) }),
        }),
    }
}

impl GraphBuilder {
    pub fn new(name: &str) -> Self {
        GraphBuilder {
            graph: GraphProto { name: name.to_string(), ..Default::default() },
            metadata: Vec::new(),
            opset: 13,
        }
    }

    /// A float32 graph input.
    pub fn input(mut self, name: &str, dims: &[Dim]) -> Self {
        self.graph.input.push(value_info(name, dims));
        self
    }

    /// The opset of the default domain (13 unless set).
    pub fn opset(mut self, version: i64) -> Self {
        self.opset = version;
        self
    }

    /// A float32 graph output whose shape is not declared (it depends on the input).
    pub fn output_unknown(mut self, name: &str) -> Self {
        self.graph.output.push(ValueInfoProto {
            name: name.to_string(),
            r#type: Some(TypeProto { tensor_type: Some(TypeProtoTensor { elem_type: data_type::FLOAT, shape: None }) }),
        });
        self
    }

    /// A float32 graph output (its declared shape may be deliberately wrong: runtimes must not
    /// trust it, and tests use that).
    pub fn output(mut self, name: &str, dims: &[Dim]) -> Self {
        self.graph.output.push(value_info(name, dims));
        self
    }

    /// An int64 graph output (class ids of detectors with NMS inside).
    pub fn output_i64(mut self, name: &str, dims: &[Dim]) -> Self {
        self.graph.output.push(typed_value_info(name, dims, data_type::INT64));
        self
    }

    /// A float32 initialiser. With `also_input`, it is listed among the graph inputs as well
    /// (as old exporters did), which must not make it a model input.
    pub fn initializer(mut self, name: &str, dims: &[i64], data: &[f32], also_input: bool) -> Self {
        assert_eq!(dims.iter().product::<i64>() as usize, data.len(), "initializer {name}");
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.graph.initializer.push(TensorProto {
            dims: dims.to_vec(),
            data_type: data_type::FLOAT,
            name: name.to_string(),
            raw_data: raw,
            ..Default::default()
        });
        if also_input {
            let d: Vec<Dim> = dims.iter().map(|v| Dim::Fixed(*v)).collect();
            self.graph.input.push(value_info(name, &d));
        }
        self
    }

    /// An int64 initialiser (shapes, axes).
    pub fn initializer_i64(mut self, name: &str, dims: &[i64], data: &[i64]) -> Self {
        self.graph.initializer.push(TensorProto {
            dims: dims.to_vec(),
            data_type: data_type::INT64,
            name: name.to_string(),
            int64_data: data.to_vec(),
            ..Default::default()
        });
        self
    }

    pub fn node(mut self, op: &str, inputs: &[&str], outputs: &[&str], attrs: &[(&str, Attr)]) -> Self {
        let attribute = attrs
            .iter()
            .map(|(name, a)| {
                let mut p = AttributeProto { name: name.to_string(), ..Default::default() };
                match a {
                    Attr::Int(v) => {
                        p.i = *v;
                        p.r#type = attribute_type::INT;
                    }
                    Attr::Ints(v) => {
                        p.ints = v.clone();
                        p.r#type = attribute_type::INTS;
                    }
                    Attr::Float(v) => {
                        p.f = *v;
                        p.r#type = attribute_type::FLOAT;
                    }
                    Attr::Floats(v) => {
                        p.floats = v.clone();
                        p.r#type = attribute_type::FLOATS;
                    }
                    Attr::Str(v) => {
                        p.s = v.as_bytes().to_vec();
                        p.r#type = attribute_type::STRING;
                    }
                }
                p
            })
            .collect();
        let n = self.graph.node.len();
        self.graph.node.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            name: format!("{op}_{n}"),
            op_type: op.to_string(),
            attribute,
            domain: String::new(),
        });
        self
    }

    /// A card key; `value` is the JSON text stored in metadata_props.
    pub fn meta(mut self, key: &str, value: &str) -> Self {
        self.metadata.push((key.to_string(), value.to_string()));
        self
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let model = ModelProto {
            ir_version: 8,
            producer_name: "rastrum".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            graph: Some(self.graph.clone()),
            opset_import: vec![OperatorSetIdProto { domain: String::new(), version: self.opset }],
            metadata_props: self
                .metadata
                .iter()
                .map(|(k, v)| StringStringEntryProto { key: k.clone(), value: v.clone() })
                .collect(),
            ..Default::default()
        };
        model.encode_to_vec()
    }

    pub fn save(&self, path: impl AsRef<std::path::Path>) -> std::io::Result<()> {
        std::fs::write(path, self.to_bytes())
    }
}
