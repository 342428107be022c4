//! A model's card read and rewritten in the file itself: the card is ModelProto's
//! `metadata_props` (field 14, key/value strings). The file is split into its top-level protobuf
//! fields without decoding them; a rewrite copies every other field (the graph, its weights, the
//! opsets, the producer) byte for byte and replaces only the metadata entries, at the place of
//! the first one. No schema of the graph is involved, so nothing the schema does not know is lost.

use std::path::Path;

use prost::Message;

use super::proto::StringStringEntryProto;
use crate::atomic;
use crate::card::edits::{self, Edit};
use crate::error::{Error, Result};
use crate::memory;

/// ModelProto's `metadata_props`.
const METADATA_FIELD: u64 = 14;

/// One top-level field: its number and its bytes in the file (key included).
struct Field {
    number: u64,
    span: std::ops::Range<usize>,
}

/// The metadata entries of a model file, in file order.
pub fn read(path: &Path) -> Result<Vec<(String, String)>> {
    let bytes = read_model(path)?;
    entries(&bytes).map_err(|m| Error::model(path, m))
}

/// Applies `edits` to the card of `model` and writes the result to `out` (which may be `model`
/// itself), all at once; returns the new entries. The card must still parse: a bad value is
/// refused, naming its key, and nothing is written.
pub fn write(model: &Path, out: &Path, changes: &[Edit]) -> Result<Vec<(String, String)>> {
    let bytes = read_model(model)?;
    check_external_data(&bytes, model, out)?;
    let mut card = entries(&bytes).map_err(|m| Error::model(model, m))?;
    edits::apply(&mut card, changes)?;
    let rewritten = rewrite(&bytes, &card).map_err(|m| Error::model(model, m))?;
    atomic::write_with(out, |temp| std::fs::write(temp, &rewritten).map_err(|e| Error::io(out, e.to_string())))?;
    Ok(card)
}

/// The graph down to what says whether its weights live in other files: each initializer's
/// `data_location` (1: EXTERNAL) and `external_data` (its `location`, relative to the model).
#[derive(Clone, PartialEq, Message)]
struct ExternalModel {
    #[prost(message, optional, tag = "7")]
    graph: Option<ExternalGraph>,
}

#[derive(Clone, PartialEq, Message)]
struct ExternalGraph {
    #[prost(message, repeated, tag = "5")]
    initializer: Vec<ExternalTensor>,
}

#[derive(Clone, PartialEq, Message)]
struct ExternalTensor {
    #[prost(message, repeated, tag = "13")]
    external_data: Vec<StringStringEntryProto>,
    #[prost(int32, tag = "14")]
    data_location: i32,
}

/// A model whose weights are in other files finds them by paths relative to itself: its copy
/// must stay in the same folder (or it would load without its weights).
fn check_external_data(bytes: &[u8], model: &Path, out: &Path) -> Result<()> {
    let graph = ExternalModel::decode(bytes).ok().and_then(|m| m.graph).unwrap_or_default();
    let mut files: Vec<String> = graph
        .initializer
        .iter()
        .filter(|t| t.data_location == 1)
        .flat_map(|t| t.external_data.iter().filter(|e| e.key == "location").map(|e| e.value.clone()))
        .collect();
    files.sort();
    files.dedup();
    let folder = |p: &Path| {
        let dir = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
    };
    if files.is_empty() || folder(model) == folder(out) {
        return Ok(());
    }
    Err(Error::model(
        model,
        format!(
            "its weights are in other files ({}), found by paths relative to the model: write the card into a model \
             in the same folder ({})",
            files.join(", "),
            folder(model).display()
        ),
    ))
}

fn read_model(path: &Path) -> Result<Vec<u8>> {
    let len = std::fs::metadata(path).map_err(|e| Error::io(path, e.to_string()))?.len();
    memory::check(Some(len as u128), "reading the model file", "")?;
    std::fs::read(path).map_err(|e| Error::io(path, e.to_string()))
}

fn entries(bytes: &[u8]) -> std::result::Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for f in fields(bytes)?.iter().filter(|f| f.number == METADATA_FIELD) {
        let mut body = &bytes[f.span.clone()];
        // The key, then the length, then the entry.
        varint(&mut body)?;
        let e = StringStringEntryProto::decode_length_delimited(body)
            .map_err(|e| format!("a metadata entry does not decode: {e}"))?;
        out.push((e.key, e.value));
    }
    Ok(out)
}

/// The file with its metadata entries replaced by `card`.
pub fn rewrite(bytes: &[u8], card: &[(String, String)]) -> std::result::Result<Vec<u8>, String> {
    let fields = fields(bytes)?;
    let mut out = Vec::with_capacity(bytes.len() + 64 * card.len());
    let mut written = false;
    for f in &fields {
        if f.number != METADATA_FIELD {
            out.extend_from_slice(&bytes[f.span.clone()]);
        } else if !written {
            encode(card, &mut out);
            written = true;
        }
    }
    if !written {
        encode(card, &mut out);
    }
    Ok(out)
}

fn encode(card: &[(String, String)], out: &mut Vec<u8>) {
    for (key, value) in card {
        let entry = StringStringEntryProto { key: key.clone(), value: value.clone() };
        prost::encoding::message::encode(METADATA_FIELD as u32, &entry, out);
    }
}

/// The top-level fields of a protobuf message, in order.
fn fields(bytes: &[u8]) -> std::result::Result<Vec<Field>, String> {
    let not_onnx = |why: &str| format!("not an ONNX model: {why}");
    let mut fields = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let start = bytes.len() - rest.len();
        let key = varint(&mut rest).map_err(|e| not_onnx(&e))?;
        let (number, wire) = (key >> 3, key & 7);
        let skip = match wire {
            0 => varint(&mut rest).map(|_| 0).map_err(|e| not_onnx(&e))?,
            1 => 8,
            2 => varint(&mut rest).map_err(|e| not_onnx(&e))? as usize,
            5 => 4,
            _ => return Err(not_onnx(&format!("field {number} has wire type {wire}"))),
        };
        if number == 0 || skip > rest.len() {
            return Err(not_onnx(&format!("field {number} at byte {start} runs past the end of the file")));
        }
        rest = &rest[skip..];
        fields.push(Field { number, span: start..bytes.len() - rest.len() });
    }
    if !fields.iter().any(|f| f.number == 7) {
        return Err(not_onnx("no graph"));
    }
    Ok(fields)
}

fn varint(buf: &mut &[u8]) -> std::result::Result<u64, String> {
    prost::encoding::decode_varint(buf).map_err(|e| format!("a bad varint ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::GraphBuilder;

    #[test]
    fn a_rewrite_keeps_every_other_byte_and_reads_back() {
        let model = GraphBuilder::new("g")
            .input("x", &["n".into(), 1.into(), 4.into(), 4.into()])
            .node("Identity", &["x"], &["y"], &[])
            .output("y", &["n".into(), 1.into(), 4.into(), 4.into()])
            .meta("tiles_size", "4")
            .meta("model_type", "\"Segmentor\"")
            .to_bytes();
        assert_eq!(
            entries(&model).unwrap(),
            [("tiles_size".into(), "4".into()), ("model_type".into(), "\"Segmentor\"".into())]
        );
        let card = vec![("class_names".to_string(), r#"{"0": "a"}"#.to_string())];
        let out = rewrite(&model, &card).unwrap();
        assert_eq!(entries(&out).unwrap(), card);
        // Everything but the metadata is the same bytes in the same order.
        let strip = |b: &[u8]| -> Vec<u8> {
            fields(b)
                .unwrap()
                .into_iter()
                .filter(|f| f.number != METADATA_FIELD)
                .flat_map(|f| b[f.span].to_vec())
                .collect()
        };
        assert_eq!(strip(&out), strip(&model));
        assert!(fields(b"not a model").is_err());
    }

    #[test]
    fn a_model_with_external_weights_is_written_only_beside_itself() {
        let location = StringStringEntryProto { key: "location".into(), value: "weights.bin".into() };
        let tensor = ExternalTensor { external_data: vec![location], data_location: 1 };
        let bytes = ExternalModel { graph: Some(ExternalGraph { initializer: vec![tensor] }) }.encode_to_vec();
        let dir = std::env::temp_dir();
        let model = dir.join("m.onnx");
        assert!(check_external_data(&bytes, &model, &dir.join("m_card.onnx")).is_ok());
        let e = check_external_data(&bytes, &model, Path::new("/elsewhere/m.onnx")).unwrap_err().to_string();
        assert!(e.contains("weights.bin") && e.contains("same folder"), "{e}");
    }
}
