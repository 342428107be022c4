"""The ONNX models the bench makes itself (the cloud-mask model is the real one from ukis-csmask).

- `deepness`: Deepness-format segmentation models for the GeoDeep comparison. GeoDeep's zoo
  downloads from Hugging Face, which the bench machines cannot reach, so the bench writes two
  nets with seeded He-initialised weights and Deepness's metadata keys: a small U-Net-style net
  and a light one (one 3x3 convolution), to show how the ratio depends on the model's cost. The
  cost is what matters for timing; the weights only need to give both tools a non-trivial class
  map to compare.
- `identity`: output = input, one band, for the comparison with `gdal_translate`.
- `pointwise`: a 1x1 convolution from 6 bands to 2 classes, the cheapest real model, for the
  memory sweep (peak RSS is then the engine's, not the model's).
"""

import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _save(graph, path, meta):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    for k, v in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _conv(nodes, inits, rng, name, x, cin, cout, k=3, stride=1, relu=True):
    w = (rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))).astype(np.float32)
    b = (rng.standard_normal(cout) * 0.1).astype(np.float32)
    inits += [numpy_helper.from_array(w, f"{name}_w"), numpy_helper.from_array(b, f"{name}_b")]
    pad = k // 2
    out = f"{name}_y"
    nodes.append(
        helper.make_node(
            "Conv", [x, f"{name}_w", f"{name}_b"], [out], kernel_shape=[k, k], strides=[stride, stride],
            pads=[pad] * 4,
        )
    )
    if relu:
        nodes.append(helper.make_node("Relu", [out], [f"{name}_r"]))
        return f"{name}_r"
    return out


def _unet_body(nodes, inits, rng, n_classes, tile):
    """Encoder, a stride-2 stage, nearest up-sampling, a skip connection: 0.71 GMAC per 256 px."""
    e1 = _conv(nodes, inits, rng, "enc1", "input", 3, 16)
    e2 = _conv(nodes, inits, rng, "enc2", e1, 16, 32, stride=2)
    e3 = _conv(nodes, inits, rng, "enc3", e2, 32, 32)
    inits.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "up_scales"))
    nodes.append(helper.make_node("Resize", [e3, "", "up_scales"], ["up"], mode="nearest"))
    nodes.append(helper.make_node("Concat", ["up", e1], ["skip"], axis=1))
    d1 = _conv(nodes, inits, rng, "dec1", "skip", 48, 16)
    logits = _conv(nodes, inits, rng, "head", d1, 16, n_classes, k=1, relu=False)
    full, half = tile * tile, (tile // 2) ** 2
    return logits, 9 * (3 * 16 * full + 16 * 32 * half + 32 * 32 * half + 48 * 16 * full) + 16 * n_classes * full


def _light_body(nodes, inits, rng, n_classes, tile):
    """One 3x3 convolution to 8 features and a 1x1 head: 0.016 GMAC per 256 px."""
    f = _conv(nodes, inits, rng, "feat", "input", 3, 8)
    logits = _conv(nodes, inits, rng, "head", f, 8, n_classes, k=1, relu=False)
    return logits, (9 * 3 * 8 + 8 * n_classes) * tile * tile


ARCHITECTURES = {"unet": _unet_body, "light": _light_body}


def deepness(path, arch, sample, tile=256, classes=("background", "bright", "vegetation"), resolution_cm=30.0,
             seed=7):
    """Writes a Deepness-format segmentation model; returns its multiply-adds per tile.

    `sample`: [n, 3, tile, tile] float32 tiles in the model's input range (bytes / 255), used to
    scale and balance the random head so that every class wins somewhere and winners usually pass
    seg_thresh (else the map would be one class)."""
    import onnxruntime

    head = None
    for final in (False, True):
        rng = np.random.default_rng(seed)
        nodes, inits = [], []
        logits, macs = ARCHITECTURES[arch](nodes, inits, rng, len(classes), tile)
        if final:
            inits[-2] = numpy_helper.from_array(head[0], "head_w")
            inits[-1] = numpy_helper.from_array(head[1], "head_b")
            nodes.append(helper.make_node("Softmax", [logits], ["output"], axis=1))
        else:
            nodes.append(helper.make_node("Identity", [logits], ["output"]))
        graph = helper.make_graph(
            nodes,
            f"deepness_{arch}",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, tile, tile])],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", len(classes), tile, tile])],
            inits,
        )
        meta = {
            "model_type": json.dumps("Segmentor"),
            "class_names": json.dumps({str(i): c for i, c in enumerate(classes)}),
            "resolution": json.dumps(resolution_cm),
            "tiles_size": json.dumps(tile),
            "tiles_overlap": json.dumps(10),
            "seg_thresh": json.dumps(0.5),
            "seg_small_segment": json.dumps(0),
        }
        _save(graph, path, meta)
        if not final:
            # Sharpen the logits (their spread across classes to 3), then shift each class's bias
            # until the classes win about equally often on the sample.
            z = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
                None, {"input": sample})[0]
            z = z.transpose(1, 0, 2, 3).reshape(len(classes), -1)
            gain = 3.0 / (z - z.mean(axis=0)).std()
            z = gain * z
            shift = np.zeros((len(classes), 1))
            for _ in range(200):
                share = np.bincount((z + shift).argmax(axis=0), minlength=len(classes)) / z.shape[1]
                shift[:, 0] += 0.5 * (1.0 / len(classes) - share)
            head = ((numpy_helper.to_array(inits[-2]) * gain).astype(np.float32),
                    (numpy_helper.to_array(inits[-1]) * gain + shift[:, 0]).astype(np.float32))
    return macs


def identity(path, tile=512):
    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["output"])],
        "identity",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, tile, tile])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 1, tile, tile])],
    )
    _save(graph, path, {"rastrum_task": json.dumps("regression"), "tiles_size": json.dumps(tile),
                        "rastrum_overlap": json.dumps(0)})


def pointwise(path, tile=256, bands=6):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((2, bands, 1, 1)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w"], ["output"], kernel_shape=[1, 1])],
        "pointwise",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", bands, tile, tile])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 2, tile, tile])],
        [numpy_helper.from_array(w, "w")],
    )
    _save(graph, path, {"rastrum_task": json.dumps("segmentation"), "tiles_size": json.dumps(tile),
                        "rastrum_overlap": json.dumps(0), "rastrum_scale": json.dumps(1e-4)})
