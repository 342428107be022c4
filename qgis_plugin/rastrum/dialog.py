"""The model-aware part of a run algorithm's dialog: a widget wrapper of the BANDS parameter
(Processing's `widget_wrapper` metadata) that, once a model is chosen,

- shows a summary of its card as Rastrum resolves it (summary.card_summary: task, bands and their
  order, scaling, tile, resolution, classes and colours) above the bands field;
- fills every empty field's placeholder with the value the card gives it, so "Not set" reads as
  what the run will use;
- picks the bands from the input layer's bands, in the model's channel order.

The parameter stays a string, and the batch dialog and the modeler get a plain line edit: batch
mode, the graphical modeler and qgis_process work as before."""

import html
import re

from qgis.gui import QgsProcessingMultipleSelectionDialog
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QToolButton, QVBoxLayout, QWidget

from . import _native, summary

try:  # Processing's Python wrappers (QGIS desktop and qgis_process both ship them)
    from processing.gui.wrappers import DIALOG_STANDARD, WidgetWrapper
except ImportError:  # without them the fields stay plain (see `metadata`)
    DIALOG_STANDARD, WidgetWrapper = None, None

# Parameters whose empty field shows the card's value, and the resolved card's key for it.
PLACEHOLDERS = {
    "SCALE": "scale", "OFFSET": "offset", "MEAN": "mean", "STD": "std", "NODATA": "nodata",
    "TILE_SIZE": "tile_size", "OVERLAP": "overlap", "BATCH": "batch", "SMALL_SEGMENT": "small_segment",
    "SCALE_FACTOR": "scale_factor",
}


def _text(value):
    """A resolved value as the field would take it (lists comma-separated, one value when all
    are equal)."""
    if isinstance(value, list):
        if value and all(v == value[0] for v in value):
            value = [value[0]]
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return "" if value is None else str(value)


def _html(text):
    """The summary as rich text: one line each, every class colour shown as a swatch."""
    lines = [html.escape(line) for line in text.splitlines()]
    swatch = r'<span style="color:#\1">&#9632;</span> (#\1)'
    return "<br>".join(re.sub(r"\(#([0-9a-fA-F]{6})\)", swatch, line) for line in lines)


def _value_of(wrapper):
    """A wrapper's current value: C++ wrappers and Python ones differ."""
    if hasattr(wrapper, "parameterValue"):
        return wrapper.parameterValue()
    return wrapper.value()


def metadata(task):
    """The BANDS parameter's metadata that makes its dialog field model-aware, for `task`."""
    if WidgetWrapper is None:
        return {}
    return {"widget_wrapper": {"class": ModelAwareBandsWrapper, "task": task}}


class ModelAwareBandsWrapper(WidgetWrapper or object):
    """The BANDS field with the model's summary above it and a band picker beside it."""

    SUMMARY_NAME = "rastrumCardSummary"

    def createWidget(self, task=None):  # noqa: N802 (Processing's names)
        self.task = task
        self.edit = QLineEdit()
        self.edit.setObjectName("rastrumBands")
        self.edit.textChanged.connect(lambda: self.widgetValueHasChanged.emit(self))
        if self.dialogType != DIALOG_STANDARD:
            return self.edit
        self.summary = QLabel("Choose a model to see what it expects.")
        self.summary.setObjectName(self.SUMMARY_NAME)
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        pick = QToolButton()
        pick.setText("…")
        pick.setToolTip("Pick the input layer's bands, in the model's channel order")
        pick.clicked.connect(self._pick_bands)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit)
        row.addWidget(pick)
        column = QVBoxLayout()
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.summary)
        column.addLayout(row)
        widget = QWidget()
        widget.setLayout(column)
        return widget

    def setValue(self, value):  # noqa: N802
        self.edit.setText("" if value is None else str(value))

    def value(self):
        return self.edit.text().strip()

    def postInitialize(self, wrappers):  # noqa: N802
        self.others = {w.parameterDefinition().name(): w for w in wrappers if w is not self}
        model = self.others.get("MODEL")
        if self.dialogType == DIALOG_STANDARD and model is not None:
            model.widgetValueHasChanged.connect(lambda *_: self.model_changed())
            self.model_changed()

    def model_changed(self):
        """Reads the chosen model's card and shows it: the summary and the placeholders."""
        path = _value_of(self.others["MODEL"])
        # Each keystroke in the path field says "changed": read a model once per path.
        if not path or path == getattr(self, "_shown_path", None):
            return
        self._shown_path = path
        try:
            with _native.Model(path) as model:
                card = model.card({"task": self.task} if self.task else None)
        except (_native.RastrumError, _native.LibraryLoadError) as error:
            self.summary.setText(f"The model cannot be used: {error}")
            return
        self.summary.setText(_html(summary.card_summary(card)))
        resolved = card.get("resolved") or {}
        self.edit.setPlaceholderText(_text(resolved.get("bands")))
        for name, key in PLACEHOLDERS.items():
            wrapper = self.others.get(name)
            if wrapper is not None and key in resolved:
                self._show_default(wrapper, _text(resolved[key]))

    @staticmethod
    def _show_default(wrapper, text):
        """An empty field reads as the card's value: a line edit's placeholder, or the text a
        number box shows when it is not set."""
        widget = wrapper.wrappedWidget()
        if widget is None or not text:
            return
        for edit in [widget] + widget.findChildren(QLineEdit):
            if isinstance(edit, QLineEdit) and not hasattr(edit.parent(), "setSpecialValueText"):
                edit.setPlaceholderText(text)
                return
        boxes = [widget] if hasattr(widget, "setSpecialValueText") else [
            c for c in widget.findChildren(QWidget) if hasattr(c, "setSpecialValueText")]
        for box in boxes[:1]:
            box.setSpecialValueText(f"{text} (from the card)")

    def _pick_bands(self):
        """The input layer's bands in a list the user ticks and orders."""
        layer_wrapper = self.others.get("INPUT")
        widget = layer_wrapper.wrappedWidget() if layer_wrapper is not None else None
        layer = widget.currentLayer() if widget is not None and hasattr(widget, "currentLayer") else None
        if layer is None:
            self.summary.setText(self.summary.text() + "\n(Choose the input raster to pick its bands.)")
            return
        bands = list(range(1, layer.bandCount() + 1))
        chosen = [int(b) for b in self.value().split(",") if b.strip().isdigit()]
        dialog = QgsProcessingMultipleSelectionDialog(bands, [b for b in chosen if b in bands], self.widget)
        dialog.setWindowTitle("Bands, in the model's channel order (drag to reorder)")
        dialog.setValueFormatter(lambda b: f"Band {b}: {layer.bandName(b)}")
        if dialog.exec():
            self.setValue(",".join(str(b) for b in dialog.selectedOptions()))
