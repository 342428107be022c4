"""The model corpus of the peers' card and graph shapes (issue 22): small ONNX models written by
this script (protobuf by hand, as onnx_models.py does), each with the numpy computation of what a
run over a raster must give. Every model is per pixel (1x1 convolutions and pointwise heads), so
the expected rasters follow from the input pixels alone whatever the tiling.

Each entry: the card and graph shape it stands for, the files a run writes (OUTPUT and, for
several heads, OUTPUT_<head>), and per file the class names, nodata and expected pixels."""

from dataclasses import dataclass, field

import numpy as np

from onnx_models import _bytes, _int, _int64_tensor, _model, _node

FLOAT = 1


def _float_tensor(name, array):
    array = np.asarray(array, dtype="<f4")
    dims = b"".join(_int(1, d) for d in array.shape)
    return dims + _int(2, FLOAT) + _bytes(8, name) + _bytes(9, array.tobytes())


def _conv(x, y, weights, bias):
    """A 1x1 convolution: y[o] = sum_i weights[o][i] * x[i] + bias[o]."""
    w = np.asarray(weights, dtype=np.float32)
    w = w.reshape(w.shape[0], w.shape[1], 1, 1)
    inits = [_float_tensor(f"{y}_w", w), _float_tensor(f"{y}_b", np.asarray(bias, dtype=np.float32))]
    return _node("Conv", [x, f"{y}_w", f"{y}_b"], [y], kernel_shape=[1, 1]), inits


def _numpy_conv(x, weights, bias):
    """The convolution above on [bands, h, w] float64 pixels."""
    return np.einsum("oi,ihw->ohw", np.asarray(weights, np.float64), x) + np.asarray(bias, np.float64)[:, None, None]


def _softmax(z):
    e = np.exp(z - z.max(axis=0))
    return e / e.sum(axis=0)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@dataclass
class Expected:
    """One output file: its class names (None: values), nodata, the expected first band, and how
    close it must be (classes: exact except where the top two scores are within `margin`)."""

    suffix: str  # "" for OUTPUT, "_<head>" for OUTPUT_<head>
    names: list = None
    nodata: float = 255.0
    band: np.ndarray = None
    close: np.ndarray = None  # classes: pixels whose decision is not within rounding of a tie
    tolerance: float = 1e-4
    probabilities: np.ndarray = None  # [classes, h, w], checked in OUTPUT_probabilities.tif


@dataclass
class Entry:
    name: str
    what: str
    task: str  # the QGIS algorithm: segment, regress
    build: object  # path -> None
    expect: object = None  # raw [bands, h, w] float64, valid [h, w] -> [Expected]
    options: dict = field(default_factory=dict)
    error: str = None  # a run must fail with a message holding this
    batch_fallback: bool = False


MIX = [[1.0, 0.3, 0.1], [0.2, 1.1, 0.05], [0.15, 0.1, 0.9]]
ZERO3 = [0.0, 0.0, 0.0]
ROAD_W, ROAD_B = [[2.0, 0.0, 0.0]], [-1.0]  # on x / 255: road where band 1 >= 127.5


def _classes(scores, valid, names, suffix="", thresh=None, margin=1e-5):
    """Expected argmax classes of `scores` [c, h, w] (one channel: >= thresh), 255 outside `valid`."""
    if scores.shape[0] == 1:
        t = 0.5 if thresh is None else thresh
        cls = (scores[0] >= t).astype(np.uint8)
        close = np.abs(scores[0] - t) > margin
    else:
        cls = scores.argmax(axis=0).astype(np.uint8)
        top = np.sort(scores, axis=0)
        close = (top[-1] - top[-2]) > margin
    cls[~valid] = 255
    return Expected(suffix, names=names, band=cls, close=close | ~valid)


def _inp(shape):
    return [("x", shape)]


def build_two_heads(path):
    card = {"model_type": "Segmentor", "tiles_size": 64, "tiles_overlap": 10,
            "class_names": [{"0": "water", "1": "land", "2": "cloud"}, {"0": "road"}]}
    c1, i1 = _conv("x", "z", MIX, ZERO3)
    c2, i2 = _conv("x", "r", ROAD_W, ROAD_B)
    nodes = [c1, _node("Softmax", ["z"], ["landcover"], axis=1), c2, _node("Sigmoid", ["r"], ["roads"])]
    path.write_bytes(_model(nodes, _inp(["n", 3, "h", "w"]), [("landcover", ["n", 3, "h", "w"]),
                                                               ("roads", ["n", 1, "h", "w"])], i1 + i2, card))


def expect_two_heads(raw, valid):
    x = raw / 255.0
    return [_classes(_softmax(_numpy_conv(x, MIX, ZERO3)), valid, ["water", "land", "cloud"]),
            _classes(_sigmoid(_numpy_conv(x, ROAD_W, ROAD_B)), valid, ["background", "road"], "_roads")]


def build_one_head(path):
    card = {"model_type": "Segmentor", "tile_size": 64, "seg_thresh": 0.3, "class_names": [{"0": "Coffee"}]}
    c, i = _conv("x", "z", [[0.0, 3.0, 0.0]], [-1.5])
    nodes = [c, _node("Sigmoid", ["z"], ["y"])]
    path.write_bytes(_model(nodes, _inp(["n", 3, "h", "w"]), [("y", ["n", 1, "h", "w"])], i, card))


def expect_one_head(raw, valid):
    z = _numpy_conv(raw / 255.0, [[0.0, 3.0, 0.0]], [-1.5])
    return [_classes(_sigmoid(z), valid, ["background", "Coffee"], thresh=0.3)]


def build_rank3_batch1(path):
    """[b, H, W] output from a graph that declares a dynamic batch but reshapes to batch 1."""
    card = {"class_names": ["dry", "wet"], "rastrum_scale": 1 / 255}
    c, i = _conv("x", "z", [[0.0, 0.0, 4.0]], [-2.0])
    nodes = [c, _node("Reshape", ["z", "shape"], ["z3"]), _node("Sigmoid", ["z3"], ["y"])]
    inits = i + [_int64_tensor("shape", [1, 64, 64])]
    path.write_bytes(_model(nodes, _inp(["n", 3, 64, 64]), [("y", ["n", 64, 64])], inits, card))


def expect_rank3_batch1(raw, valid):
    z = _numpy_conv(raw / 255.0, [[0.0, 0.0, 4.0]], [-2.0])
    return [_classes(_sigmoid(z), valid, ["dry", "wet"])]


# Irregular weights: integer pixels give no exact ties.
LOGIT_W = [[0.0211, 0.0, 0.0013], [0.0, 0.0197, 0.0], [0.0007, 0.0, 0.0203]]
LOGIT_B = [0.0, 0.513, -0.487]


def build_logits(path):
    card = {"class_names": ["a", "b", "c"], "rastrum_task": "segmentation", "tile_size": 48}
    c, i = _conv("x", "y", LOGIT_W, LOGIT_B)
    path.write_bytes(_model([c], _inp(["n", 3, "h", "w"]), [("y", ["n", 3, "h", "w"])], i, card))


def expect_logits(raw, valid):
    p = _softmax(_numpy_conv(raw, LOGIT_W, LOGIT_B))
    e = _classes(p, valid, ["a", "b", "c"])
    e.probabilities = p
    return [e]


def build_crop(path):
    """512 -> 484: the model crops 14 pixels off each side of its output."""
    card = {"model_type": "Segmentor", "tile_size": 512, "class_names": {"0": "water", "1": "land", "2": "cloud"}}
    c, i = _conv("x", "z", MIX, ZERO3)
    nodes = [c, _node("Softmax", ["z"], ["p"], axis=1), _node("Slice", ["p", "starts", "ends", "axes"], ["y"])]
    inits = i + [_int64_tensor("starts", [14, 14]), _int64_tensor("ends", [498, 498]), _int64_tensor("axes", [2, 3])]
    path.write_bytes(_model(nodes, _inp(["n", 3, 512, 512]), [("y", ["n", 3, 484, 484])], inits, card))


def expect_crop(raw, valid):
    return [_classes(_softmax(_numpy_conv(raw / 255.0, MIX, ZERO3)), valid, ["water", "land", "cloud"])]


REG_W = [[0.5, 0.25, 0.25]]


def build_fixed_batch(path):
    """A fixed batch of 3: the last batch is padded."""
    card = {"model_type": "Regressor", "tile_size": 32, "reg_output_scaling": 2.0}
    c, i = _conv("x", "y", REG_W, [1.0])
    path.write_bytes(_model([c], _inp([3, 3, 32, 32]), [("y", [3, 1, 32, 32])], i, card))


def expect_fixed_batch(raw, valid):
    v = 2.0 * _numpy_conv(raw / 255.0, REG_W, [1.0])[0]
    v[~valid] = -9999.0
    return [Expected("", names=None, nodata=-9999.0, band=v, close=np.ones_like(valid))]


AVG_A = [[0.03, 0.0, 0.0], [0.0, 0.03, 0.0], [0.0, 0.0, 0.03]]
AVG_B = [[0.0, 0.02, 0.0], [0.0, 0.0, 0.02], [0.02, 0.0, 0.0]]


def build_averaged(path):
    """Two softmax heads averaged, as tf2onnx writes a Keras ensemble: Softmax -> Add -> Mul 0.5."""
    card = {"class_names": ["p", "q", "r"], "tile_size": 64}
    ca, ia = _conv("x", "za", AVG_A, ZERO3)
    cb, ib = _conv("x", "zb", AVG_B, ZERO3)
    nodes = [ca, cb, _node("Softmax", ["za"], ["pa"], axis=1), _node("Softmax", ["zb"], ["pb"], axis=1),
             _node("Add", ["pa", "pb"], ["s"]), _node("Mul", ["s", "half"], ["y"])]
    inits = ia + ib + [_float_tensor("half", np.array(0.5, dtype=np.float32))]
    path.write_bytes(_model(nodes, _inp(["n", 3, "h", "w"]), [("y", ["n", 3, "h", "w"])], inits, card))


def expect_averaged(raw, valid):
    p = 0.5 * (_softmax(_numpy_conv(raw, AVG_A, ZERO3)) + _softmax(_numpy_conv(raw, AVG_B, ZERO3)))
    e = _classes(p, valid, ["p", "q", "r"])
    e.probabilities = p
    return [e]


SIG_W, SIG_B = [[0.04, 0.0, 0.0]], [-5.02]


def build_sigmoid_logits(path):
    card = {"class_names": {"0": "bare", "1": "crop"}, "rastrum_task": "segmentation", "tile_size": 64}
    c, i = _conv("x", "y", SIG_W, SIG_B)
    path.write_bytes(_model([c], _inp(["n", 3, "h", "w"]), [("y", ["n", 1, "h", "w"])], i, card))


def expect_sigmoid_logits(raw, valid):
    return [_classes(_sigmoid(_numpy_conv(raw, SIG_W, SIG_B)), valid, ["bare", "crop"])]


def build_far_resolution(path):
    card = {"model_type": "Segmentor", "tile_size": 64, "resolution": 5, "class_names": {"0": "a", "1": "b"}}
    c, i = _conv("x", "y", [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], [0.0, 0.0])
    path.write_bytes(_model([c], _inp(["n", 3, "h", "w"]), [("y", ["n", 2, "h", "w"])], i, card))


CORPUS = [
    Entry("two_heads", "list-of-objects class names, two heads: softmax [b,3,H,W] and sigmoid [b,1,H,W]",
          "segment", build_two_heads, expect_two_heads),
    Entry("one_head", "list-of-objects class names, one sigmoid head [b,1,H,W], seg_thresh 0.3",
          "segment", build_one_head, expect_one_head),
    Entry("rank3_batch1", "[b,H,W] output of a graph that runs at batch 1 only", "segment",
          build_rank3_batch1, expect_rank3_batch1, batch_fallback=True),
    Entry("logits", "[b,C,H,W] logits: softmax applied, probabilities written", "segment",
          build_logits, expect_logits, options={"probabilities": True}),
    Entry("crop", "512 -> 484 outputs (the model crops its border)", "segment", build_crop, expect_crop),
    Entry("fixed_batch", "a fixed batch of 3, regression with reg_output_scaling", "regress",
          build_fixed_batch, expect_fixed_batch),
    Entry("averaged", "averaged softmax heads: the graph's probabilities are kept", "segment",
          build_averaged, expect_averaged, options={"probabilities": True}),
    Entry("sigmoid_logits", "one-channel logits: sigmoid applied, thresholded at 0.5", "segment",
          build_sigmoid_logits, expect_sigmoid_logits),
    Entry("far_resolution", "a 5 cm card on a 10 m raster: refused before any tile", "segment",
          build_far_resolution, error="resolution is 5 cm per pixel and the raster's 1000"),
]


def corpus_raster(path):
    """The input: 3 bands of seeded random bytes, 150 x 110 pixels of 10 m (UTM 33N), nodata 0
    (about 3 % of the pixels have a 0 in some band), with a 0 block in one corner."""
    from osgeo import gdal, osr

    rng = np.random.default_rng(22)
    data = rng.integers(0, 256, size=(3, 110, 150), dtype=np.uint8)
    data[:, :12, :20] = 0
    ds = gdal.GetDriverByName("GTiff").Create(str(path), 150, 110, 3, gdal.GDT_Byte)
    ds.SetGeoTransform((500000.0, 10.0, 0.0, 5000000.0, 0.0, -10.0))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    ds.SetProjection(srs.ExportToWkt())
    for b in range(3):
        band = ds.GetRasterBand(b + 1)
        band.WriteArray(data[b])
        band.SetNoDataValue(0)
    ds = None
    return data.astype(np.float64), (data != 0).all(axis=0)


DET_TILE, DET_STRIDE, DET_SIDE = 64, 4, 32.0


def build_detector(path, card=None):
    """An Ultralytics-format detector ([b, 4 + 2, N]) decodable by hand: at every 4th pixel of a
    64-pixel tile an anchor whose box is centred on the pixel, of side band 3 / 255 * 32, scoring
    band 1 / 255 for 'plane' and band 2 / 255 for 'ship' (a Deepness Detector card: inputs / 255)."""
    cells = DET_TILE // DET_STRIDE
    grid = np.arange(cells, dtype=np.float32) * DET_STRIDE + 0.5
    cx, cy = np.meshgrid(grid, grid)
    inits = [_float_tensor("w", np.eye(3, dtype=np.float32).reshape(3, 3, 1, 1)),
             _float_tensor("cx", cx.reshape(1, 1, cells, cells)), _float_tensor("cy", cy.reshape(1, 1, cells, cells)),
             _float_tensor("side", np.array([DET_SIDE], np.float32)),
             _int64_tensor("flat", [0, -1, cells * cells])]
    nodes = [_node("Conv", ["x", "w"], ["s"], kernel_shape=[1, 1], strides=[DET_STRIDE, DET_STRIDE]),
             _node("Split", ["s"], ["c0", "c1", "b3"], axis=1),
             _node("Mul", ["b3", "side"], ["wh"]),
             _node("Sub", ["c0", "c0"], ["zero"]),
             _node("Add", ["zero", "cx"], ["bx"]), _node("Add", ["zero", "cy"], ["by"]),
             _node("Concat", ["bx", "by", "wh", "wh", "c0", "c1"], ["cat"], axis=1),
             _node("Reshape", ["cat", "flat"], ["y"])]
    card = card or {"model_type": "Detector", "det_type": "YOLO_Ultralytics", "class_names": {"0": "plane", "1": "ship"}}
    path.write_bytes(_model(nodes, [("x", ["n", 3, DET_TILE, DET_TILE])],
                            [("y", ["n", 6, cells * cells])], inits, card))


def detection_scene(path, objects, width=200, height=164):
    """A 3-band byte scene of `objects` (x, y, class, side) planted at anchor pixels (multiples of
    4), georeferenced at 10 m; returns the expected boxes (class, x1, y1, x2, y2) in map units."""
    from osgeo import gdal, osr

    data = np.zeros((3, height, width), np.uint8)
    expected = set()
    for x, y, cls, side in objects:
        data[cls, y, x] = 230
        data[2, y, x] = round(side / DET_SIDE * 255)
        s = data[2, y, x] / 255 * DET_SIDE
        x1, x2 = 500000 + 10 * (x + 0.5 - s / 2), 500000 + 10 * (x + 0.5 + s / 2)
        y1, y2 = 5000000 - 10 * (y + 0.5 + s / 2), 5000000 - 10 * (y + 0.5 - s / 2)
        expected.add((cls, round(x1, 2), round(y1, 2), round(x2, 2), round(y2, 2)))
    ds = gdal.GetDriverByName("GTiff").Create(str(path), width, height, 3, gdal.GDT_Byte)
    ds.SetGeoTransform((500000.0, 10.0, 0.0, 5000000.0, 0.0, -10.0))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    ds.SetProjection(srs.ExportToWkt())
    ds.WriteRaster(0, 0, width, height, data.tobytes())
    ds = None
    return expected
