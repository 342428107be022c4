"""The peers' card and graph shapes (corpus.py) through all four ways in: `rastrum run`, the C
API (tests/c/run_model.c), the Python binding and qgis_process with the plugin zip. Each run's
files are checked against numpy: class bands (names, nodata 255, classes), probabilities and
values; the resolution guard fails every one of them with its message and no file."""

import json
import os
import subprocess
import time

import numpy as np
import pytest
from osgeo import gdal

import corpus
from test_qgis_process import json_of, profile, qgis_process  # noqa: F401 (profile: a fixture)

INTERFACES = ["cli", "c_api", "python", "qgis_process"]


@pytest.fixture(scope="module")
def raster(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "scene.tif"
    raw, valid = corpus.corpus_raster(path)
    return path, raw, valid


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus-models")
    paths = {}
    for entry in corpus.CORPUS:
        paths[entry.name] = folder / f"{entry.name}.onnx"
        entry.build(paths[entry.name])
    return paths


@pytest.fixture(scope="module")
def enabled(profile):  # noqa: F811 (the fixture imported above)
    done = qgis_process(profile, "plugins", "enable", "rastrum")
    assert done.returncode == 0, done.stdout + done.stderr
    return profile


def run_cli(model, raster, output, options):
    flags = []
    for key, value in options.items():
        flags += [f"--{key}"] if value is True else [f"--{key}", str(value)]
    done = subprocess.run([os.environ["RASTRUM_CLI"], "run", str(model), str(raster), str(output), "--json", "-q",
                           *flags], capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout, done.stderr


def run_c(model, raster, output, options):
    pairs = [f"{k}={'true' if v is True else v}" for k, v in options.items()]
    done = subprocess.run([os.environ["RASTRUM_C_RUN"], str(model), str(raster), str(output), *pairs],
                          capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout, done.stderr


def run_python(model, raster, output, options):
    from rastrum import _native

    try:
        with _native.Model(str(model)) as m:
            return 0, json.dumps(_native.run(m, str(raster), str(output), options)), ""
    except _native.RastrumError as error:
        return 1, "", str(error)


def run_qgis(profile, task, model, raster, output, options):
    params = [f"MODEL={model}", f"INPUT={raster}", f"OUTPUT={output}"]
    if options.get("probabilities"):
        params.append("PROBABILITIES=true")
    done = qgis_process(profile, "run", f"rastrum:{task}", "--json", "--", *params)
    if done.returncode != 0:
        return done.returncode, "", done.stdout + done.stderr
    results = json_of(done.stdout)["results"]
    summary = json.loads(results["SUMMARY"])
    summary["qgis_results"] = results
    return 0, json.dumps(summary), ""


def run(interface, entry, model, raster, output, enabled_profile):
    if interface == "cli":
        return run_cli(model, raster, output, entry.options)
    if interface == "c_api":
        return run_c(model, raster, output, entry.options)
    if interface == "python":
        return run_python(model, raster, output, entry.options)
    return run_qgis(enabled_profile, entry.task, model, raster, output, entry.options)


def with_suffix(output, suffix):
    return output.with_name(output.stem + suffix + output.suffix)


def check_file(path, expected):
    ds = gdal.Open(str(path))
    assert ds is not None, f"{path} was not written"
    band = ds.GetRasterBand(1)
    got = band.ReadAsArray()
    assert band.GetNoDataValue() == expected.nodata, path
    if expected.names is not None:
        assert band.GetCategoryNames() == expected.names, path
        wrong = (got != expected.band) & expected.close
        assert not wrong.any(), f"{path}: {int(wrong.sum())} pixel(s) differ from numpy, first at " \
                                f"{np.argwhere(wrong)[0].tolist()}"
        # Near-ties are the only pixels left out, and they are rare.
        assert (~expected.close).mean() < 0.001
    else:
        assert np.allclose(got, expected.band, atol=expected.tolerance), f"{path}: max difference " \
                                                                          f"{np.abs(got - expected.band).max()}"
    if expected.probabilities is not None:
        probs = gdal.Open(str(path.with_name(path.stem + "_probabilities.tif"))).ReadAsArray()
        valid = expected.band != 255
        assert np.allclose(probs[:, valid], expected.probabilities[:, valid], atol=1e-5)


@pytest.mark.parametrize("interface", INTERFACES)
@pytest.mark.parametrize("entry", [e for e in corpus.CORPUS if e.error is None], ids=lambda e: e.name)
def test_corpus_model_runs_as_numpy_computes(entry, interface, raster, models, tmp_path, enabled):
    path, raw, valid = raster
    output = tmp_path / "out.tif"
    code, stdout, stderr = run(interface, entry, models[entry.name], path, output, enabled)
    assert code == 0, f"{entry.name} ({entry.what}) through {interface}: {stderr}"
    summary = json.loads(stdout)
    expected = entry.expect(raw, valid)
    for e in expected:
        check_file(with_suffix(output, e.suffix), e)
    written = {str(with_suffix(output, e.suffix)) for e in expected}
    assert written <= set(summary["outputs"])
    if len(expected) > 1:
        assert [h["name"] for h in summary["heads"]] == [e.suffix.lstrip("_") or h["name"]
                                                         for e, h in zip(expected, summary["heads"])]
    if interface == "qgis_process":
        for e in expected[1:]:
            assert summary["qgis_results"][f"OUTPUT{e.suffix}"] == str(with_suffix(output, e.suffix))
    assert ("batch_fallback" in summary) == entry.batch_fallback, summary


@pytest.mark.parametrize("interface", INTERFACES)
@pytest.mark.parametrize("entry", [e for e in corpus.CORPUS if e.error is not None], ids=lambda e: e.name)
def test_corpus_model_is_refused_before_any_tile(entry, interface, raster, models, tmp_path, enabled):
    path, _, _ = raster
    output = tmp_path / "out.tif"
    started = time.monotonic()
    code, _, stderr = run(interface, entry, models[entry.name], path, output, enabled)
    seconds = time.monotonic() - started
    assert code != 0
    assert entry.error in stderr, stderr
    assert "--resolution native" in stderr, stderr
    assert list(tmp_path.iterdir()) == [], "a refused run left files"
    if interface in ("cli", "c_api", "python"):
        assert seconds < 10, f"the refusal took {seconds:.1f} s"


def test_qgis_logs_raw_values_before_the_run(models, tmp_path, enabled):
    """A 3-band raster of raw DNs (around 10,000) into a model fed as they are: the QGIS log says
    so, with the likely scale."""
    from osgeo import gdal

    raster = tmp_path / "dn.tif"
    ds = gdal.GetDriverByName("GTiff").Create(str(raster), 96, 80, 3, gdal.GDT_UInt16)
    ds.SetGeoTransform((500000.0, 30.0, 0.0, 5000000.0, 0.0, -30.0))
    ds.WriteRaster(0, 0, 96, 80, (np.arange(3 * 96 * 80, dtype=np.uint16) % 9000 + 8000).tobytes())
    ds = None
    done = qgis_process(enabled, "run", "rastrum:segment", "--", f"MODEL={models['logits']}", f"INPUT={raster}",
                        f"OUTPUT={tmp_path / 'out.tif'}")
    assert done.returncode == 0, done.stdout + done.stderr
    # Reported as a non-fatal error (qgis_process prints those on stderr, the dialog in red), from
    # the layout the algorithm asks for before the run.
    assert "Warning: the model's inputs look off" in done.stderr and "--scale 1e-5?" in done.stderr, done.stderr
