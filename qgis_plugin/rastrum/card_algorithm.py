"""*Set model card* (rastrum:setcard): writes a copy of an ONNX model with its card changed,
every other byte kept (the library's rastrum_card_write): keys from a side file (ukis-csmask's
`model_*.json`) or a card JSON, class names and colours from a table, other keys as key=value,
and removals. A run then needs none of it typed again."""

import json
import os
import tempfile

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputString,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterString,
)

from . import _native, classes_table, helpdocs


def _pairs(text):
    """'k=v;k=v' (also '|' or newlines) -> {k: value}: a value that is JSON is taken as JSON,
    anything else as a string, as `rastrum card --set` does."""
    changes = {}
    for separator in ("|", "\n"):
        text = text.replace(separator, ";")
    for item in (i.strip() for i in text.split(";")):
        if not item:
            continue
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise QgsProcessingException(f"Keys: expected key=value, found '{item}'")
        try:
            changes[key.strip()] = json.loads(value)
        except ValueError:
            changes[key.strip()] = value.strip()
    return changes


class SetCardAlgorithm(QgsProcessingAlgorithm):
    MODEL = "MODEL"
    FROM_JSON = "FROM_JSON"
    CLASSES = "CLASSES"
    KEYS = "KEYS"
    REMOVE = "REMOVE"
    OUTPUT = "OUTPUT"
    CARD = "CARD"

    def createInstance(self):  # noqa: N802 (QGIS's names throughout)
        return SetCardAlgorithm()

    def icon(self):
        return helpdocs.icon()

    def helpUrl(self):  # noqa: N802
        return helpdocs.url("model-card.md")

    def name(self):
        return "setcard"

    def displayName(self):
        return "Set model card"

    def tags(self):
        return ["onnx", "model card", "metadata", "class names", "colours", "normalisation", "deep learning",
                "rastrum"]

    def shortHelpString(self):
        return ("<p>Writes a copy of an ONNX model with its card (the metadata Rastrum, Deepness and GeoDeep "
                "read) changed, so that every run takes the model's scaling, classes and colours without "
                "typing them. Only the card changes: the graph and its weights are copied byte for byte.</p>"
                "<p>Applied in order: the JSON file (a card, or a model's side file such as ukis-csmask's "
                "<i>model_6b_l1c.json</i>), the class table, the other keys, the removals. A value the card "
                "cannot use is refused, naming its key, and nothing is written.</p>")

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterFile(self.MODEL, "Model (ONNX)", extension="onnx"))
        side = QgsProcessingParameterFile(self.FROM_JSON, "Keys from a JSON file (card or side file)",
                                          extension="json", optional=True)
        side.setHelp("A JSON object of card keys, or ukis-csmask's model_*.json (its standardisation, "
                     "tile size and classes).")
        self.addParameter(side)
        classes = classes_table.parameter(self.CLASSES, "Classes (id, name, colour)")
        classes.setHelp("One row per class: its id (0, 1, ...), its name and, optionally, its colour as #rrggbb.")
        self.addParameter(classes)
        keys = QgsProcessingParameterString(self.KEYS, "Other keys (key=value;key=value)", optional=True)
        keys.setHelp("Any card key, e.g. rastrum_scale=0.0001;tiles_size=256 (see docs/model-card.md).")
        self.addParameter(keys)
        remove = QgsProcessingParameterString(self.REMOVE, "Keys to remove (comma-separated)", optional=True)
        self.addParameter(remove)
        self.addParameter(QgsProcessingParameterFileDestination(self.OUTPUT, "Model with the card",
                                                                "ONNX models (*.onnx)"))
        self.addOutput(QgsProcessingOutputString(self.CARD, "The card written (JSON)"))

    def _changes(self, parameters, context):
        """The edits after the JSON file, as one object (None removes a key)."""
        changes = {}
        if parameters.get(self.CLASSES) not in (None, "", []):
            changes = classes_table.card_keys(self.parameterAsMatrix(parameters, self.CLASSES, context))
        changes.update(_pairs(self.parameterAsString(parameters, self.KEYS, context)))
        for key in self.parameterAsString(parameters, self.REMOVE, context).split(","):
            if key.strip():
                changes[key.strip()] = None
        return changes

    def processAlgorithm(self, parameters, context, feedback):
        model = self.parameterAsFile(parameters, self.MODEL, context)
        side = self.parameterAsFile(parameters, self.FROM_JSON, context)
        output = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        changes = self._changes(parameters, context)
        keys = None
        if side:
            try:
                with open(side, encoding="utf-8") as f:
                    keys = json.load(f)
            except (OSError, ValueError) as error:
                raise QgsProcessingException(f"{side}: {error}") from error
        try:
            card = self._write(model, keys, changes, output)
        except (_native.RastrumError, _native.LibraryLoadError) as error:
            raise QgsProcessingException(str(error)) from error
        text = json.dumps(card, indent=2)
        feedback.pushInfo(f"Wrote {output} with the card:\n{text}")
        return {self.OUTPUT: output, self.CARD: text}

    @staticmethod
    def _write(model, keys, changes, output):
        """The model with `keys` (a JSON file's, translated whole by the library), then `changes`."""
        if keys is None:
            return _native.write_card(model, output, changes)
        # Two writes, the first to a temporary copy beside the output: the output appears
        # complete or not at all.
        handle, staged = tempfile.mkstemp(prefix=".rastrum-card-", suffix=".onnx",
                                          dir=os.path.dirname(os.path.abspath(output)))
        os.close(handle)
        try:
            _native.write_card(model, staged, keys)
            return _native.write_card(staged, output, changes)
        finally:
            os.remove(staged)
