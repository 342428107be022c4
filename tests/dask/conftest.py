"""Shared setup of the scale-out tests: a real dask.distributed LocalCluster of worker processes
running librastrum (named by RASTRUM_LIBRARY, as for the binding's tests). The workers import
``rastrum.dask`` from the plugin folder through PYTHONPATH."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = ROOT / "qgis_plugin"

sys.path.insert(0, str(PLUGIN_DIR))
os.environ["PYTHONPATH"] = os.pathsep.join([str(PLUGIN_DIR)] + [p for p in [os.environ.get("PYTHONPATH")] if p])


def pytest_configure(config):
    if config.option.help:
        return
    library = os.environ.get("RASTRUM_LIBRARY")
    if not library or not os.path.isfile(library):
        raise pytest.UsageError(f"RASTRUM_LIBRARY={library!r} is not a built librastrum")


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    # One thread per worker, as on a cluster of single-task slots; three worker processes.
    with LocalCluster(n_workers=3, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as c:
            yield c
