"""The RASTRUM GDAL driver in a real, headless QGIS: a run spec opens as a raster layer (by its
RASTRUM: connection string and as a .rastrum.json file, as from the browser), its blocks equal
the file `rastrum run` writes, two threads reading at once get the same values, and a bad spec
is an invalid layer carrying the library's message, not a crash."""

import json
import threading

import numpy as np
from osgeo import gdal

from conftest import CLOUD_MODEL, S2_IMAGE


def spec_file(tmp_path, cloud_stats, name="cloud.rastrum.json"):
    mean, std = cloud_stats
    spec = {"model": str(CLOUD_MODEL), "source": str(S2_IMAGE),
            "options": {"tile-size": 256, "overlap": 51, "mean": mean, "std": std}}
    path = tmp_path / name
    path.write_text(json.dumps(spec))
    return path


def block_array(provider, band, extent, width, height):
    from qgis.core import QgsRasterBlock  # noqa: F401 (the type provider.block returns)

    block = provider.block(band, extent, width, height)
    assert block.isValid()
    return np.frombuffer(bytes(block.data()), dtype=np.uint8).reshape(height, width)


def test_a_spec_is_a_raster_layer_whose_blocks_equal_the_file(qgis_app, tmp_path, cloud_stats, cloud_reference):
    from qgis.core import QgsRasterLayer, QgsRectangle

    spec = spec_file(tmp_path, cloud_stats)
    ds = gdal.Open(str(cloud_reference))  # kept: a band outlives no dataset in osgeo
    reference = ds.GetRasterBand(1).ReadAsArray()
    for uri in (f"RASTRUM:{spec}", str(spec)):
        layer = QgsRasterLayer(uri, "cloud", "gdal")
        assert layer.isValid(), uri
        provider = layer.dataProvider()
        assert (layer.width(), layer.height()) == (512, 512)
        assert provider.dataType(1) == 1  # Qgis.DataType.Byte
        whole = block_array(provider, 1, layer.extent(), 512, 512)
        assert np.array_equal(whole, reference)

    # Two threads, each with its own provider (as QGIS renders), reading blocks at once.
    layer = QgsRasterLayer(f"RASTRUM:{spec}", "cloud", "gdal")
    e = layer.extent()
    px = (e.xMaximum() - e.xMinimum()) / 512
    results, errors = {}, []

    def read(name, provider, order):
        try:
            for i, j in order:
                x0, y0 = e.xMinimum() + j * 128 * px, e.yMaximum() - (i + 1) * 128 * px
                rect = QgsRectangle(x0, y0, x0 + 128 * px, y0 + 128 * px)
                results[(name, i, j)] = block_array(provider, 1, rect, 128, 128)
        except Exception as error:  # reported below: an assertion in a thread would be lost
            errors.append(error)

    cells = [(i, j) for i in range(4) for j in range(4)]
    threads = [threading.Thread(target=read, args=(n, layer.dataProvider().clone(), order))
               for n, order in (("a", cells), ("b", cells[::-1]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for (name, i, j), values in results.items():
        assert np.array_equal(values, reference[i * 128:(i + 1) * 128, j * 128:(j + 1) * 128]), (name, i, j)
    assert len(results) == 32


def test_a_bad_spec_is_an_invalid_layer_with_the_librarys_message(qgis_app, tmp_path):
    from qgis.core import QgsRasterLayer

    bad = tmp_path / "bad.rastrum.json"
    bad.write_text(json.dumps({"model": str(tmp_path / "missing.onnx"), "source": str(S2_IMAGE)}))
    layer = QgsRasterLayer(f"RASTRUM:{bad}", "bad", "gdal")
    assert not layer.isValid()
    error = layer.error()  # kept: PyQGIS 3.22 crashes on a method of the temporary
    assert "missing.onnx" in error.summary(), error.summary()
    # QGIS goes on: a good layer still opens.
    assert QgsRasterLayer(str(S2_IMAGE), "s2", "gdal").isValid()


def test_the_browser_offers_a_spec_file_as_a_raster_layer(qgis_app, tmp_path, cloud_stats):
    from qgis.core import QgsDirectoryItem, QgsLayerItem, QgsMapLayerType

    spec = spec_file(tmp_path, cloud_stats)
    folder = QgsDirectoryItem(None, "folder", str(tmp_path))
    items = {item.name(): item for item in folder.createChildren()}
    assert spec.name in items, list(items)
    found = items[spec.name]
    # QGIS lists a .json as a collection (it could hold several layers): the raster is inside.
    layers = [found] if isinstance(found, QgsLayerItem) else found.createChildren()
    rasters = [i for i in layers if isinstance(i, QgsLayerItem) and i.mapLayerType() == QgsMapLayerType.RasterLayer]
    assert [(i.providerKey(), i.uri()) for i in rasters] == [("gdal", str(spec))]
