"""rastrum.dask with its output on an object store: a real S3 API (moto's server on localhost),
written to through GDAL's /vsis3/ by the workers and the client. The assembled VRT and COG, read
back from the bucket, equal a single local run; a second call resumes from the bucket."""

import os
import tempfile

import boto3
import pytest
from moto.server import ThreadedMotoServer
from osgeo import gdal

import rastrum as _native  # the package: the binding's public names
from rastrum import dask as rastrum_dask

from conftest import ROOT
from test_scale_out import SR, SR_OPTIONS, assert_same

BUCKET = "rastrum-test"


@pytest.fixture(scope="module", autouse=True)
def s3():
    """An S3 endpoint, configured for GDAL through the environment before the module's cluster
    starts, so that its worker processes inherit it."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    settings = {
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
        "AWS_S3_ENDPOINT": f"{host}:{port}", "AWS_HTTPS": "NO", "AWS_VIRTUAL_HOSTING": "FALSE",
        # Listings and stats must not be cached between the calls that check for windows.
        "CPL_VSIL_CURL_NON_CACHED": f"/vsis3/{BUCKET}",
        # Where windows are written before their upload, for the workers and this process.
        "TMPDIR": tempfile.mkdtemp(prefix="rastrum-s3-test-"),
    }
    saved = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1").create_bucket(Bucket=BUCKET)
    yield f"/vsis3/{BUCKET}"
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    server.stop()


def test_windows_on_s3_assemble_to_the_single_run(s3, client, tmp_path):
    band = ROOT / "data/landsat8_l1_b2_b7/l8_B4.tif"
    with _native.Model(SR) as m:
        _native.run(m, band, tmp_path / "single.tif", SR_OPTIONS)
    out = f"{s3}/runs/sr"
    result = rastrum_dask.run(client, SR, band, out, SR_OPTIONS, window_tiles=(2, 1), cog=True)
    assert result.outputs == [f"{out}/output.vrt", f"{out}/output.tif"]
    assert (result.windows, result.computed) == (6, 6)
    listed = sorted(gdal.ReadDir(f"{out}/parts") or [])
    assert listed == sorted(rastrum_dask.window_name(w) for w in [(0, 0, 2, 1), (2, 0, 2, 1), (0, 1, 2, 1),
                                                                  (2, 1, 2, 1), (0, 2, 2, 1), (2, 2, 2, 1)]), listed
    for name in ["output.vrt", "output.tif"]:
        assert_same(f"{out}/{name}", tmp_path / "single.tif")
    assert gdal.Open(f"{out}/output.tif").GetMetadataItem("LAYOUT", "IMAGE_STRUCTURE") == "COG"
    # Nothing of the work was left in the local temporary folder.
    assert not [n for n in os.listdir(os.environ["TMPDIR"]) if "rastrum-tmp" in n]

    again = rastrum_dask.run(client, SR, band, out, SR_OPTIONS, window_tiles=(2, 1))
    assert (again.resumed, again.computed) == (6, 0)
    assert_same(f"{out}/output.vrt", tmp_path / "single.tif")
