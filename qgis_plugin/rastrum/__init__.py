"""Rastrum for Python: the ctypes binding of librastrum (``_native.py``), and the QGIS plugin.

With ``qgis_plugin/`` on ``sys.path`` (or the plugin installed in QGIS)::

    import rastrum
    with rastrum.Model("model.onnx") as model:
        summary = rastrum.run(model, "in.tif", "out.tif", rastrum.Options(tile_size=256))

The package exports the binding's public names (``Model``, ``Options``, ``run``, ``assemble``,
``Plan``, ``Stitcher``, ``CancelToken``, the errors, ``version``, ``abi_version``,
``load_library``, the status constants, ...) and QGIS's entry point ``classFactory``.

Importing the package imports nothing else: the binding (numpy, then librastrum at its first
call) comes with the first use of one of its names, and classFactory imports the Processing
provider (Qt, QGIS) only when QGIS calls it, so that QGIS and ``qgis_process`` (where iface is
None) can list the plugin cheaply, and scripts without QGIS can use the binding.
"""

import importlib

# The binding's functions and classes (tests/python checks that these are _native.__all__ but
# its constants, which are the upper-case names).
_BINDING = (
    "load_library", "library_path", "init", "version", "abi_version", "status_name", "status_description",
    "Model", "Options", "CancelToken", "run", "detect", "assemble", "evaluate", "tiles", "Plan", "Stitcher",
    "read_card", "write_card", "gdal_library", "LibraryLoadError", "RastrumError", "InvalidArgumentError", "RastrumIOError",
    "RasterError", "ModelError", "RastrumRuntimeError", "ProviderError", "CancelledError", "PanicError",
    "InternalError", "BufferTooSmallError",
)

__all__ = ["classFactory", *_BINDING]


def __getattr__(name):
    # PEP 562: called only for names not defined here, so submodules (rastrum.dask) and QGIS's
    # probes for optional hooks never import the binding.
    if name in _BINDING or (name.isupper() and not name.startswith("_")):
        native = importlib.import_module("._native", __name__)
        if name in native.__all__:
            value = getattr(native, name)
            globals()[name] = value
            return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


def classFactory(iface):  # noqa: N802 (QGIS's name)
    from .provider import RastrumPlugin

    return RastrumPlugin(iface)
