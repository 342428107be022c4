"""The ctypes binding (qgis_plugin/rastrum/_native.py, imported as the `rastrum` package) against
the real librastrum: the package's exports, loading and ABI, statuses and exceptions, buffer inference against the ONNX Model Zoo's golden output, full
runs of the real cloud mask scored against hand labels, progress and cancellation, a panic
caught at the boundary, and the run_window.py example."""

import ctypes
import os
import re
import shutil
import struct
import subprocess
import sys
import threading

import numpy as np
import pytest
from osgeo import gdal

from conftest import PACKAGE_DIR, PLUGIN_DIR, ROOT

gdal.UseExceptions()

SR_DATA = ROOT / "data/super_resolution"
S2_IMAGE = ROOT / "data/sentinel2_sample/sentinel2_img_6band_toa.tif"
S2_LABELS = ROOT / "data/sentinel2_sample/sentinel2_msk_label.tif"
LANDSAT_B4 = ROOT / "data/landsat8_l1_b2_b7/l8_B4.tif"


def header_defines():
    """Every `#define RASTRUM_NAME value` of the authoritative header."""
    text = (ROOT / "include/rastrum.h").read_text()
    return {m[1]: m[2] for m in re.finditer(r"^#define RASTRUM_(\w+) (\S+)$", text, re.M)}


def subprocess_env(**changes):
    env = dict(os.environ)
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_python(code, env):
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


# --- TensorProto, read by hand (no onnx package): the fields an ONNX test set uses.


def _varint(buf, pos):
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def read_tensor_proto(path):
    """A float TensorProto as a numpy array: dims (field 1, int64, packed or not), data_type
    (field 2, 1 = FLOAT), float_data (field 4, packed or not) or raw_data (field 9, LE f32)."""
    buf = path.read_bytes()
    dims, data_type, raw, floats = [], None, None, []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire} in {path}")
        if field == 1 and wire == 0:
            dims.append(value)
        elif field == 1 and wire == 2:
            p = 0
            while p < len(value):
                d, p = _varint(value, p)
                dims.append(d)
        elif field == 2:
            data_type = value
        elif field == 4 and wire == 5:
            floats.append(struct.unpack("<f", value)[0])
        elif field == 4 and wire == 2:
            floats.extend(np.frombuffer(value, "<f4"))
        elif field == 9:
            raw = value
    assert data_type == 1, f"{path}: data_type {data_type} is not FLOAT"
    dims = [d - (1 << 64) if d >= 1 << 63 else d for d in dims]
    data = np.frombuffer(raw, "<f4") if raw is not None else np.asarray(floats, np.float32)
    return data.astype(np.float32).reshape(dims)


def read_band(path, band=1):
    ds = gdal.Open(str(path))
    try:
        return ds.GetRasterBand(band).ReadAsArray()
    finally:
        ds = None


def kappa(pred, truth, classes):
    m = np.zeros((classes, classes))
    np.add.at(m, (truth.ravel(), pred.ravel()), 1)
    n = m.sum()
    po = np.trace(m) / n
    pe = (m.sum(axis=1) * m.sum(axis=0)).sum() / n**2
    return (po - pe) / (1 - pe)


# --- Library, versions, statuses


def test_version_and_abi_match_the_header_and_cargo(rastrum):
    defines = header_defines()
    cargo = re.search(r'^version = "([^"]+)"', (ROOT / "Cargo.toml").read_text(), re.M)[1]
    assert rastrum.version() == defines["VERSION_STRING"].strip('"') == cargo
    assert rastrum.abi_version() == rastrum.ABI_VERSION == int(defines["ABI_VERSION"])
    assert os.path.realpath(rastrum.library_path()) == os.path.realpath(os.environ["RASTRUM_LIBRARY"])


def test_the_package_exports_the_binding_without_importing_it_first(rastrum):
    code = (
        "import sys; import rastrum; loaded = sorted(m for m in sys.modules if m.startswith('rastrum')); "
        "print(loaded, rastrum.ABI_VERSION, rastrum.Model.__module__)"
    )
    proc = run_python(code, subprocess_env(PYTHONPATH=str(PLUGIN_DIR)))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["['rastrum']", str(rastrum.ABI_VERSION), "rastrum._native"]
    # Every public name of the binding, and nothing but them and classFactory.
    assert set(rastrum.__all__) == {"classFactory"} | {n for n in rastrum._native.__all__ if not n.isupper()}
    for name in rastrum._native.__all__:
        assert getattr(rastrum, name) is getattr(rastrum._native, name), name
    assert {"Model", "Options", "run", "assemble", "Plan", "Stitcher", "CancelToken", "version"} <= set(dir(rastrum))
    with pytest.raises(AttributeError):
        rastrum.NO_SUCH_CONSTANT
    with pytest.raises(AttributeError):
        rastrum.no_such_function


def header_statuses(defines):
    """The header's status codes: its #defines but the versions, the stitch modes and the data
    types of rastrum_plan_info (each listed, so that a new kind of constant fails here)."""
    others = {name for name in defines if name.startswith(("VERSION_", "STITCH_", "TYPE_"))} | {"ABI_VERSION"}
    assert others == {
        "VERSION_MAJOR", "VERSION_MINOR", "VERSION_PATCH", "VERSION_STRING", "ABI_VERSION",
        "STITCH_BLEND", "STITCH_CROP", "TYPE_BYTE", "TYPE_FLOAT32",
    }
    return {name: int(value) for name, value in defines.items() if name not in others}


def test_the_status_table_is_the_header_s(rastrum):
    # Name for name and number for number: the binding's one table and the header's #defines.
    assert rastrum.STATUSES == header_statuses(header_defines())
    assert list(rastrum.STATUSES.values()) == list(range(len(rastrum.STATUSES))), "append-only numbers"
    # Each code has its exception (OK none), and every exception class of the binding has a code.
    errors = rastrum._native._ERRORS
    assert set(errors) == set(rastrum.STATUSES.values()) - {rastrum.OK}
    classes = {v for v in vars(rastrum._native).values() if isinstance(v, type) and issubclass(v, rastrum.RastrumError)}
    assert classes - {rastrum.RastrumError} == set(errors.values())


def test_status_constants_names_and_exception_classes(rastrum):
    defines = header_defines()
    # The other constants of the header: stitch modes and data types of rastrum_plan_info.
    others = {name for name in defines if name.startswith(("STITCH_", "TYPE_"))}
    assert others == {"STITCH_BLEND", "STITCH_CROP", "TYPE_BYTE", "TYPE_FLOAT32"}
    for name in others:
        assert getattr(rastrum, name) == int(defines[name]), name
    statuses = {
        name: int(value)
        for name, value in defines.items()
        if not name.startswith("VERSION") and name != "ABI_VERSION" and name not in others
    }
    assert len(statuses) == 11 and statuses["OK"] == 0
    for name, code in statuses.items():
        assert getattr(rastrum, name) == code, name
        assert rastrum.status_name(code) == name
    assert rastrum.status_description(rastrum.CANCELLED) == "cancelled"
    assert rastrum.status_description(rastrum.IO) == "input/output error"
    assert rastrum.status_description(99) == "unknown status"
    assert rastrum.status_name(99) == "UNKNOWN(99)"

    expected = {
        "INVALID_ARGUMENT": rastrum.InvalidArgumentError,
        "IO": rastrum.RastrumIOError,
        "RASTER": rastrum.RasterError,
        "MODEL": rastrum.ModelError,
        "RUNTIME": rastrum.RastrumRuntimeError,
        "PROVIDER": rastrum.ProviderError,
        "CANCELLED": rastrum.CancelledError,
        "PANIC": rastrum.PanicError,
        "INTERNAL": rastrum.InternalError,
        "BUFFER_TOO_SMALL": rastrum.BufferTooSmallError,
    }
    assert set(expected) == set(statuses) - {"OK"}
    for name, cls in expected.items():
        error = rastrum._native._error(statuses[name])
        assert type(error) is cls and isinstance(error, rastrum.RastrumError)
        assert (error.status, error.status_name) == (statuses[name], name)
    assert rastrum._native._error(rastrum.OK) is None
    assert issubclass(rastrum.InvalidArgumentError, ValueError)
    assert issubclass(rastrum.RastrumIOError, OSError)


def test_missing_model_raises_the_io_error_naming_the_path(rastrum, tmp_path):
    missing = tmp_path / "absent-model.onnx"
    with pytest.raises(rastrum.RastrumIOError) as info:
        rastrum.Model(missing)
    assert isinstance(info.value, OSError)
    assert info.value.status == rastrum.IO and info.value.status_name == "IO"
    assert str(missing) in info.value.message and str(missing) in str(info.value)


def test_unknown_option_key_and_bad_value_raise_invalid_argument_naming_them(rastrum):
    options = rastrum.Options()
    with pytest.raises(rastrum.InvalidArgumentError) as info:
        options.set("tile-sise", 64)
    assert isinstance(info.value, ValueError)
    assert info.value.status == rastrum.INVALID_ARGUMENT
    assert "tile-sise" in info.value.message
    with pytest.raises(rastrum.InvalidArgumentError, match="no-such-option"):
        rastrum.Options(no_such_option=1)
    with pytest.raises(rastrum.InvalidArgumentError, match="tile-size.*'big'"):
        rastrum.Options(tile_size="big")
    # A failed set leaves the options usable.
    assert options.set("tile-size", 64) is options


def test_option_values_are_converted_to_the_cli_text(rastrum, sr_model):
    assert rastrum._native._option_text(True) == "true" and rastrum._native._option_text(False) == "false"
    assert rastrum._native._option_text([4, 3, 2]) == "4,3,2"
    assert rastrum._native._option_text(np.array([0.5, 1.5])) == "0.5,1.5"
    # The library's resolved settings show that each conversion was parsed as meant.
    options = rastrum.Options(bands=[1], scale=2e-5, offset=-0.1, overlap=16, stitch="crop", nodata=None)
    resolved = sr_model.card(options)["resolved"]
    assert resolved["bands"] == [1]
    assert resolved["scale"] == [2e-5] and resolved["offset"] == [-0.1]
    assert resolved["overlap"] == 16 and resolved["stitch"] == "crop"
    assert resolved["nodata"] is None
    # A dict works where Options do.
    assert sr_model.card({"overlap": 20})["resolved"]["overlap"] == 20


def test_abi_mismatch_names_both_versions(rastrum):
    mine, other = rastrum.ABI_VERSION, rastrum.ABI_VERSION - 1

    class OtherAbi:
        def rastrum_abi_version(self):
            return other

    match = rf"other\.so.*ABI version {other}.*ABI version {mine}.*librastrum\.so\.{mine}"
    with pytest.raises(rastrum.LibraryLoadError, match=match):
        rastrum._native._check_abi(OtherAbi(), "/x/other.so")


def test_library_search_order_and_the_error_listing_where_it_looked(rastrum, tmp_path):
    # The package alone, in a folder with nothing next to it and no ../lib: every place fails.
    lone = tmp_path / "lone" / "rastrum"
    lone.mkdir(parents=True)
    for name in ("__init__.py", "_native.py"):
        shutil.copy(PACKAGE_DIR / name, lone)
    soname = f"librastrum.so.{rastrum.ABI_VERSION}"
    code = f"import sys; sys.path.insert(0, {str(lone.parent)!r}); import rastrum; print(rastrum.library_path())"
    env = subprocess_env(RASTRUM_LIBRARY=None, LD_LIBRARY_PATH=None, PYTHONPATH=None)
    proc = run_python(code, env)
    assert proc.returncode != 0
    assert "LibraryLoadError" in proc.stderr
    for place in [lone / soname, lone / "librastrum.so", tmp_path / "lone" / "lib" / soname]:
        assert str(place) in proc.stderr, proc.stderr
    assert "dynamic loader search" in proc.stderr and "RASTRUM_LIBRARY" in proc.stderr

    # RASTRUM_LIBRARY is an explicit choice: a wrong one fails, without trying elsewhere.
    proc = run_python(code, subprocess_env(RASTRUM_LIBRARY=str(tmp_path / "nowhere.so")))
    assert proc.returncode != 0 and "nowhere.so (no such file)" in proc.stderr

    # ../lib/librastrum.so.<ABI>, as a plugin bundle lays it out.
    (tmp_path / "lone" / "lib").mkdir()
    (tmp_path / "lone" / "lib" / soname).symlink_to(os.environ["RASTRUM_LIBRARY"])
    proc = run_python(code, env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(tmp_path / "lone" / "lib" / soname)

    # Next to the module comes first.
    (lone / "librastrum.so").symlink_to(os.environ["RASTRUM_LIBRARY"])
    proc = run_python(code, env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(lone / "librastrum.so")


def test_init_refuses_to_switch_onnx_runtime_once_loaded(rastrum, sr_model, tmp_path):
    other = tmp_path / "libonnxruntime.so"
    with pytest.raises(rastrum.RastrumRuntimeError, match="cannot switch") as info:
        rastrum.init(other)
    assert str(other) in info.value.message
    # Asking again for the library already loaded is fine.
    loaded = re.search(r"already loaded from (\S+);", info.value.message)[1]
    rastrum.init(loaded)


def test_a_panic_in_the_library_becomes_panic_error_and_the_host_goes_on(rastrum):
    code = f"""
import sys
sys.path.insert(0, {str(PLUGIN_DIR)!r})
import rastrum
try:
    rastrum.Options(tile_size=64)
    print("no exception")
except Exception as e:
    print(type(e).__name__, e.status_name)
    print(e.message)
print("alive", rastrum.version())
"""
    proc = run_python(code, subprocess_env(RASTRUM_INJECT_PANIC="rastrum_options_set"))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "PanicError PANIC", proc.stdout
    assert "rastrum_options_set" in lines[1]
    assert lines[2] == f"alive {rastrum.version()}"


# --- Models and buffers


def test_model_provider_card_and_close(rastrum):
    model = rastrum.Model(SR_DATA / "super-resolution-10.onnx", device="cpu", threads=1)
    with model:
        assert model.provider == "cpu"
        card = model.card()
        assert card["inputs"][0]["shape"] == [-1, 1, 224, 224]
        assert card["resolved"]["task"] == "super_resolution"
        assert card["resolved"]["scale_factor"] == 3
    assert model.closed
    with pytest.raises(ValueError, match="closed"):
        model.provider
    model.close()  # twice is fine


def test_unknown_device_is_an_invalid_argument(rastrum):
    with pytest.raises(rastrum.InvalidArgumentError, match="gpu9"):
        rastrum.Model(SR_DATA / "super-resolution-10.onnx", device="gpu9")


def test_super_resolution_reproduces_its_golden_output(rastrum, sr_model):
    x = read_tensor_proto(SR_DATA / "test_data_set_0/input_0.pb")
    golden = read_tensor_proto(SR_DATA / "test_data_set_0/output_0.pb")
    # The test set stores its input as a bare image, without the batch and channel axes.
    assert x.shape == (224, 224) and golden.shape == (1, 1, 672, 672)
    x = x.reshape(1, 1, 224, 224)
    assert sr_model.output_shape((1, 1, 224, 224)) == (1, 1, 672, 672)
    y = sr_model.run_array(x)
    assert y.dtype == np.float32 and y.shape == golden.shape
    assert np.abs(y - golden).max() <= 1e-5
    # Any other layout or type is converted once to the same values.
    assert np.array_equal(sr_model.run_array(x.astype(np.float64)), y)
    assert np.array_equal(sr_model.run_array(np.asfortranarray(x)), y)
    assert np.array_equal(sr_model.run_array(x.astype(">f4")), y)


def test_run_array_rejects_bad_shapes(rastrum, sr_model):
    with pytest.raises(rastrum.InvalidArgumentError, match="4 dimensions"):
        sr_model.run_array(np.zeros((1, 224, 224), np.float32))
    with pytest.raises(rastrum.InvalidArgumentError, match="zero dimension"):
        sr_model.output_shape((0, 1, 224, 224))
    # The model's input is fixed at 224x224: ONNX Runtime refuses the rest.
    with pytest.raises(rastrum.RastrumError, match="224"):
        sr_model.run_array(np.zeros((1, 1, 100, 100), np.float32))


def test_output_shape_size_query_reports_rank_when_the_buffer_is_short(rastrum, sr_model):
    lib = rastrum.load_library()
    dims = (ctypes.c_int64 * 2)()
    rank, length = ctypes.c_size_t(), ctypes.c_size_t()
    with sr_model._use() as handle:
        status = lib.rastrum_model_output_shape(
            handle, 1, 1, 224, 224, 0, dims, 2, ctypes.byref(rank), ctypes.byref(length)
        )
    with pytest.raises(rastrum.BufferTooSmallError):
        rastrum._native._check(status)
    assert (rank.value, length.value) == (4, 672 * 672)
    assert list(dims) == [1, 1]


def test_one_model_runs_from_many_threads_at_once(rastrum, sr_model):
    rng = np.random.default_rng(7)
    inputs = [rng.random((1, 1, 224, 224), dtype=np.float32) for _ in range(4)]
    expected = [sr_model.run_array(x) for x in inputs]
    results = [None] * len(inputs)

    def work(i):
        results[i] = sr_model.run_array(inputs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected):
        assert np.array_equal(got, want)


# --- Full runs


@pytest.fixture
def cloud_options(rastrum, cloud_stats):
    mean, std = cloud_stats
    return rastrum.Options(mean=mean, std=std, tile_size=256, overlap=51)


def test_cloud_mask_run_matches_the_hand_labels(rastrum, cloud_model, cloud_options, tmp_path):
    out = tmp_path / "mask.tif"
    cloud_options.set("co", ["COMPRESS=LZW", "BLOCKXSIZE=128", "BLOCKYSIZE=128"])
    summary = rastrum.run(cloud_model, S2_IMAGE, out, cloud_options)
    assert summary["tiles_total"] == 9 and summary["tiles_run"] == 9 and summary["tiles_skipped"] == 0
    assert summary["outputs"] == [str(out)]

    ds = gdal.Open(str(out))
    assert (ds.RasterXSize, ds.RasterYSize) == (512, 512)
    # The creation options went through, each of the list.
    assert ds.GetMetadata("IMAGE_STRUCTURE")["COMPRESSION"] == "LZW"
    assert ds.GetRasterBand(1).GetBlockSize() == [128, 128]
    pred = ds.GetRasterBand(1).ReadAsArray()
    ds = None
    assert set(np.unique(pred)) <= {0, 1, 2}
    counts = np.bincount(pred.ravel(), minlength=3)
    assert [summary["class_counts"][f"class {c}"] for c in range(3)] == counts.tolist()

    labels = read_band(S2_LABELS)
    assert labels.shape == pred.shape
    # Upstream mapping: 0 -> shadow (2), 1/2/3 -> clear (0), 4 -> cloud (1).
    truth = np.full(labels.shape, 255, np.uint8)
    truth[labels == 0] = 2
    truth[(labels >= 1) & (labels <= 3)] = 0
    truth[labels == 4] = 1
    assert (truth != 255).all(), "unexpected label value"
    k = kappa(pred.astype(np.int64), truth.astype(np.int64), 3)
    print(f"cloud mask: Cohen's kappa against the hand labels = {k:.4f}")
    assert k >= 0.60, f"Cohen's kappa {k:.4f} below the upstream bar 0.60"


@pytest.fixture
def small_options(rastrum, cloud_stats):
    """Four 256-pixel tiles without overlap, one per batch: four progress steps."""
    mean, std = cloud_stats
    return rastrum.Options(mean=mean, std=std, tile_size=256, overlap=0, batch=1)


def test_progress_reports_increasing_fractions_ending_at_one(rastrum, cloud_model, small_options, tmp_path):
    seen = []
    summary = rastrum.run(
        cloud_model, S2_IMAGE, tmp_path / "out.tif", small_options, progress=lambda f, m: seen.append((f, m))
    )
    fractions = [f for f, _ in seen]
    assert fractions == [0.25, 0.5, 0.75, 1.0]
    assert all(isinstance(m, str) and m for _, m in seen)
    assert summary["tiles_run"] == 4
    assert (tmp_path / "out.tif").is_file()


def test_returning_false_cancels_leaves_nothing_and_the_model_runs_again(
    rastrum, cloud_model, small_options, tmp_path
):
    seen = []

    def stop_halfway(fraction, message):
        seen.append(fraction)
        return fraction < 0.5

    out = tmp_path / "out.tif"
    with pytest.raises(rastrum.CancelledError) as info:
        rastrum.run(cloud_model, S2_IMAGE, out, small_options, progress=stop_halfway)
    assert info.value.status == rastrum.CANCELLED
    assert seen == [0.25, 0.5], "no progress after the callable said stop"
    assert os.listdir(tmp_path) == [], "no output and no hidden temporary file"

    summary = rastrum.run(cloud_model, S2_IMAGE, out, small_options)
    assert summary["tiles_run"] == 4 and out.is_file()


def test_a_cancel_token_triggered_before_the_run_cancels_it(rastrum, cloud_model, small_options, tmp_path):
    out = tmp_path / "out.tif"
    seen = []
    with rastrum.CancelToken() as token:
        token.cancel()
        with pytest.raises(rastrum.CancelledError):
            rastrum.run(cloud_model, S2_IMAGE, out, small_options, progress=lambda f, m: seen.append(f), cancel=token)
        assert seen == [] and os.listdir(tmp_path) == []

        # The caller's options were not given the token: they still run.
        rastrum.run(cloud_model, S2_IMAGE, out, small_options)
        for name in os.listdir(tmp_path):
            (tmp_path / name).unlink()

        token.reset()
        summary = rastrum.run(cloud_model, S2_IMAGE, out, small_options, cancel=token)
        assert summary["tiles_run"] == 4 and out.is_file()


def test_a_cancel_token_triggered_during_the_run_stops_it(rastrum, cloud_model, small_options, tmp_path):
    seen = []
    token = rastrum.CancelToken()

    def cancel_from_elsewhere(fraction, message):
        # Standing in for another thread: the token is checked at the next batch.
        seen.append(fraction)
        token.cancel()

    with pytest.raises(rastrum.CancelledError):
        rastrum.run(cloud_model, S2_IMAGE, tmp_path / "out.tif", small_options, progress=cancel_from_elsewhere, cancel=token)
    assert seen == [0.25]
    assert os.listdir(tmp_path) == []
    token.close()


def test_an_exception_in_the_progress_callable_is_re_raised_and_leaves_nothing(
    rastrum, cloud_model, small_options, tmp_path
):
    class Boom(Exception):
        pass

    calls = []

    def explode(fraction, message):
        calls.append(fraction)
        raise Boom("from the progress callable")

    with pytest.raises(Boom, match="from the progress callable"):
        rastrum.run(cloud_model, S2_IMAGE, tmp_path / "out.tif", small_options, progress=explode)
    assert calls == [0.25], "the run stopped at the first exception"
    assert os.listdir(tmp_path) == []


def test_run_errors_name_the_problem(rastrum, cloud_model, small_options, tmp_path):
    with pytest.raises(rastrum.RastrumIOError, match="no-such-input.tif"):
        rastrum.run(cloud_model, tmp_path / "no-such-input.tif", tmp_path / "out.tif", small_options)
    with pytest.raises(rastrum.RastrumIOError, match="folder .*no-such-folder does not exist"):
        rastrum.run(cloud_model, S2_IMAGE, tmp_path / "no-such-folder" / "out.tif", small_options)
    # A one-band raster for a six-band model.
    with pytest.raises(rastrum.InvalidArgumentError, match=r"takes 6 channel\(s\) but the raster has 1 band"):
        rastrum.run(cloud_model, LANDSAT_B4, tmp_path / "out.tif")
    assert os.listdir(tmp_path) == []


# --- The example script


def test_run_window_example_writes_a_georeferenced_x3_window(rastrum, tmp_path):
    out = tmp_path / "sr_window.tif"
    xoff, yoff = 100, 50
    proc = subprocess.run(
        [
            sys.executable, str(ROOT / "examples/python/run_window.py"),
            str(SR_DATA / "super-resolution-10.onnx"), str(LANDSAT_B4), str(out),
            "--window", str(xoff), str(yoff), "224", "224", "--scale", "2e-5", "--offset", "-0.1",
        ],
        env=subprocess_env(), capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr

    src = gdal.Open(str(LANDSAT_B4))
    gi = src.GetGeoTransform()
    window = src.GetRasterBand(1).ReadAsArray(xoff, yoff, 224, 224).astype(np.float64) * 2e-5 - 0.1
    assert (gi[1], gi[5]) == (30.0, -30.0)
    ds = gdal.Open(str(out))
    go = ds.GetGeoTransform()
    assert (ds.RasterXSize, ds.RasterYSize, ds.RasterCount) == (672, 672, 1)
    assert (go[1], go[5]) == (10.0, -10.0)
    assert (go[0], go[3]) == (gi[0] + xoff * 30.0, gi[3] - yoff * 30.0)
    assert ds.GetProjection() == src.GetProjection()
    sr = ds.GetRasterBand(1).ReadAsArray().astype(np.float64)
    ds = src = None
    # The x3 image is this window's: averaged back to 30 m it follows the input pixel for pixel.
    back = sr.reshape(224, 3, 224, 3).mean(axis=(1, 3))
    assert abs(back.mean() - window.mean()) < 0.05 * abs(window.mean())
    assert np.corrcoef(back.ravel(), window.ravel())[0, 1] > 0.95


# --- rastrum eval and rastrum tiles through the binding


def write_tif(path, array, nodata=None):
    array = np.asarray(array)
    kind = gdal.GDT_Byte if array.dtype == np.uint8 else gdal.GDT_Float32
    ds = gdal.GetDriverByName("GTiff").Create(str(path), array.shape[1], array.shape[0], 1, kind)
    band = ds.GetRasterBand(1)
    if nodata is not None:
        band.SetNoDataValue(nodata)
    band.WriteArray(array)
    band = ds = None


def test_evaluate_scores_classes_and_values_as_computed_by_hand(rastrum, tmp_path):
    pred = np.array([[0, 0, 1], [1, 2, 2]], np.uint8)
    ref = np.array([[0, 1, 1], [1, 2, 0]], np.uint8)
    write_tif(tmp_path / "pred.tif", pred)
    write_tif(tmp_path / "ref.tif", ref)
    report = rastrum.evaluate(tmp_path / "pred.tif", tmp_path / "ref.tif")
    classes = report["classes"]
    # Rows reference, columns prediction: 0 -> (0, 2), 1 -> (0, 1, 1), 2 -> (2).
    assert classes["confusion"] == [[1, 0, 1], [1, 2, 0], [0, 0, 1]]
    assert classes["overall_accuracy"] == pytest.approx(4 / 6)
    assert classes["kappa"] == pytest.approx(kappa(pred, ref, 3))

    write_tif(tmp_path / "p.tif", np.array([[1.0, 2.0], [3.0, -9.0]], np.float32), nodata=-9.0)
    write_tif(tmp_path / "r.tif", np.array([[1.5, 2.0], [1.0, 7.0]], np.float32))
    values = rastrum.evaluate(tmp_path / "p.tif", tmp_path / "r.tif", kind="values")["values"]
    # Errors -0.5, 0, 2 (the nodata pixel is left out).
    assert values["mae"] == pytest.approx(2.5 / 3)
    assert values["bias"] == pytest.approx(1.5 / 3)
    assert values["count"] == 3

    with pytest.raises(rastrum.InvalidArgumentError, match="colour"):
        rastrum.evaluate(tmp_path / "p.tif", tmp_path / "r.tif", colour="red")


def test_tiles_writes_the_pyramid_and_a_cancel_leaves_nothing(rastrum, tmp_path):
    source = ROOT / "data" / "rasterio" / "rasterio_RGB.byte.tif"
    seen = []
    summary = rastrum.tiles(source, tmp_path / "xyz", zoom="7-8", progress=lambda f, m: seen.append(f))
    written = sorted(p.relative_to(tmp_path / "xyz").as_posix() for p in (tmp_path / "xyz").rglob("*.png"))
    assert written and all(re.fullmatch(r"[78]/\d+/\d+\.png", p) for p in written)
    assert (tmp_path / "xyz" / "index.html").exists() and seen and seen[-1] == pytest.approx(1.0)
    assert isinstance(summary, dict) and summary
    with pytest.raises(rastrum.CancelledError):
        rastrum.tiles([source], tmp_path / "cancelled", zoom="7-8", progress=lambda f, m: False)
    assert not (tmp_path / "cancelled").exists()
    with pytest.raises(rastrum.InvalidArgumentError, match="zoom"):
        rastrum.tiles(source, tmp_path / "bad", zoom="9-3")


def test_copied_options_are_independent_and_a_token_can_be_detached(rastrum, cloud_model, small_options, tmp_path):
    with rastrum.CancelToken() as token:
        token.cancel()
        base = small_options.copy().set_cancel(token)
        clone = base.copy()
        # The clone keeps the settings and the token (rastrum_options_clone) ...
        assert repr(clone) == repr(base)
        with pytest.raises(rastrum.CancelledError):
            rastrum.run(cloud_model, S2_IMAGE, tmp_path / "a.tif", clone)
        # ... and changes to it do not reach the original.
        clone.set("tile-size", "128")
        assert "tile-size='128'" in repr(clone) and "tile-size='128'" not in repr(base)
        with pytest.raises(rastrum.InvalidArgumentError, match="128"):
            rastrum.run(cloud_model, S2_IMAGE, tmp_path / "b.tif", clone.clear_cancel())
        # Detached, the original runs although its token is still cancelled.
        summary = rastrum.run(cloud_model, S2_IMAGE, tmp_path / "c.tif", base.clear_cancel())
        assert summary["tiles_run"] == 4
        for o in (base, clone):
            o.close()


# --- tiling and stitching on their own (the host runs the model)


def band_bytes(path):
    ds = gdal.Open(str(path))
    bands = [ds.GetRasterBand(b).ReadAsArray() for b in range(1, ds.RasterCount + 1)]
    geo = (ds.GetGeoTransform(), ds.GetProjection(), [ds.GetRasterBand(b).GetNoDataValue() for b in range(1, ds.RasterCount + 1)])
    ds = None
    return bands, geo


def test_the_host_running_the_model_on_planned_tiles_stitches_run_s_bytes(rastrum, sr_model, tmp_path):
    options = {"scale": 2e-5, "offset": -0.1, "overlap": 16}
    reference = tmp_path / "run.tif"
    rastrum.run(sr_model, LANDSAT_B4, reference, options)
    with rastrum.Plan(LANDSAT_B4, model=sr_model, options=options) as plan:
        info = plan.info
        assert info["tile_count"] == info["tile_columns"] * info["tile_rows"] > 1
        assert (info["tile_size"], info["output_size"], info["scale_factor"]) == (224, 672, 3)
        assert info["data_type"] == rastrum.TYPE_FLOAT32 and info["stitch"] == rastrum.STITCH_BLEND
        out = tmp_path / "host.tif"
        stitcher = rastrum.Stitcher(plan, output=out)
        order = list(range(len(plan)))[::-1]  # last tile first: every tile is held until tile 0
        for i in order:
            data, valid, any_valid = plan.read(i)
            assert data.shape == (1, 224, 224) and valid.shape == (224, 224) and any_valid
            stitcher.add(i, sr_model.run_array(data[None]), valid)
        assert stitcher.progress == (len(plan), 0)
        assert not out.exists()
        stitcher.finish()
        stitcher.close()
    got, got_geo = band_bytes(out)
    want, want_geo = band_bytes(reference)
    assert got_geo == want_geo
    assert all(np.array_equal(a.view(np.uint32), b.view(np.uint32)) for a, b in zip(got, want))


def test_a_numpy_host_gets_rows_equal_to_its_own_function_per_pixel(rastrum):
    # y = x * 2 - 1 on the raw band (no scaling), computed by the host in float32: stitched in
    # either mode it is the per-pixel answer exactly, on a raster no multiple of the stride.
    src = gdal.Open(str(LANDSAT_B4))
    raw = src.GetRasterBand(1).ReadAsArray().astype(np.float32)
    src = None
    expected = raw * np.float32(2) - np.float32(1)
    for stitch in ("blend", "crop"):
        options = {"tile_size": 100, "overlap": 10, "task": "regression", "stitch": stitch}
        with rastrum.Plan(LANDSAT_B4, options=options) as plan:
            info = plan.info
            assert info["raster_width"] % 90 and info["raster_height"] % 90
            rows = []
            stitcher = rastrum.Stitcher(plan, rows=lambda raster, y, bands: rows.append((raster, y, bands.copy())))
            last = plan.tile(len(plan) - 1)
            assert last["read_x"] + last["read_width"] == info["raster_width"]
            for i in np.random.default_rng(5).permutation(len(plan)):
                data, valid, _ = plan.read(int(i))
                stitcher.add(int(i), data * np.float32(2) - np.float32(1), valid)
            stitcher.finish()
            stitcher.close()
        assert [r[1] for r in rows] == sorted(r[1] for r in rows) and rows[0][1] == 0
        image = np.concatenate([r[2][0] for r in rows], axis=0)
        assert image.shape == expected.shape
        assert np.array_equal(image, expected), stitch


def test_plans_and_stitchers_refuse_misuse_with_the_problem_named(rastrum, tmp_path):
    with pytest.raises(rastrum.InvalidArgumentError, match="tile-size"):
        rastrum.Plan(LANDSAT_B4)
    with rastrum.Plan(size=(300, 200, 1), options={"tile_size": 64, "output_channels": 2}) as plan:
        assert plan.info["width"] == 300 and plan.info["output_bands"] == 1  # a class raster
        with pytest.raises(rastrum.InvalidArgumentError, match="reads its tiles itself"):
            plan.read(0)
        plan.set_georeference((500000, 10, 0, 4000000, 0, -10), "")
        stitcher = rastrum.Stitcher(plan, output=tmp_path / "never.tif")
        with pytest.raises(rastrum.InvalidArgumentError, match="the output has 3 values, expected 8192"):
            stitcher.add(0, np.zeros(3, np.float32))
        stitcher.add(1, np.zeros(2 * 64 * 64, np.float32))
        with pytest.raises(rastrum.InvalidArgumentError, match="tile 1 was already added"):
            stitcher.add(1, None)
        with pytest.raises(rastrum.InvalidArgumentError, match="tile 0 has not been added"):
            stitcher.finish()
        stitcher.close()
    assert list(tmp_path.iterdir()) == []
    # An exception in the rows callable stops the stitching and comes back from add.
    with rastrum.Plan(size=(64, 64, 1), options={"tile_size": 64, "task": "regression"}) as plan:
        def boom(raster, y, bands):
            raise KeyError("host side")

        stitcher = rastrum.Stitcher(plan, rows=boom)
        with pytest.raises(KeyError, match="host side"):
            stitcher.add(0, np.zeros(64 * 64, np.float32))
        with pytest.raises(rastrum.InvalidArgumentError, match="stopped after an error"):
            stitcher.finish()
        stitcher.close()


@pytest.mark.parametrize("key", ["tile_size", "tile-size", "--tile-size", "Tile_Size"])
def test_every_options_object_takes_one_key_in_any_spelling(rastrum, key, tmp_path):
    # Run options: the key reaches the plan.
    with rastrum.Options().set(key, 112) as options:
        with rastrum.Plan(size=(300, 200, 1), options=options) as plan:
            assert plan.info["tile_size"] == 112
    # Eval and tiles options: the key is known (the error is about its value, not the key).
    spelt = lambda k: key.replace("tile_size", k).replace("tile-size", k.replace("_", "-")).replace(
        "Tile_Size", k.title())
    with pytest.raises(rastrum.RastrumError, match="band 9"):
        rastrum.evaluate(LANDSAT_B4, LANDSAT_B4, **{spelt("pred_band"): 9})
    with pytest.raises(rastrum.InvalidArgumentError, match="zoom") as refused:
        rastrum.tiles(LANDSAT_B4, tmp_path / "xyz", **{spelt("gif_zoom"): "40"})
    assert "unknown" not in str(refused.value)
    with pytest.raises(rastrum.InvalidArgumentError, match="unknown"):
        rastrum.tiles(LANDSAT_B4, tmp_path / "xyz", gif_zooms="4")


def test_integers_past_size_t_are_refused_not_wrapped(rastrum, sr_model):
    # ctypes wraps silently: 2**64 would have become output 0 and -1 the largest index.
    for index in (2**64, -1):
        with pytest.raises(rastrum.InvalidArgumentError, match="output_index"):
            sr_model.output_shape((1, 1, 224, 224), output_index=index)
        with pytest.raises(rastrum.InvalidArgumentError, match="output_index"):
            sr_model.run_array(np.zeros((1, 1, 224, 224), np.float32), output_index=index)
    with pytest.raises(rastrum.InvalidArgumentError, match="each dimension"):
        sr_model.output_shape((1, 1, 2**64 + 224, 224))


def test_paths_and_text_with_a_nul_are_refused_not_cut_short(rastrum, sr_model, tmp_path):
    # A C string ends at the NUL: "out\0.tif" would have been written as "out".
    with pytest.raises(rastrum.InvalidArgumentError, match="contains a NUL character"):
        rastrum.Model(str(tmp_path / "m.onnx\0x"))
    with pytest.raises(rastrum.InvalidArgumentError, match="contains a NUL character"):
        rastrum.run(sr_model, LANDSAT_B4, str(tmp_path / "out\0.tif"))
    with pytest.raises(rastrum.InvalidArgumentError, match="contains a NUL character"):
        rastrum.Options().set("tile_size", "22\0" + "4")
    assert list(tmp_path.iterdir()) == []


def test_the_layout_carries_the_line_run_prints_before_its_tiles(rastrum, sr_model):
    """The QGIS plugin logs the processing grid before the run from the layout's ``grid``."""
    from osgeo import gdal

    options = {"scale": 2e-5, "offset": -0.1, "overlap": 16}
    layout = sr_model.layout(LANDSAT_B4, options)
    ds = gdal.Open(str(LANDSAT_B4))
    w, h, res = ds.RasterXSize, ds.RasterYSize, ds.GetGeoTransform()[1]
    ds = None
    cols, rows = len(layout["columns"]), len(layout["rows"])
    assert layout["grid"] == (
        f"{w} x {h} px ({res:g} m pixels) -> {cols} x {rows} = {cols * rows} tiles of 224 px, "
        f"output {3 * w} x {3 * h} px"
    )


def test_the_gdal_the_library_runs_on_is_named(rastrum):
    bound = rastrum.gdal_library()
    assert bound["version"] == gdal.__version__
    assert "libgdal" in os.path.basename(bound["path"])
