"""The Processing provider "rastrum" and the plugin object that registers it."""

from qgis.core import QgsApplication, QgsProcessingProvider

from . import algorithms, card_algorithm, helpdocs


class RastrumProvider(QgsProcessingProvider):
    def id(self):
        # Stable: it is part of every algorithm id (rastrum:segment), hence of saved models,
        # batch files and qgis_process command lines.
        return "rastrum"

    def name(self):
        return "Rastrum"

    def longName(self):
        return "Rastrum: tiled ONNX inference"

    def icon(self):
        return helpdocs.icon()

    def loadAlgorithms(self):
        for algorithm in (*algorithms.ALGORITHMS, card_algorithm.SetCardAlgorithm):
            self.addAlgorithm(algorithm())

    def supportedOutputVectorLayerExtensions(self):
        # The single-file formats the engine writes detections to (GeoPackage first: the default).
        return ["gpkg", "fgb", "geojson", "geojsonl", "sqlite"]

    def supportedOutputRasterLayerExtensions(self):
        # The engine writes GeoTIFF only: offering other formats in the dialog would fail later.
        return ["tif"]


class RastrumPlugin:
    """What classFactory returns. QGIS desktop calls initGui, qgis_process calls initProcessing
    (iface is None there): both register the provider once."""

    def __init__(self, iface):
        self.iface = iface
        self.provider = None

    def initProcessing(self):  # noqa: N802 (QGIS's name)
        if self.provider is None:
            self.provider = RastrumProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):  # noqa: N802
        self.initProcessing()

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
