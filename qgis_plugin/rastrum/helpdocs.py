"""The plugin's icon and the help page of each algorithm: the project's own documentation, shipped
in the plugin zip (help/) and found in the source tree's docs/ when run from a checkout, so that
help opens offline and always matches the installed version."""

import os

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import QUrl
from qgis.PyQt.QtGui import QIcon

HERE = os.path.dirname(os.path.abspath(__file__))
ICON = os.path.join(HERE, "icon.svg")


def icon():
    """The plugin's icon (QGIS's generic algorithm icon if the file is missing)."""
    if os.path.isfile(ICON):
        return QIcon(ICON)
    return QgsApplication.getThemeIcon("/processingAlgorithm.svg")


def url(page):
    """A file URL of documentation page `page` (e.g. "qgis.md"), or "" when neither the zip's
    help/ nor a checkout's docs/ has it."""
    for folder in (os.path.join(HERE, "help"), os.path.join(HERE, os.pardir, os.pardir, "docs")):
        path = os.path.normpath(os.path.join(folder, page))
        if os.path.isfile(path):
            return QUrl.fromLocalFile(path).toString()
    return ""
