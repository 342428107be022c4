"""One Processing algorithm per Rastrum task. They only map parameters to the binding's options
(names of `rastrum run`'s flags) and style the outputs: tiling, stitching and inference all
happen in librastrum. A parameter left empty falls back to the model card inside the engine."""

import json
import os

from qgis.core import (
    QgsFeature,
    QgsFeatureRequest,
    QgsFields,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingOutputRasterLayer,
    QgsProcessingOutputString,
    QgsProcessingParameterBand,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterVectorDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingUtils,
    QgsVectorFileWriter,
)

from . import _native, classes_table, compat, dialog, helpdocs, styling, summary

DEVICES = [("CPU", "cpu"), ("CUDA", "cuda"), ("TensorRT", "tensorrt")]
FROM_CARD = "From the model card"
STITCH_MODES = [FROM_CARD, "blend", "crop"]
REDISTRIBUTE_MODES = [FROM_CARD, "none", "uniform", "weight"]

# Settings of the run shown as a one-line summary before it starts (from the resolved card).
REPORTED = ("task", "bands", "tile_size", "overlap", "stitch", "batch", "scale", "offset", "mean", "std",
            "class_names")


def _split_list(text):
    """'A=1;B=2' (also '|' or newlines, as GDAL option widgets write them) -> ['A=1', 'B=2']."""
    for separator in ("|", "\n"):
        text = text.replace(separator, ";")
    return [item.strip() for item in text.split(";") if item.strip()]


def _same_key(a, b):
    """The library's key grammar (src/grammar.rs): case, a leading `--`, `-` and `_` do not
    matter. Needed here only to collect repeated `co` / `set` items before the library sees them."""
    canonical = lambda k: k.strip().lstrip("-").lower().replace("_", "-")
    return canonical(a) == canonical(b)


class RastrumAlgorithm(QgsProcessingAlgorithm):
    """The parameters every run shares, and the run itself. Subclasses set the task, the name
    and which optional parameters they show."""

    MODEL = "MODEL"
    INPUT = "INPUT"
    BANDS = "BANDS"
    SCALE = "SCALE"
    OFFSET = "OFFSET"
    MEAN = "MEAN"
    STD = "STD"
    NODATA = "NODATA"
    TILE_SIZE = "TILE_SIZE"
    OVERLAP = "OVERLAP"
    STITCH = "STITCH"
    BATCH = "BATCH"
    DEVICE = "DEVICE"
    ALLOW_FALLBACK = "ALLOW_FALLBACK"
    THREADS = "THREADS"
    PROBABILITIES = "PROBABILITIES"
    REDISTRIBUTE = "REDISTRIBUTE"
    WEIGHT_BAND = "WEIGHT_BAND"
    SCALE_FACTOR = "SCALE_FACTOR"
    SMALL_SEGMENT = "SMALL_SEGMENT"
    ALL_OUTPUTS = "ALL_OUTPUTS"
    CONFIDENCE = "CONFIDENCE"
    IOU = "IOU"
    OUTPUT_VECTOR = "OUTPUT_VECTOR"
    CLASSES = "CLASSES"
    EXTENT = "EXTENT"
    MASK = "MASK"
    CREATION_OPTIONS = "CREATION_OPTIONS"
    EXTRA_OPTIONS = "EXTRA_OPTIONS"
    OUTPUT = "OUTPUT"
    OUTPUT_PROBABILITIES = "OUTPUT_PROBABILITIES"
    PROVIDER = "PROVIDER"
    SUMMARY = "SUMMARY"
    TILES_RUN = "TILES_RUN"
    TILES_SKIPPED = "TILES_SKIPPED"

    task = None  # the engine's task name
    name_ = display_ = help_ = ""
    shows = ()  # optional task-specific parameters: PROBABILITIES, STITCH, REDISTRIBUTE, ...
    output_style = None  # styling kind of OUTPUT
    output_label = "Output raster"
    output_vector = False  # OUTPUT is a vector layer (detections), not a GeoTIFF

    def createInstance(self):  # noqa: N802 (QGIS's names throughout)
        return type(self)()

    def name(self):
        return self.name_

    def displayName(self):
        return self.display_

    def icon(self):
        return helpdocs.icon()

    def helpUrl(self):  # noqa: N802
        return helpdocs.url(self.help_page)

    help_page = "qgis.md"

    def shortHelpString(self):
        return (
            self.help_
            + "<p>Empty parameters take their value from the model card (see <i>Model info</i>), "
            "then from the model's shapes. Runs on every core; tiles wholly outside the mask or "
            "extent are skipped and pixels outside are nodata.</p>"
        )

    # ---------------------------------------------------------------------------------------
    # Parameters

    def tags(self):
        # What a toolbox search for the job finds: the model kind, the runtime, the task.
        return ["onnx", "deep learning", "neural network", "cnn", "inference", "model", "raster", "rastrum",
                *self.tags_]

    tags_ = ()  # the task's own search words

    def _add(self, parameter, help_text, advanced=False):
        parameter.setHelp(help_text)
        if advanced:
            parameter.setFlags(parameter.flags() | compat.FLAG_ADVANCED)
        self.addParameter(parameter)

    def initAlgorithm(self, config=None):
        self._add(QgsProcessingParameterFile(self.MODEL, "Model (ONNX)", extension="onnx"),
                  "The ONNX model; its card (metadata) gives the defaults of every empty parameter.")
        self._add(QgsProcessingParameterRasterLayer(self.INPUT, "Input raster"),
                  "Any GDAL raster; it is read tile by tile, never whole.")
        bands = QgsProcessingParameterString(self.BANDS, "Bands, in model channel order (e.g. 4,3,2)", optional=True)
        # In the dialog: the chosen model's summary above this field, its values as every empty
        # field's placeholder, and a band picker (dialog.py).
        bands.setMetadata(dialog.metadata(self.task))
        self._add(bands, "1-based input bands; empty: the card's rastrum_bands, else 1..channels.")
        for name, label, example in (
            (self.SCALE, "Scale: x = raw * scale + offset", "0.0001"),
            (self.OFFSET, "Offset", "-0.1"),
            (self.MEAN, "Standardisation mean (after scale and offset)", "0.3,0.3,0.3"),
            (self.STD, "Standardisation std", "0.2,0.2,0.2"),
        ):
            self._add(QgsProcessingParameterString(name, label, optional=True),
                      f"One value or one per band, comma-separated (e.g. {example}); empty: from the card.")
        self._add(self._number(self.NODATA, "Input nodata (overrides the raster's)", float),
                  "Pixels equal to it in any selected band are invalid (output nodata).", advanced=True)
        self._add(self._number(self.TILE_SIZE, "Tile size (pixels)", int, minimum=1),
                  "Model input size in pixels; empty: the card's, else the model's. A model with a fixed "
                  "input size refuses any other.")
        self._add(self._number(self.OVERLAP, "Overlap (pixels)", int, minimum=0),
                  "Overlap between neighbouring tiles; empty: from the card (12.5 % of the tile for "
                  "pixel tasks, 0 for per-tile tasks).")
        if self.STITCH in self.shows:
            self._add(QgsProcessingParameterEnum(self.STITCH, "Stitching", STITCH_MODES, defaultValue=0),
                      "blend: weighted, seam-free; crop: each pixel from exactly one tile.", advanced=True)
        self._add(self._number(self.BATCH, "Batch size (tiles per model call)", int, minimum=1),
                  "Larger batches use the GPU better; empty: from the card or the model.", advanced=True)
        self._add(QgsProcessingParameterEnum(self.DEVICE, "Device", [label for label, _ in DEVICES],
                                             defaultValue=0),
                  "Execution provider. CUDA and TensorRT need the GPU build of the plugin's ONNX Runtime.")
        self._add(QgsProcessingParameterBoolean(self.ALLOW_FALLBACK, "Fall back to the CPU if the device "
                                                "is not available", defaultValue=False),
                  "The provider actually used is reported in the log and the PROVIDER output.", advanced=True)
        self._add(QgsProcessingParameterNumber(self.THREADS, "Threads (0 = all cores)",
                                               compat.INTEGER, 0, minValue=0),
                  "ONNX Runtime intra-op threads.", advanced=True)
        if self.PROBABILITIES in self.shows:
            self._add(QgsProcessingParameterBoolean(self.PROBABILITIES, "Also write class probabilities",
                                                    defaultValue=False),
                      "Writes OUTPUT_probabilities.tif beside the class raster, one band per class.")
        if self.REDISTRIBUTE in self.shows:
            self._add(QgsProcessingParameterEnum(self.REDISTRIBUTE, "Redistribute per-tile values",
                                                 REDISTRIBUTE_MODES, defaultValue=0),
                      "Per-tile regression: none (one value per tile), uniform, or weight (spread "
                      "over the tile by the weight band, total preserved).")
            self._add(QgsProcessingParameterBand(self.WEIGHT_BAND, "Weight band", None, self.INPUT,
                                                 optional=True),
                      "Band weighting the redistribution (w = exp(L / max L) - 1); empty: from the card.")
        if self.SMALL_SEGMENT in self.shows:
            self._add(self._number(self.SMALL_SEGMENT, "Remove small segments (window, pixels)", int, minimum=0),
                      "Deepness's small-segment removal: each class pixel becomes the median class of this "
                      "window around it (0: off); empty: the card's seg_small_segment.", advanced=True)
        if self.CONFIDENCE in self.shows:
            self._add(self._number(self.CONFIDENCE, "Minimum score of an object (0 to 1)", float, minimum=0),
                      "Objects scoring less are dropped; empty: the card's det_conf, else 0.3.")
            self._add(self._number(self.IOU, "Overlap of duplicates (IoU, 0 to 1)", float, minimum=0),
                      "Of two boxes of a class overlapping more than this, the lower-scoring is dropped "
                      "(across tiles too); empty: the card's det_iou_thresh, else 0.5.")
        if self.SCALE_FACTOR in self.shows:
            self._add(self._number(self.SCALE_FACTOR, "Scale factor", int, minimum=1),
                      "Output pixels per input pixel; empty: from the model's shapes.", advanced=True)
        self._add(QgsProcessingParameterBoolean(self.ALL_OUTPUTS, "Write every model output (one raster each)",
                                                defaultValue=False),
                  "A model with several outputs writes OUTPUT for its first and OUTPUT_<name> beside it for "
                  "each other, in one pass; a card naming several heads does so by default.", advanced=True)
        self._add(QgsProcessingParameterExtent(self.EXTENT, "Processing extent", optional=True),
                  "Only this extent is processed (and written).")
        self._add(QgsProcessingParameterFeatureSource(self.MASK, "Mask polygons",
                                                      [compat.VECTOR_POLYGON], optional=True),
                  "Pixels outside the polygons are nodata; tiles wholly outside are skipped. "
                  "Selected features only and filters are honoured.")
        self._add(QgsProcessingParameterString(self.CREATION_OPTIONS, "GeoTIFF creation options "
                                               "(KEY=VALUE;KEY=VALUE)", optional=True),
                  "GDAL GTiff creation options, e.g. COMPRESS=ZSTD;PREDICTOR=2.", advanced=True)
        if self.CLASSES in self.shows:
            self._add(classes_table.parameter(self.CLASSES, "Class names and colours (instead of the card's)"),
                      "One row per class: its id (0, 1, ...), its name and, optionally, its colour as #rrggbb. "
                      "To keep them with the model, use Set model card.", advanced=True)
        self._add(QgsProcessingParameterString(self.EXTRA_OPTIONS, "More options (key=value;key=value)",
                                               optional=True),
                  "Any other run option by name (docs/model-card.md lists them), e.g. margin=16;"
                  "output-nodata=-1;cog=true;set=seg_thresh=0.4.", advanced=True)
        if self.OUTPUT_VECTOR in self.shows:
            self.addParameter(QgsProcessingParameterVectorDestination(
                self.OUTPUT_VECTOR, "Class polygons (with class names)", compat.VECTOR_POLYGON,
                optional=True, createByDefault=False))
        if self.output_vector:
            self.addParameter(QgsProcessingParameterVectorDestination(
                self.OUTPUT, self.output_label, compat.VECTOR_POLYGON))
        else:
            self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, self.output_label))
        if self.PROBABILITIES in self.shows:
            self.addOutput(QgsProcessingOutputRasterLayer(self.OUTPUT_PROBABILITIES, "Class probabilities"))
        self.addOutput(QgsProcessingOutputString(self.PROVIDER, "Execution provider used"))
        self.addOutput(QgsProcessingOutputString(self.SUMMARY, "Run summary (JSON)"))
        self.addOutput(QgsProcessingOutputNumber(self.TILES_RUN, "Tiles run"))
        self.addOutput(QgsProcessingOutputNumber(self.TILES_SKIPPED, "Tiles skipped"))

    @staticmethod
    def _number(name, label, kind, minimum=None):
        """An optional number with no default: unset means 'from the card'."""
        number_type = compat.INTEGER if kind is int else compat.DOUBLE
        parameter = QgsProcessingParameterNumber(name, label, number_type, None, optional=True)
        if minimum is not None:
            parameter.setMinimum(minimum)
        return parameter

    # ---------------------------------------------------------------------------------------
    # Parameters -> options

    @staticmethod
    def _is_set(parameters, name):
        return parameters.get(name) not in (None, "")

    def _options(self, parameters, context, feedback, layer):
        """The binding's options (a dict keyed by `rastrum run` names) for these parameters."""
        options = {"task": self.task}
        for name, key in ((self.BANDS, "bands"), (self.SCALE, "scale"), (self.OFFSET, "offset"),
                          (self.MEAN, "mean"), (self.STD, "std")):
            text = self.parameterAsString(parameters, name, context).strip()
            if text:
                options[key] = text
        for name, key, read in ((self.NODATA, "nodata", self.parameterAsDouble),
                                (self.TILE_SIZE, "tile_size", self.parameterAsInt),
                                (self.OVERLAP, "overlap", self.parameterAsInt),
                                (self.BATCH, "batch", self.parameterAsInt),
                                (self.SCALE_FACTOR, "scale_factor", self.parameterAsInt),
                                (self.SMALL_SEGMENT, "small_segment", self.parameterAsInt),
                                (self.WEIGHT_BAND, "weight_band", self.parameterAsInt),
                                (self.CONFIDENCE, "det_conf", self.parameterAsDouble),
                                (self.IOU, "det_iou_thresh", self.parameterAsDouble)):
            if self._is_set(parameters, name) and self.parameterDefinition(name) is not None:
                options[key] = read(parameters, name, context)
        for name, key, choices in ((self.STITCH, "stitch", STITCH_MODES),
                                   (self.REDISTRIBUTE, "redistribute", REDISTRIBUTE_MODES)):
            if self.parameterDefinition(name) is not None:
                index = self.parameterAsEnum(parameters, name, context)
                if index > 0:
                    options[key] = choices[index]
        if self.parameterDefinition(self.PROBABILITIES) is not None:
            options["probabilities"] = self.parameterAsBoolean(parameters, self.PROBABILITIES, context)
        if self.parameterDefinition(self.OUTPUT_VECTOR) is not None and self._is_set(parameters, self.OUTPUT_VECTOR):
            vector = self.parameterAsOutputLayer(parameters, self.OUTPUT_VECTOR, context)
            if vector:
                options["vector"] = vector
        if self.parameterAsBoolean(parameters, self.ALL_OUTPUTS, context):
            options["all_outputs"] = True
        if self._is_set(parameters, self.EXTENT):
            # In the input's CRS, as the engine expects, whatever CRS the extent was given in.
            r = self.parameterAsExtent(parameters, self.EXTENT, context, layer.crs())
            options["extent"] = f"{r.xMinimum()!r},{r.yMinimum()!r},{r.xMaximum()!r},{r.yMaximum()!r}"
        if self._is_set(parameters, self.MASK):
            options["mask"] = self._mask_path(parameters, context, feedback, layer)
        if self.CLASSES in self.shows and self._is_set(parameters, self.CLASSES):
            table = classes_table.card_keys(self.parameterAsMatrix(parameters, self.CLASSES, context))
            if table:
                options["set"] = [f"{key}={json.dumps(value)}" for key, value in table.items()]
        creation = _split_list(self.parameterAsString(parameters, self.CREATION_OPTIONS, context))
        if creation:
            options["co"] = creation
        for item in _split_list(self.parameterAsString(parameters, self.EXTRA_OPTIONS, context)):
            key, equals, value = item.partition("=")
            if not equals:
                raise QgsProcessingException(f"More options: expected key=value, found '{item}'")
            key = key.strip()
            if _same_key(key, "co") or _same_key(key, "set"):  # the engine appends these: keep every one
                key = key.strip().lstrip("-").lower()
                options.setdefault(key, []).append(value.strip())
            else:
                options[key] = value.strip()
        return options

    def _mask_path(self, parameters, context, feedback, layer):
        """The mask as a GeoPackage in the input's CRS. Always exported (masks are small): this
        honours selections, filters and non-file layers alike, and spares the engine any
        reprojection of the polygons."""
        source = self.parameterAsSource(parameters, self.MASK, context)
        if source is None:
            raise QgsProcessingException(self.invalidSourceError(parameters, self.MASK))
        path = QgsProcessingUtils.generateTempFilename("rastrum_mask.gpkg")
        save = QgsVectorFileWriter.SaveVectorOptions()
        save.driverName = "GPKG"
        writer = QgsVectorFileWriter.create(path, QgsFields(), source.wkbType(), layer.crs(),
                                            context.transformContext(), save)
        if writer.hasError():
            raise QgsProcessingException(f"cannot write the mask {path}: {writer.errorMessage()}")
        request = QgsFeatureRequest().setNoAttributes()
        if layer.crs().isValid():
            request.setDestinationCrs(layer.crs(), context.transformContext())
        count = 0
        for feature in source.getFeatures(request):
            if feedback.isCanceled():
                break
            out = QgsFeature()
            out.setGeometry(feature.geometry())
            writer.addFeature(out)
            count += 1
        del writer  # closes the file
        if count == 0:
            raise QgsProcessingException("the mask has no polygon: nothing would be processed")
        return path

    # ---------------------------------------------------------------------------------------
    # The run

    def processAlgorithm(self, parameters, context, feedback):
        model_path = self.parameterAsFile(parameters, self.MODEL, context)
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None:
            raise QgsProcessingException(self.invalidRasterError(parameters, self.INPUT))
        if layer.providerType() != "gdal":
            raise QgsProcessingException(
                f"{layer.name()} is a '{layer.providerType()}' layer: Rastrum reads GDAL rasters "
                "(save it as a GeoTIFF first)")
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        extension = os.path.splitext(output)[1].lower()
        if self.output_vector and extension not in (".gpkg", ".fgb", ".geojson", ".geojsonl", ".sqlite"):
            raise QgsProcessingException(f"{output}: choose a .gpkg (or .fgb, .geojson, .sqlite) output")
        if not self.output_vector and extension not in (".tif", ".tiff"):
            raise QgsProcessingException(f"{output}: Rastrum writes GeoTIFF, choose a .tif output")
        device = DEVICES[self.parameterAsEnum(parameters, self.DEVICE, context)][1]
        fallback = self.parameterAsBoolean(parameters, self.ALLOW_FALLBACK, context)
        threads = self.parameterAsInt(parameters, self.THREADS, context)
        options = self._options(parameters, context, feedback, layer)

        def progress(fraction, message):
            feedback.setProgress(100.0 * fraction)
            return not feedback.isCanceled()  # False cancels the run at the next batch

        try:
            with _native.Model(model_path, device=device, threads=threads, allow_fallback=fallback) as model:
                feedback.pushInfo(f"librastrum {_native.version()} from {_native.library_path()}")
                resolved = model.card(options).get("resolved", {})
                feedback.pushInfo("Settings: " + ", ".join(
                    f"{k}={json.dumps(resolved[k])}" for k in REPORTED if k in resolved))
                # The processing grid and tile count before the first tile, as the CLI prints
                # them: a wrong resolution or tile size shows before the wait.
                layout = model.layout(layer.source(), options)
                if layout.get("grid"):
                    feedback.pushInfo(f"Grid: {layout['grid']}")
                # Inputs that look off (raw values into a scaled model), said before the wait.
                for warning in layout.get("warnings", []):
                    feedback.reportError(f"Warning: {warning}", fatalError=False)
                if feedback.isCanceled():
                    raise QgsProcessingException("cancelled before the run started")
                summary = _native.run(model, layer.source(), output, options, progress=progress)
        except (_native.RastrumError, _native.LibraryLoadError) as error:
            # The library's own message (it names the file, option or mismatch).
            raise QgsProcessingException(str(error)) from error

        provider = summary.get("provider", "")
        feedback.pushInfo(f"Execution provider: {provider}")
        if device not in provider.split(" ")[0]:
            feedback.reportError(f"{device} was asked for, the run used {provider}", fatalError=False)
        feedback.pushInfo(f"Tiles: {summary.get('tiles_run')} run, {summary.get('tiles_skipped')} skipped "
                          f"of {summary.get('tiles_total')}, in {summary.get('seconds', 0):.1f} s")

        outputs = summary.get("outputs", [output])
        results = {
            self.OUTPUT: output,
            self.PROVIDER: provider,
            self.SUMMARY: json.dumps(summary),
            self.TILES_RUN: summary.get("tiles_run"),
            self.TILES_SKIPPED: summary.get("tiles_skipped"),
        }
        probabilities = outputs[1] if self.PROBABILITIES in self.shows and len(outputs) > 1 else None
        # The class map stays above its probabilities in the layer tree, whichever loads last.
        order = (output, probabilities) if probabilities else None
        self._style(context, feedback, output, self.output_style, order)
        if context.willLoadLayerOnCompletion(output):
            # Named for what it is and what it was made from: runs over several inputs stay apart.
            context.layerToLoadOnCompletionDetails(output).name = f"{self.output_label} of {layer.name()}"
        if self.PROBABILITIES in self.shows:
            results[self.OUTPUT_PROBABILITIES] = probabilities
            if probabilities:
                if context.willLoadLayerOnCompletion(output):
                    details = QgsProcessingContext.LayerDetails(
                        f"Class probabilities of {layer.name()}", context.project(), self.OUTPUT_PROBABILITIES)
                    context.addLayerToLoadOnCompletion(probabilities, details)
                self._style(context, feedback, probabilities, styling.PROBABILITIES, order)
        if "vector" in options:
            results[self.OUTPUT_VECTOR] = options["vector"]
        for head in summary.get("heads", [])[1:]:
            self._head_result(context, feedback, output, head, results, layer.name())
        return results

    def _head_result(self, context, feedback, output, head, results, source_name):
        """A head after the first of a multi-head run: its raster as OUTPUT_<name>, loaded and
        styled as OUTPUT is."""
        key, path = f"{self.OUTPUT}_{head['name']}", head["outputs"][0]
        results[key] = path
        feedback.pushInfo(f"Output '{head['output_name']}': {path}")
        if context.willLoadLayerOnCompletion(output):
            details = QgsProcessingContext.LayerDetails(
                f"{self.output_label} ({head['output_name']}) of {source_name}", context.project(), key)
            context.addLayerToLoadOnCompletion(path, details)
        self._style(context, feedback, path, self.output_style)

    @staticmethod
    def _style(context, feedback, path, kind, order=None):
        """Saves the style of `path` and styles it when loaded; `order`: the files to keep one
        above the other in the layer tree (styling.keep_above)."""
        if kind is None:
            return
        problem = styling.save_style(path, kind)
        if problem:
            feedback.reportError(f"the style could not be saved: {problem}", fatalError=False)
        if context.willLoadLayerOnCompletion(path):
            context.layerToLoadOnCompletionDetails(path).setPostProcessor(styling.post_processor(kind, order))


class SegmentAlgorithm(RastrumAlgorithm):
    task = "segmentation"
    name_, display_ = "segment", "Segment raster"
    help_ = ("<p>Per-pixel classes from a segmentation model: a class band (u8, nodata 255) named and "
             "coloured from the card, optionally with per-class probabilities.</p>")
    shows = (RastrumAlgorithm.PROBABILITIES, RastrumAlgorithm.STITCH, RastrumAlgorithm.SMALL_SEGMENT,
             RastrumAlgorithm.OUTPUT_VECTOR, RastrumAlgorithm.CLASSES)
    tags_ = ("segmentation", "semantic segmentation", "land cover", "cloud mask", "classes")
    output_style = styling.CLASSES
    output_label = "Classes"


class ClassifyAlgorithm(RastrumAlgorithm):
    task = "classification"
    name_, display_ = "classify", "Classify tiles"
    help_ = "<p>One class per tile from a classification model, as a class raster.</p>"
    shows = (RastrumAlgorithm.PROBABILITIES, RastrumAlgorithm.CLASSES)
    tags_ = ("classification", "scene classification", "tiles")
    output_style = styling.CLASSES
    output_label = "Classes"


class RegressAlgorithm(RastrumAlgorithm):
    task = "regression"
    name_, display_ = "regress", "Predict regression"
    help_ = ("<p>Values from a regression model: per pixel, or per tile and then redistributed over "
             "the tile's pixels (uniformly or weighted by a band, preserving each tile's total).</p>")
    shows = (RastrumAlgorithm.STITCH, RastrumAlgorithm.REDISTRIBUTE)
    tags_ = ("regression", "population", "estimation")
    output_style = styling.VALUES
    output_label = "Values"


class SuperResolveAlgorithm(RastrumAlgorithm):
    task = "super_resolution"
    name_, display_ = "superresolve", "Super-resolve raster"
    help_ = "<p>A finer raster from a super-resolution model, georeferenced on the finer grid.</p>"
    shows = (RastrumAlgorithm.STITCH, RastrumAlgorithm.SCALE_FACTOR)
    tags_ = ("super-resolution", "upsampling", "sharpen")
    output_style = None  # an image: QGIS's own stretch shows it best
    output_label = "Super-resolved raster"


class DetectAlgorithm(RastrumAlgorithm):
    task = "detection"
    name_, display_ = "detect", "Detect objects"
    help_ = ("<p>Objects from a detection model (YOLO formats, see docs/detection.md): one polygon per object "
             "with its class, class name, score and tile, merged across tiles, coloured by class.</p>")
    shows = (RastrumAlgorithm.CONFIDENCE, RastrumAlgorithm.CLASSES)
    tags_ = ("detection", "object detection", "yolo", "boxes", "instances")
    output_style = styling.DETECTIONS
    output_label = "Objects"
    output_vector = True
    help_page = "detection.md"


class ModelInfoAlgorithm(QgsProcessingAlgorithm):
    """The model card resolved against the model's shapes (and optional options), as JSON."""

    MODEL = "MODEL"
    DEVICE = "DEVICE"
    ALLOW_FALLBACK = "ALLOW_FALLBACK"
    EXTRA_OPTIONS = "EXTRA_OPTIONS"
    SHOW_JSON = "SHOW_JSON"
    CARD = "CARD"
    SUMMARY = "SUMMARY"
    PROVIDER = "PROVIDER"

    def createInstance(self):  # noqa: N802
        return ModelInfoAlgorithm()

    def icon(self):
        return helpdocs.icon()

    def helpUrl(self):  # noqa: N802
        return helpdocs.url("model-card.md")

    def name(self):
        return "modelinfo"

    def displayName(self):
        return "Model info"

    def shortHelpString(self):
        return ("<p>Says in a few lines what the model expects and gives, as Rastrum resolves its card: "
                "task, bands and their order, scaling, tile size, resolution, classes and colours, and the "
                "execution provider bound. Every run algorithm uses these values for the parameters left "
                "empty. The whole resolved card (JSON) is the CARD output, and printed too on request.</p>")

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterFile(self.MODEL, "Model (ONNX)", extension="onnx"))
        self.addParameter(QgsProcessingParameterEnum(self.DEVICE, "Device", [label for label, _ in DEVICES],
                                                     defaultValue=0))
        self.addParameter(QgsProcessingParameterBoolean(self.ALLOW_FALLBACK, "Fall back to the CPU",
                                                        defaultValue=True))
        extra = QgsProcessingParameterString(self.EXTRA_OPTIONS, "Options to resolve against "
                                             "(key=value;key=value)", optional=True)
        extra.setHelp("Options of `rastrum run`, e.g. bands=4,3,2;tile-size=512")
        self.addParameter(extra)
        self.addParameter(QgsProcessingParameterBoolean(self.SHOW_JSON, "Also print the whole card (JSON)",
                                                        defaultValue=False))
        self.addOutput(QgsProcessingOutputString(self.CARD, "Resolved model card (JSON)"))
        self.addOutput(QgsProcessingOutputString(self.SUMMARY, "Summary"))
        self.addOutput(QgsProcessingOutputString(self.PROVIDER, "Execution provider"))

    def processAlgorithm(self, parameters, context, feedback):
        path = self.parameterAsFile(parameters, self.MODEL, context)
        device = DEVICES[self.parameterAsEnum(parameters, self.DEVICE, context)][1]
        fallback = self.parameterAsBoolean(parameters, self.ALLOW_FALLBACK, context)
        items = _split_list(self.parameterAsString(parameters, self.EXTRA_OPTIONS, context))
        try:
            options = _native.Options()
            try:
                for item in items:
                    key, _, value = item.partition("=")
                    options.set(key.strip(), value.strip())  # the library reads any spelling
                with _native.Model(path, device=device, allow_fallback=fallback) as model:
                    card = model.card(options)
            finally:
                options.close()
        except (_native.RastrumError, _native.LibraryLoadError) as error:
            raise QgsProcessingException(str(error)) from error
        text = json.dumps(card, indent=2)
        short = summary.card_summary(card)
        feedback.pushInfo(short)
        if self.parameterAsBoolean(parameters, self.SHOW_JSON, context):
            feedback.pushInfo(text)
        return {self.CARD: text, self.SUMMARY: short, self.PROVIDER: card.get("provider", "")}


ALGORITHMS = (SegmentAlgorithm, ClassifyAlgorithm, RegressAlgorithm, SuperResolveAlgorithm, DetectAlgorithm,
              ModelInfoAlgorithm)
