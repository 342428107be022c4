"""Styles for Rastrum outputs: class bands paletted with their class names and colours,
probability and regression bands a pseudocolour ramp, detections outlined by class.

The class names and colours are read back from the raster itself (the engine writes the card's
names as GDAL category names and its colours as the colour table), so the style always matches
what was written. A style is applied to a loaded layer (post-processor) and also saved as a
.qml beside the raster, which QGIS loads with it anywhere (batch, qgis_process, Add Layer)."""

import os

from osgeo import gdal
from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsColorRampShader,
    QgsFillSymbol,
    QgsGradientColorRamp,
    QgsGradientStop,
    QgsPalettedRasterRenderer,
    QgsProcessingLayerPostProcessorInterface,
    QgsProject,
    QgsRasterLayer,
    QgsRasterShader,
    QgsRendererCategory,
    QgsVectorLayer,
    QgsSingleBandPseudoColorRenderer,
)
from qgis.PyQt.QtGui import QColor

from . import compat

CLASSES = "classes"  # a class band (u8 ids, colour table, category names)
PROBABILITIES = "probabilities"  # float bands in 0..1
VALUES = "values"  # float bands of any range (regression)
DETECTIONS = "detections"  # polygons with class_id, class_name, score

# Outline colours of detection classes, in class order (distinct on imagery).
_DETECTION_COLOURS = ["#e41a1c", "#377eb8", "#4daf4a", "#ff7f00", "#984ea3", "#ffff33", "#a65628", "#f781bf"]


def _viridis():
    # Built here rather than taken from the user's style database, which may lack it.
    ramp = QgsGradientColorRamp(QColor("#440154"), QColor("#fde725"))
    ramp.setStops([
        QgsGradientStop(0.25, QColor("#3b528b")),
        QgsGradientStop(0.5, QColor("#21918c")),
        QgsGradientStop(0.75, QColor("#5ec962")),
    ])
    return ramp


def _class_renderer(layer):
    dataset = gdal.Open(layer.source())
    band = dataset.GetRasterBand(1)
    band.GetMetadata()  # loads the .aux.xml: GTiff's GetCategoryNames alone does not (GDAL 3.6)
    names = band.GetCategoryNames() or []
    table = band.GetColorTable()
    classes = []
    for value, name in enumerate(names):
        if not name:
            continue
        color = QColor(*table.GetColorEntry(value)) if table and value < table.GetCount() else QColor("gray")
        classes.append(QgsPalettedRasterRenderer.Class(value, color, name))
    if not classes:  # no names: fall back to the colour table QGIS itself reads
        classes = QgsPalettedRasterRenderer.colorTableToClassData(layer.dataProvider().colorTable(1))
    return QgsPalettedRasterRenderer(layer.dataProvider(), 1, classes)


def _ramp_renderer(layer, kind):
    provider = layer.dataProvider()
    # A two-class probability raster says the most in its foreground band.
    band = 2 if kind == PROBABILITIES and layer.bandCount() == 2 else 1
    if kind == PROBABILITIES:
        low, high = 0.0, 1.0
    else:
        stats = provider.bandStatistics(band, compat.STATS_MIN | compat.STATS_MAX)
        low, high = stats.minimumValue, stats.maximumValue
        if not high > low:
            high = low + 1.0
    ramp_shader = QgsColorRampShader(low, high, _viridis(), compat.INTERPOLATED)
    ramp_shader.classifyColorRamp(5, band)
    shader = QgsRasterShader(low, high)
    shader.setRasterShaderFunction(ramp_shader)
    renderer = QgsSingleBandPseudoColorRenderer(provider, band, shader)
    renderer.setClassificationMin(low)
    renderer.setClassificationMax(high)
    return renderer


def _detection_renderer(layer):
    """Boxes outlined (not filled, so the image shows through) in one colour per class name."""
    index = layer.fields().indexOf("class_id")
    names = {}
    for feature in layer.getFeatures():
        names.setdefault(feature["class_id"], feature["class_name"])
    categories = []
    for class_id in sorted(names) if index >= 0 else []:
        colour = _DETECTION_COLOURS[class_id % len(_DETECTION_COLOURS)]
        symbol = QgsFillSymbol.createSimple({"color": "0,0,0,0", "outline_color": colour, "outline_width": "0.6"})
        categories.append(QgsRendererCategory(names[class_id], symbol, str(names[class_id])))
    return QgsCategorizedSymbolRenderer("class_name", categories)


def style_layer(layer, kind):
    """Sets the renderer of an output layer of this kind; returns False when there is none."""
    if not layer.isValid() or kind not in (CLASSES, PROBABILITIES, VALUES, DETECTIONS):
        return False
    if kind == DETECTIONS:
        layer.setRenderer(_detection_renderer(layer))
        return True
    layer.setRenderer(_class_renderer(layer) if kind == CLASSES else _ramp_renderer(layer, kind))
    return True


def save_style(path, kind):
    """Writes the style of this kind as the raster's default style (PATH without .tif + .qml).
    A GeoPackage keeps it in its layer_styles table. Returns an error message, or None."""
    layer = QgsVectorLayer(path, "", "ogr") if kind == DETECTIONS else QgsRasterLayer(path, "", "gdal")
    if not style_layer(layer, kind):
        return f"cannot style {path}"
    if kind == DETECTIONS and layer.dataProvider().isSaveAndLoadStyleToDatabaseSupported():
        # In the GeoPackage itself (its layer_styles table): the style travels with the file.
        return layer.saveStyleToDatabase(layer.name() or "rastrum", "Rastrum detections by class", True, "") or None
    message, ok = layer.saveDefaultStyle()
    return None if ok else message


def keep_above(project, upper, lower):
    """Moves the layer of file `lower` directly below the layer of file `upper` in the project's
    layer tree, when both are loaded (the most recent of each, the topmost). Processing adds a
    run's outputs in the order of their paths, newest on top: the probabilities would hide the
    class map they belong to."""
    nodes = {}
    for node in project.layerTreeRoot().findLayers():
        if node.layer() is not None:
            nodes.setdefault(os.path.normpath(node.layer().source()), node)
    up, down = nodes.get(os.path.normpath(upper)), nodes.get(os.path.normpath(lower))
    if up is None or down is None:
        return
    parent = up.parent()
    children = parent.children()
    position = next(i for i, child in enumerate(children) if child is up)
    if position + 1 < len(children) and children[position + 1] is down:
        return
    parent.insertChildNode(position + 1, down.clone())
    down.parent().removeChildNode(down)


class StylePostProcessor(QgsProcessingLayerPostProcessorInterface):
    """Styles an output when Processing loads it into the project, and keeps it in its place
    (`order`: the files of the layer to keep above and of the one below it). Make them with
    post_processor(): the context holds only a C++ pointer, and a Python subclass whose wrapper
    is collected is silently never called (checked on QGIS 3.22)."""

    def __init__(self, kind, order=None):
        super().__init__()
        self.kind = kind
        self.order = order

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 (QGIS's name)
        if isinstance(layer, (QgsRasterLayer, QgsVectorLayer)) and style_layer(layer, self.kind):
            layer.triggerRepaint()
        if self.order is not None:
            keep_above(context.project() or QgsProject.instance(), *self.order)


_ALIVE = []  # the post-processors handed out: a few bytes per run, kept for the session


def post_processor(kind, order=None):
    """A new post-processor, one per layer: newer QGIS versions may delete it after use."""
    processor = StylePostProcessor(kind, order)
    _ALIVE.append(processor)
    return processor
