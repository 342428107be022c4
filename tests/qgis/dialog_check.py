"""Opens a run algorithm's dialog (Processing's own AlgorithmDialog) of the plugin in the source
tree, in a QGIS with its GUI (offscreen, or a real X display such as Xvfb), chooses a model and
an input, and prints as JSON what the dialog shows, read from QGIS's widget tree: the card
summary's text, the placeholder (or "not set" text) of each empty field, and the BANDS field.
With --screenshot PNG, also a picture of the dialog.

    python3 dialog_check.py PROFILE_DIR MODEL INPUT [--algorithm rastrum:segment] [--screenshot PNG]

Run by tests/qgis/test_dialog.py in a process of its own: the session's QGIS there has no GUI."""

import argparse
import json
import os
import sys
from pathlib import Path

PLUGIN_SOURCE = Path(__file__).resolve().parents[2] / "qgis_plugin"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("profile")
    parser.add_argument("model")
    parser.add_argument("input")
    parser.add_argument("--algorithm", default="rastrum:segment")
    parser.add_argument("--screenshot")
    parser.add_argument("--batch", action="store_true", help="the batch dialog: BANDS as a plain cell")
    args = parser.parse_args()

    from qgis.core import QgsApplication, QgsProcessingContext, QgsProject, QgsRasterLayer

    app = QgsApplication([], True, args.profile)
    app.initQgis()
    sys.path.append(os.path.join(QgsApplication.pkgDataPath(), "python", "plugins"))
    from processing.core.Processing import Processing

    Processing.initialize()
    sys.path.insert(0, str(PLUGIN_SOURCE))
    import rastrum

    plugin = rastrum.classFactory(None)
    plugin.initProcessing()
    from processing.gui.AlgorithmDialog import AlgorithmDialog
    from qgis.PyQt.QtWidgets import QLabel, QLineEdit

    layer = QgsRasterLayer(args.input, "scene", "gdal")
    QgsProject.instance().addMapLayer(layer)
    algorithm = QgsApplication.processingRegistry().createAlgorithmById(args.algorithm)
    if args.batch:
        print(json.dumps(batch_row(algorithm, args.model, layer)))
        plugin.unload()
        return
    dialog = AlgorithmDialog(algorithm)
    wrappers = dialog.mainWidget().wrappers
    context = QgsProcessingContext()
    wrappers["INPUT"].setParameterValue(layer.id(), context)
    wrappers["MODEL"].setParameterValue(args.model, context)
    dialog.show()
    app.processEvents()

    summary = dialog.findChild(QLabel, "rastrumCardSummary")
    shown = {"summary": summary.text() if summary is not None else None}
    for name, wrapper in wrappers.items():
        widget = wrapper.wrappedWidget() if hasattr(wrapper, "wrappedWidget") else wrapper.widget
        if widget is None:
            continue
        boxes = [widget] + widget.findChildren(QLineEdit)
        texts = [getattr(w, "specialValueText", lambda: "")() for w in [widget] + widget.findChildren(object)]
        placeholders = [b.placeholderText() for b in boxes if isinstance(b, QLineEdit) and b.placeholderText()]
        shown[name] = {"placeholder": placeholders[0] if placeholders else "",
                       "not_set": next((t for t in texts if t), "")}
    shown["bands_field"] = dialog.findChild(QLineEdit, "rastrumBands").placeholderText()
    if args.screenshot:
        dialog.resize(720, 900)
        app.processEvents()
        shown["screenshot_saved"] = dialog.grab().save(args.screenshot)
    print(json.dumps(shown))
    dialog.close()
    plugin.unload()


def batch_row(algorithm, model, layer):
    """The batch dialog's first row with MODEL, INPUT and BANDS set through their cells: the
    parameters it would run with."""
    from processing.gui.BatchAlgorithmDialog import BatchAlgorithmDialog
    from qgis.core import QgsProcessingContext

    dialog = BatchAlgorithmDialog(algorithm)
    panel = dialog.mainWidget()
    names = [p.name() for p in algorithm.parameterDefinitions()
             if not p.isDestination() and not p.flags() & p.FlagHidden]
    row = panel.wrappers[0]
    context = QgsProcessingContext()
    for name, value in (("MODEL", model), ("INPUT", layer.source()), ("BANDS", "3,2,1")):
        row[names.index(name)].setParameterValue(value, context)
    parameters, ok = panel.parametersForRow(0, warnOnInvalid=False)
    return {"ok": bool(ok), "BANDS": parameters.get("BANDS"), "MODEL": parameters.get("MODEL")}


if __name__ == "__main__":
    main()
