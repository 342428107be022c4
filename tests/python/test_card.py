"""Writing a model's card (rastrum.write_card, rastrum_card_write, `rastrum card`): a foreign
model (ukis-csmask's cloud mask, exported by its authors) gets the card of its side file, and the
`onnx` package finds every other part of the model unchanged: graph (nodes, initializers, inputs,
outputs) byte for byte, opsets, IR version, producer. ONNX Runtime then reads the new card."""

import json
import os
import shutil
import subprocess

import onnx
import pytest

from conftest import ROOT

CLOUD = ROOT / "models/cloud_mask/model_6b_l1c.onnx"
SIDE = ROOT / "models/cloud_mask/model_6b_l1c.json"


def _parts(path):
    """The model's parts other than its metadata, as onnx sees them."""
    m = onnx.load(str(path))
    return {
        "graph": m.graph.SerializeToString(),
        "opsets": [(o.domain, o.version) for o in m.opset_import],
        "ir_version": m.ir_version,
        "producer": (m.producer_name, m.producer_version, m.domain, m.model_version, m.doc_string),
        "functions": [f.SerializeToString() for f in m.functions],
    }


def _metadata(path):
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def test_a_side_file_becomes_the_card_and_nothing_else_changes(rastrum, tmp_path):
    out = tmp_path / "cloud_with_card.onnx"
    side = json.loads(SIDE.read_text())
    card = rastrum.write_card(CLOUD, out, side)
    stats = side["data"]["dataset_statistics"]["img"]
    assert card["standardization_mean"] == pytest.approx(stats[0], rel=1e-15)
    assert card["standardization_std"] == pytest.approx(stats[1], rel=1e-15)
    assert card["tiles_size"] == 256
    assert card["class_names"] == {"0": "clear", "1": "cloud", "2": "cloud shadow"}

    assert _parts(out) == _parts(CLOUD)
    assert _metadata(CLOUD) == {}
    assert {k: json.loads(v) for k, v in _metadata(out).items()} == card
    # ONNX Runtime reads it as the card.
    with rastrum.Model(out) as model:
        resolved = model.card()["resolved"]
    assert resolved["mean"] == pytest.approx(stats[0], rel=1e-15)
    assert resolved["class_names"] == ["clear", "cloud", "cloud shadow"]
    assert rastrum.read_card(out) == card


def test_edits_in_place_removals_and_bad_values(rastrum, tmp_path):
    model = tmp_path / "cloud.onnx"
    shutil.copy(CLOUD, model)
    rastrum.write_card(model, model, {"tiles_size": 256, "model_type": "Segmentor"})
    card = rastrum.write_card(model, model, {"model_type": None, "rastrum_scale": 2e-5})
    assert card == {"tiles_size": 256, "rastrum_scale": 2e-5}
    assert _parts(model) == _parts(CLOUD)
    before = model.read_bytes()
    with pytest.raises(rastrum.InvalidArgumentError, match="tiles_size"):
        rastrum.write_card(model, model, {"tiles_size": -4})
    assert model.read_bytes() == before, "a refused change writes nothing"
    with pytest.raises(rastrum.ModelError, match="not an ONNX model"):
        rastrum.write_card(SIDE, tmp_path / "x.onnx", {})
    assert not (tmp_path / "x.onnx").exists()


def test_the_cli_writes_what_rastrum_info_reads_back(tmp_path):
    cli = os.environ.get("RASTRUM_CLI")
    if not cli:
        pytest.fail("RASTRUM_CLI is not set: point it at the built `rastrum` binary")
    out = tmp_path / "cloud_cli.onnx"
    colours = '{"0": "#3c8c3c", "1": "#ffffff", "2": "#3c3c50"}'
    subprocess.run([cli, "card", str(CLOUD), "--from-json", str(SIDE), "--set", f"rastrum_class_colors={colours}",
                    "--set", "rastrum_scale=2e-5", "-o", str(out)], check=True, capture_output=True)
    assert _parts(out) == _parts(CLOUD)
    shown = json.loads(subprocess.run([cli, "card", str(out), "--json"], check=True, capture_output=True,
                                      text=True).stdout)
    assert shown["rastrum_class_colors"] == json.loads(colours)
    info = json.loads(subprocess.run([cli, "info", str(out), "--json"], check=True, capture_output=True,
                                     text=True).stdout)
    assert info["resolved"]["scale"] == [2e-5] * 6
    assert info["resolved"]["tile_size"] == 256
