"""Tiny ONNX models for the plugin's tests, protobuf written by hand (no onnx package on Debian's
Python): only the fields of onnx.proto these graphs need, by their field numbers."""

import json
import struct

FLOAT, INT64 = 1, 7  # TensorProto.DataType
ATTR_INT, ATTR_INTS = 2, 7  # AttributeProto.AttributeType


def _varint(value):
    out = bytearray()
    value &= (1 << 64) - 1  # negative int64 as two's complement, as protobuf does
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _int(field, value):
    return _varint(field << 3) + _varint(value)


def _bytes(field, payload):
    payload = payload.encode() if isinstance(payload, str) else payload
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _value_info(name, dims):
    """ValueInfoProto of a float tensor; a str dim is symbolic (dim_param)."""
    shape = b"".join(_bytes(1, _bytes(2, d) if isinstance(d, str) else _int(1, d)) for d in dims)
    tensor_type = _int(1, FLOAT) + _bytes(2, shape)
    return _bytes(1, name) + _bytes(2, _bytes(1, tensor_type))


def _int64_tensor(name, values):
    dims = _int(1, len(values))
    return dims + _int(2, INT64) + _bytes(8, name) + _bytes(9, struct.pack(f"<{len(values)}q", *values))


def _node(op_type, inputs, outputs, **attributes):
    body = b"".join(_bytes(1, i) for i in inputs) + b"".join(_bytes(2, o) for o in outputs)
    body += _bytes(3, f"{op_type}_{outputs[0]}") + _bytes(4, op_type)
    for key, value in attributes.items():
        if isinstance(value, (list, tuple)):
            attribute = _bytes(1, key) + b"".join(_int(8, v) for v in value) + _int(20, ATTR_INTS)
        else:
            attribute = _bytes(1, key) + _int(3, value) + _int(20, ATTR_INT)
        body += _bytes(5, attribute)
    return body


def _model(nodes, inputs, outputs, initializers=(), card=None, opset=13):
    graph = b"".join(_bytes(1, n) for n in nodes) + _bytes(2, "g")
    graph += b"".join(_bytes(5, t) for t in initializers)
    graph += b"".join(_bytes(11, _value_info(*i)) for i in inputs)
    graph += b"".join(_bytes(12, _value_info(*o)) for o in outputs)
    model = _int(1, 7) + _bytes(7, graph) + _bytes(8, _bytes(1, "") + _int(2, opset))
    for key, value in (card or {}).items():
        model += _bytes(14, _bytes(1, key) + _bytes(2, json.dumps(value)))
    return model


def tile_mean_classifier(path, channels=3, class_names=("red", "green", "blue"), tile=64):
    """Per-tile classification: the class is the channel with the largest tile mean
    (GlobalAveragePool + Flatten -> [n, channels])."""
    card = {"rastrum_task": "classification", "tiles_size": tile,
            "class_names": {str(i): n for i, n in enumerate(class_names)}}
    nodes = [_node("GlobalAveragePool", ["x"], ["pooled"]), _node("Flatten", ["pooled"], ["y"], axis=1)]
    path.write_bytes(_model(nodes, [("x", ["n", channels, "h", "w"])], [("y", ["n", channels])], card=card))
    return path


def tile_sum_regressor(path, tile=32):
    """Per-tile regression of one band: the tile's sum (ReduceSum over h, w -> [n, 1]),
    redistributed over the tile weighted by band 1."""
    card = {"rastrum_task": "regression", "tiles_size": tile, "rastrum_bands": [1],
            "rastrum_redistribute": "weight", "rastrum_weight_band": 1}
    nodes = [_node("ReduceSum", ["x", "axes"], ["y"], keepdims=0)]
    path.write_bytes(_model(nodes, [("x", ["n", 1, "h", "w"])], [("y", ["n", 1])],
                            initializers=[_int64_tensor("axes", [2, 3])], card=card))
    return path
