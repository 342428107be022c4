#!/usr/bin/env python3
"""Writes the QGIS plugin repository XML for the plugin zip (`make plugin-repo`).

The channel: plugins.qgis.org accepts no compiled binaries, and the zip carries librastrum and
ONNX Runtime, so Rastrum is published as a custom plugin repository: the zip and this
`plugins.xml` are uploaded together (e.g. as release assets), and users add the XML's URL once
under *Plugins > Manage and Install Plugins > Settings > Add...*; QGIS then installs and updates
the plugin like any other. Every field comes from the zip's own metadata.txt.

    scripts/plugin_repository.py PLUGIN_ZIP DOWNLOAD_BASE_URL OUT_XML
"""

import configparser
import datetime
import os
import sys
import xml.etree.ElementTree as ET
import zipfile


def plugin_metadata(zip_path):
    """The [general] section of the zip's rastrum/metadata.txt."""
    with zipfile.ZipFile(zip_path) as z:
        text = z.read("rastrum/metadata.txt").decode("utf-8")
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parser["general"]


def repository_xml(zip_path, base_url):
    meta = plugin_metadata(zip_path)
    name = os.path.basename(zip_path)
    stamp = datetime.datetime.fromtimestamp(os.path.getmtime(zip_path), datetime.timezone.utc).isoformat()
    root = ET.Element("plugins")
    plugin = ET.SubElement(root, "pyqgis_plugin", name=meta["name"], version=meta["version"], plugin_id="rastrum")
    fields = {
        "description": meta["description"], "about": meta.get("about", ""), "version": meta["version"],
        "qgis_minimum_version": meta["qgisMinimumVersion"], "qgis_maximum_version": meta["qgisMaximumVersion"],
        "file_name": name, "download_url": f"{base_url.rstrip('/')}/{name}",
        "author_name": meta["author"], "uploaded_by": meta["author"], "create_date": stamp, "update_date": stamp,
        "experimental": meta.get("experimental", "False"), "deprecated": meta.get("deprecated", "False"),
        "tags": meta.get("tags", ""), "homepage": meta.get("homepage", ""), "tracker": meta.get("tracker", ""),
        "repository": meta.get("repository", ""),
    }
    for key, value in fields.items():
        ET.SubElement(plugin, key).text = value
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def main():
    zip_path, base_url, out = sys.argv[1:4]
    text = repository_xml(zip_path, base_url)
    temp = out + ".part"
    with open(temp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(temp, out)
    print(f"plugin_repository: {out} (download from {base_url})")


if __name__ == "__main__":
    main()
