"""Class names and colours edited as a table (id, name, colour) instead of JSON: the Processing
parameter, and its value as the card's `class_names` and `rastrum_class_colors`."""

import re

from qgis.core import QgsProcessingException, QgsProcessingParameterMatrix

HEADERS = ["Class id", "Name", "Colour (#rrggbb, optional)"]
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


def parameter(name, description):
    """An optional table of classes, one row each."""
    return QgsProcessingParameterMatrix(name, description, numberRows=0, hasFixedNumberRows=False,
                                       headers=HEADERS, optional=True)


def card_keys(values):
    """The table's flat list of cells (row by row, as Processing gives it) as card values:
    {"class_names": {...}, "rastrum_class_colors": {...}} (a key only when it has entries).
    A row without an id or a name, a repeated id or a malformed colour is an error naming it."""
    cells = ["" if v is None else str(v).strip() for v in (values or [])]
    if not any(cells):  # an empty table (Processing gives [''] for an unset one)
        return {}
    if len(cells) % len(HEADERS):
        raise QgsProcessingException(f"class table: {len(cells)} cells, not rows of {len(HEADERS)}")
    names, colours = {}, {}
    for row in range(len(cells) // len(HEADERS)):
        ident, name, colour = cells[row * 3:row * 3 + 3]
        if not ident and not name and not colour:
            continue
        if not ident.isdigit():
            raise QgsProcessingException(f"class table, row {row + 1}: the class id must be 0, 1, 2..., found '{ident}'")
        key = str(int(ident))
        if key in names:
            raise QgsProcessingException(f"class table, row {row + 1}: class {key} is listed twice")
        if not name:
            raise QgsProcessingException(f"class table, row {row + 1}: class {key} has no name")
        names[key] = name
        if colour:
            if not _COLOUR.match(colour):
                raise QgsProcessingException(
                    f"class table, row {row + 1}: colour '{colour}' of class {key} is not #rrggbb")
            colours[key] = colour.lower()
    keys = {}
    if names:
        keys["class_names"] = names
    if colours:
        keys["rastrum_class_colors"] = colours
    return keys
