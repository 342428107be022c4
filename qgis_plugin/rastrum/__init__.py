"""Rastrum QGIS plugin: a Processing provider over librastrum (see _native.py).

classFactory imports lazily so that QGIS (and qgis_process, where iface is None) can list the
plugin without loading Qt-heavy modules or the native library."""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    from .provider import RastrumPlugin

    return RastrumPlugin(iface)
