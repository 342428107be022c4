"""Styles for Rastrum outputs: class bands paletted with their class names and colours,
probability and regression bands a pseudocolour ramp.

The class names and colours are read back from the raster itself (the engine writes the card's
names as GDAL category names and its colours as the colour table), so the style always matches
what was written. A style is applied to a loaded layer (post-processor) and also saved as a
.qml beside the raster, which QGIS loads with it anywhere (batch, qgis_process, Add Layer)."""

from osgeo import gdal
from qgis.core import (
    QgsColorRampShader,
    QgsGradientColorRamp,
    QgsGradientStop,
    QgsPalettedRasterRenderer,
    QgsProcessingLayerPostProcessorInterface,
    QgsRasterBandStats,
    QgsRasterLayer,
    QgsRasterShader,
    QgsSingleBandPseudoColorRenderer,
)
from qgis.PyQt.QtGui import QColor

CLASSES = "classes"  # a class band (u8 ids, colour table, category names)
PROBABILITIES = "probabilities"  # float bands in 0..1
VALUES = "values"  # float bands of any range (regression)


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
        stats = provider.bandStatistics(band, QgsRasterBandStats.Min | QgsRasterBandStats.Max)
        low, high = stats.minimumValue, stats.maximumValue
        if not high > low:
            high = low + 1.0
    ramp_shader = QgsColorRampShader(low, high, _viridis(), QgsColorRampShader.Interpolated)
    ramp_shader.classifyColorRamp(5, band)
    shader = QgsRasterShader(low, high)
    shader.setRasterShaderFunction(ramp_shader)
    renderer = QgsSingleBandPseudoColorRenderer(provider, band, shader)
    renderer.setClassificationMin(low)
    renderer.setClassificationMax(high)
    return renderer


def style_layer(layer, kind):
    """Sets the renderer of an output layer of this kind; returns False when there is none."""
    if not layer.isValid() or kind not in (CLASSES, PROBABILITIES, VALUES):
        return False
    layer.setRenderer(_class_renderer(layer) if kind == CLASSES else _ramp_renderer(layer, kind))
    return True


def save_style(path, kind):
    """Writes the style of this kind as the raster's default style (PATH without .tif + .qml).
    Returns an error message, or None."""
    layer = QgsRasterLayer(path, "", "gdal")
    if not style_layer(layer, kind):
        return f"cannot style {path}"
    message, ok = layer.saveDefaultStyle()
    return None if ok else message


class StylePostProcessor(QgsProcessingLayerPostProcessorInterface):
    """Styles an output when Processing loads it into the project. Make them with
    post_processor(): the context holds only a C++ pointer, and a Python subclass whose wrapper
    is collected is silently never called (checked on QGIS 3.22)."""

    def __init__(self, kind):
        super().__init__()
        self.kind = kind

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 (QGIS's name)
        if isinstance(layer, QgsRasterLayer) and style_layer(layer, self.kind):
            layer.triggerRepaint()


_ALIVE = []  # the post-processors handed out: a few bytes per run, kept for the session


def post_processor(kind):
    """A new post-processor, one per layer: newer QGIS versions may delete it after use."""
    processor = StylePostProcessor(kind)
    _ALIVE.append(processor)
    return processor
