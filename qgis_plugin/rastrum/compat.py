"""Spellings of QGIS enums that changed, so that one plugin serves QGIS 3.22 to 3.44 and QGIS 4:
the scoped `Qgis` enums of QGIS 3.36 and later (the only ones QGIS 4 keeps) when the running QGIS
has them, else the class members of older QGIS. Qt enums are written scoped everywhere
(`Qt.TextInteractionFlag.TextSelectableByMouse`), which PyQt5 and PyQt6 both read."""

from qgis.core import (
    Qgis,
    QgsColorRampShader,
    QgsProcessing,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterNumber,
    QgsRasterBandStats,
)


def _pick(scoped, member, older, old_member):
    """`Qgis.<scoped>.<member>` when this QGIS has it, else `<older>.<old_member>`."""
    enum = getattr(Qgis, scoped, None)
    return getattr(enum, member) if enum is not None else getattr(older, old_member)


FLAG_ADVANCED = _pick("ProcessingParameterFlag", "Advanced", QgsProcessingParameterDefinition, "FlagAdvanced")
INTEGER = _pick("ProcessingNumberParameterType", "Integer", QgsProcessingParameterNumber, "Integer")
DOUBLE = _pick("ProcessingNumberParameterType", "Double", QgsProcessingParameterNumber, "Double")
VECTOR_POLYGON = _pick("ProcessingSourceType", "VectorPolygon", QgsProcessing, "TypeVectorPolygon")
STATS_MIN = _pick("RasterBandStatistic", "Min", QgsRasterBandStats, "Min")
STATS_MAX = _pick("RasterBandStatistic", "Max", QgsRasterBandStats, "Max")
INTERPOLATED = _pick("ShaderInterpolationMethod", "Linear", QgsColorRampShader, "Interpolated")
