"""Pure-ctypes binding of librastrum's C API (include/rastrum.h), exported by the ``rastrum``
package (``qgis_plugin/rastrum/__init__.py``).

Every ctypes declaration of the binding lives here, so that plain GDAL scripts and the QGIS
plugin share one module; it imports nothing from QGIS and needs only the standard library and
numpy (it also works copied alone, as a top-level module). The library is loaded on first use
(or by an explicit ``load_library(path)``) from, in order: the path given,
``$RASTRUM_LIBRARY``, ``librastrum.so.2``/``librastrum.so`` next to this file, the same in
``lib/`` and ``../lib/``, then the dynamic loader's own search.

    import rastrum                                  # with qgis_plugin/ on sys.path
    with rastrum.Model("model.onnx") as model:
        summary = rastrum.run(model, "in.tif", "out.tif", rastrum.Options(tile_size=256),
                              progress=lambda fraction, message: print(fraction, message))

Thread safety follows the C API: a Model may be used by any number of threads at once (ctypes
releases the GIL during each call), Options are built on one thread, a CancelToken may be
triggered from any thread.
"""

import contextlib
import ctypes
import json
import os
import threading
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    byref,
    c_char_p,
    c_double,
    c_float,
    c_int,
    c_int32,
    c_int64,
    c_size_t,
    c_uint32,
    c_void_p,
)

import numpy as np

try:  # the package's GDAL binding; copied alone, this module loads librastrum as it finds it
    from . import gdal_host
except ImportError:
    gdal_host = None

# The public names; the `rastrum` package exports the same (tests/python checks it). The status
# constants (OK, IO, ...) are added where the status table makes them.
__all__ = [
    "ABI_VERSION", "DETECTION_DTYPE", "STATUSES", "STITCH_BLEND", "STITCH_CROP", "TYPE_BYTE", "TYPE_FLOAT32",
    "load_library", "library_path", "init", "version", "abi_version", "status_name", "status_description",
    "Model", "Options", "CancelToken", "run", "detect", "assemble", "evaluate", "tiles", "Plan", "Stitcher",
    "read_card", "write_card", "gdal_library", "LibraryLoadError", "RastrumError", "InvalidArgumentError", "RastrumIOError",
    "RasterError", "ModelError", "RastrumRuntimeError", "ProviderError", "CancelledError", "PanicError",
    "InternalError", "BufferTooSmallError",
]

#: The record of one object found by ``detect``: its class, score, tile, and the envelope of its
#: polygon in the raster's CRS (x right, y up for a north-up raster).
DETECTION_DTYPE = np.dtype([
    ("class_id", np.int32), ("class_name", object), ("score", np.float32), ("tile", np.int32),
    ("xmin", np.float64), ("ymin", np.float64), ("xmax", np.float64), ("ymax", np.float64),
])

#: The C ABI this module is written against (RASTRUM_ABI_VERSION, also the SONAME's number).
ABI_VERSION = 2


# --------------------------------------------------------------------------------------------
# Exceptions


class LibraryLoadError(ImportError):
    """librastrum could not be found or loaded, or its ABI is not the one this module needs."""


class RastrumError(Exception):
    """A non-zero status from librastrum: ``status`` (int), ``status_name`` ("IO", ...) and
    ``message`` (the library's own message, from rastrum_last_error_message)."""

    def __init__(self, status, message):
        self.status = status
        self.status_name = status_name(status)
        self.message = message
        super().__init__(f"{message or status_description(status)} [{self.status_name}]")


class InvalidArgumentError(RastrumError, ValueError):
    """RASTRUM_INVALID_ARGUMENT: a bad argument, an unknown option, an impossible setting."""


class RastrumIOError(RastrumError, OSError):
    """RASTRUM_IO: a file could not be found, read or written."""


class RasterError(RastrumError):
    """RASTRUM_RASTER: the raster is unusable (bands, types, size)."""


class ModelError(RastrumError):
    """RASTRUM_MODEL: the model file, graph or card is unusable."""


class RastrumRuntimeError(RastrumError):
    """RASTRUM_RUNTIME: ONNX Runtime could not be loaded or failed while running."""


class ProviderError(RastrumError):
    """RASTRUM_PROVIDER: the requested execution provider is not available."""


class CancelledError(RastrumError):
    """RASTRUM_CANCELLED: the progress callback or a cancel token stopped the run."""


class PanicError(RastrumError):
    """RASTRUM_PANIC: a bug inside the library, caught at the API boundary; the host goes on."""


class InternalError(RastrumError):
    """RASTRUM_INTERNAL: an internal error of the library (a bug)."""


class BufferTooSmallError(RastrumError):
    """RASTRUM_BUFFER_TOO_SMALL: a caller buffer is smaller than needed."""


# The binding's one table of statuses: each RASTRUM_<NAME> code of include/rastrum.h (numbers
# append-only there, so fixed here), with the exception it raises. tests/python compares it
# with the header's #defines, name for name. The module's constants (OK, IO, ...) come from it.
_STATUS_TABLE = (
    ("OK", 0, None),
    ("INVALID_ARGUMENT", 1, InvalidArgumentError),
    ("IO", 2, RastrumIOError),
    ("RASTER", 3, RasterError),
    ("MODEL", 4, ModelError),
    ("RUNTIME", 5, RastrumRuntimeError),
    ("PROVIDER", 6, ProviderError),
    ("CANCELLED", 7, CancelledError),
    ("PANIC", 8, PanicError),
    ("INTERNAL", 9, InternalError),
    ("BUFFER_TOO_SMALL", 10, BufferTooSmallError),
)

#: Status codes by name without the RASTRUM_ prefix: {"OK": 0, "INVALID_ARGUMENT": 1, ...}.
STATUSES = {name: code for name, code, _ in _STATUS_TABLE}
globals().update(STATUSES)
__all__ += list(STATUSES)
_STATUS_NAMES = {code: name for name, code, _ in _STATUS_TABLE}
_ERRORS = {code: error for _, code, error in _STATUS_TABLE if error is not None}


def status_name(status):
    """The name of a status code without its RASTRUM_ prefix ("IO"), or "UNKNOWN(n)"."""
    return _STATUS_NAMES.get(status, f"UNKNOWN({status})")


def status_description(status):
    """The library's static description of a status code ("input/output error")."""
    return _lib().rastrum_status_str(status).decode("utf-8", "replace")


def _error(status):
    """The exception for a status, or None for OK. Must be called right after the failing call:
    any later rastrum_ call on this thread (even a free) clears the last error message."""
    if status == OK:
        return None
    raw = _lib().rastrum_last_error_message()
    message = raw.decode("utf-8", "replace") if raw else ""
    return _ERRORS.get(status, RastrumError)(status, message)


def _check(status):
    error = _error(status)
    if error is not None:
        raise error


# --------------------------------------------------------------------------------------------
# Library loading and declarations


class _ModelHandle(Structure):
    pass


class _OptionsHandle(Structure):
    pass


class _CancelHandle(Structure):
    pass


class _ResultHandle(Structure):
    pass


class _EvalOptionsHandle(Structure):
    pass


class _TilesOptionsHandle(Structure):
    pass


class _PlanHandle(Structure):
    pass


class _StitcherHandle(Structure):
    pass


class _PlanInfo(Structure):
    """rastrum_plan_info, field for field."""

    _fields_ = [
        ("tile_count", c_size_t), ("tile_columns", c_size_t), ("tile_rows", c_size_t),
        ("tile_size", c_size_t), ("input_bands", c_size_t), ("output_channels", c_size_t),
        ("output_size", c_size_t), ("output_values", c_size_t), ("per_tile", c_int32),
        ("stitch", c_int32), ("width", c_size_t), ("height", c_size_t), ("output_bands", c_size_t),
        ("data_type", c_int32), ("scale_factor", c_size_t), ("raster_width", c_size_t),
        ("raster_height", c_size_t),
    ]


class _Tile(Structure):
    """rastrum_tile, field for field."""

    _fields_ = [
        ("index", c_size_t), ("column", c_size_t), ("row", c_size_t), ("x", c_int64), ("y", c_int64),
        ("size", c_size_t), ("pad_left", c_size_t), ("pad_top", c_size_t), ("pad_right", c_size_t),
        ("pad_bottom", c_size_t), ("read_x", c_size_t), ("read_y", c_size_t), ("read_width", c_size_t),
        ("read_height", c_size_t), ("out_x", c_size_t), ("out_y", c_size_t), ("out_width", c_size_t),
        ("out_height", c_size_t), ("out_origin_x", c_int64), ("out_origin_y", c_int64),
    ]


class _Rows(Structure):
    """rastrum_rows, field for field."""

    _fields_ = [
        ("raster", c_int32), ("y", c_size_t), ("rows", c_size_t), ("width", c_size_t), ("bands", c_size_t),
        ("data_type", c_int32), ("data", c_void_p), ("nodata", c_double),
    ]


# int (*)(double complete, const char *message, void *user_data): GDALProgressFunc's shape.
# Both callbacks answer alike: non-zero goes on, 0 stops (cancels).
PROGRESS_FN = CFUNCTYPE(c_int, c_double, c_char_p, c_void_p)
# int (*)(const rastrum_rows *rows, void *user_data).
ROWS_FN = CFUNCTYPE(c_int, POINTER(_Rows), c_void_p)

# rastrum_plan_info.stitch and .data_type (GDALDataType numbers).
STITCH_BLEND = 0
STITCH_CROP = 1
TYPE_BYTE = 1
TYPE_FLOAT32 = 6

_ModelP = POINTER(_ModelHandle)
_OptionsP = POINTER(_OptionsHandle)
_CancelP = POINTER(_CancelHandle)
_ResultP = POINTER(_ResultHandle)
_EvalOptionsP = POINTER(_EvalOptionsHandle)
_TilesOptionsP = POINTER(_TilesOptionsHandle)
_PlanP = POINTER(_PlanHandle)
_StitcherP = POINTER(_StitcherHandle)

# Strings handed to the caller are declared c_void_p (not c_char_p) so that the pointer itself
# survives and can be given back to rastrum_string_free.
_OutString = POINTER(c_void_p)

_SIGNATURES = {
    "rastrum_version_string": (c_char_p, []),
    "rastrum_abi_version": (c_uint32, []),
    "rastrum_status_str": (c_char_p, [c_int32]),
    "rastrum_last_error_message": (c_char_p, []),
    "rastrum_string_free": (None, [c_void_p]),
    "rastrum_init": (c_int32, [c_char_p]),
    "rastrum_model_open": (c_int32, [c_char_p, c_char_p, c_int32, c_int32, POINTER(_ModelP)]),
    "rastrum_model_free": (None, [_ModelP]),
    "rastrum_model_provider": (c_int32, [_ModelP, _OutString]),
    "rastrum_model_card_json": (c_int32, [_ModelP, _OptionsP, _OutString]),
    "rastrum_card_read": (c_int32, [c_char_p, _OutString]),
    "rastrum_card_write": (c_int32, [c_char_p, c_char_p, c_char_p, _OutString]),
    "rastrum_model_output_shape": (
        c_int32,
        [_ModelP, c_size_t, c_size_t, c_size_t, c_size_t, c_size_t,
         POINTER(c_int64), c_size_t, POINTER(c_size_t), POINTER(c_size_t)],
    ),
    "rastrum_model_run_buffer": (
        c_int32,
        [_ModelP, POINTER(c_float), c_size_t, c_size_t, c_size_t, c_size_t, c_size_t,
         POINTER(c_float), c_size_t, POINTER(c_size_t)],
    ),
    "rastrum_options_new": (c_int32, [POINTER(_OptionsP)]),
    "rastrum_options_free": (None, [_OptionsP]),
    "rastrum_options_set": (c_int32, [_OptionsP, c_char_p, c_char_p]),
    "rastrum_options_set_cancel": (c_int32, [_OptionsP, _CancelP]),
    "rastrum_options_clone": (c_int32, [_OptionsP, POINTER(_OptionsP)]),
    "rastrum_options_clear_cancel": (c_int32, [_OptionsP]),
    "rastrum_cancel_new": (c_int32, [POINTER(_CancelP)]),
    "rastrum_cancel_set": (c_int32, [_CancelP, c_int32]),
    "rastrum_cancel_free": (None, [_CancelP]),
    "rastrum_run": (
        c_int32,
        [_ModelP, c_char_p, c_char_p, _OptionsP, PROGRESS_FN, c_void_p, POINTER(_ResultP)],
    ),
    "rastrum_layout_json": (c_int32, [_ModelP, c_char_p, _OptionsP, _OutString]),
    "rastrum_assemble": (c_int32, [POINTER(c_char_p), c_size_t, c_char_p, _OptionsP]),
    "rastrum_result_free": (None, [_ResultP]),
    "rastrum_result_tiles": (
        c_int32, [_ResultP, POINTER(c_size_t), POINTER(c_size_t), POINTER(c_size_t)]
    ),
    "rastrum_result_seconds": (c_int32, [_ResultP, POINTER(c_double)]),
    "rastrum_result_json": (c_int32, [_ResultP, _OutString]),
    "rastrum_result_provider": (c_int32, [_ResultP, _OutString]),
    "rastrum_eval_options_new": (c_int32, [POINTER(_EvalOptionsP)]),
    "rastrum_eval_options_free": (None, [_EvalOptionsP]),
    "rastrum_eval_options_set": (c_int32, [_EvalOptionsP, c_char_p, c_char_p]),
    "rastrum_eval": (c_int32, [c_char_p, c_char_p, _EvalOptionsP, _OutString]),
    "rastrum_tiles_options_new": (c_int32, [POINTER(_TilesOptionsP)]),
    "rastrum_tiles_options_free": (None, [_TilesOptionsP]),
    "rastrum_tiles_options_set": (c_int32, [_TilesOptionsP, c_char_p, c_char_p]),
    "rastrum_tiles": (
        c_int32,
        [POINTER(c_char_p), c_size_t, c_char_p, _TilesOptionsP, PROGRESS_FN, c_void_p, _OutString],
    ),
    "rastrum_plan_open": (c_int32, [c_char_p, _ModelP, _OptionsP, POINTER(_PlanP)]),
    "rastrum_plan_new": (c_int32, [c_size_t, c_size_t, c_size_t, _ModelP, _OptionsP, POINTER(_PlanP)]),
    "rastrum_plan_free": (None, [_PlanP]),
    "rastrum_plan_set_georeference": (c_int32, [_PlanP, POINTER(c_double), c_char_p]),
    "rastrum_plan_get_info": (c_int32, [_PlanP, POINTER(_PlanInfo)]),
    "rastrum_plan_get_tile": (c_int32, [_PlanP, c_size_t, POINTER(_Tile)]),
    "rastrum_plan_read_tile": (
        c_int32,
        [_PlanP, c_size_t, POINTER(c_float), c_size_t, POINTER(ctypes.c_uint8), c_size_t,
         POINTER(c_double), c_size_t, POINTER(c_int32)],
    ),
    "rastrum_stitcher_new": (c_int32, [_PlanP, c_char_p, POINTER(_StitcherP)]),
    "rastrum_stitcher_new_rows": (c_int32, [_PlanP, ROWS_FN, c_void_p, POINTER(_StitcherP)]),
    "rastrum_stitcher_add": (
        c_int32,
        [_StitcherP, c_size_t, POINTER(c_float), c_size_t, POINTER(ctypes.c_uint8), c_size_t,
         POINTER(c_double), c_size_t],
    ),
    "rastrum_stitcher_progress": (c_int32, [_StitcherP, POINTER(c_size_t), POINTER(c_size_t)]),
    "rastrum_stitcher_finish": (c_int32, [_StitcherP]),
    "rastrum_stitcher_free": (None, [_StitcherP]),
}

_NAMES = (f"librastrum.so.{ABI_VERSION}", "librastrum.so")

_loaded = None  # (CDLL, path it was loaded from)
_load_lock = threading.Lock()


def _candidates(path):
    """Where to look, in order, as (what to pass to CDLL, must exist as a file first)."""
    if path is not None:
        return [(os.fspath(path), True)]
    env = os.environ.get("RASTRUM_LIBRARY")
    if env:
        # An explicit choice: falling through to another copy would hide a broken setting.
        return [(env, True)]
    here = os.path.dirname(os.path.abspath(__file__))
    # lib/ beside this file is where the QGIS plugin's zip carries the library.
    folders = [here, os.path.join(here, "lib"), os.path.normpath(os.path.join(here, os.pardir, "lib"))]
    found = [(os.path.join(folder, name), True) for folder in folders for name in _NAMES]
    return found + [(_NAMES[0], False)]


def _check_abi(lib, where):
    found = lib.rastrum_abi_version()
    if found != ABI_VERSION:
        raise LibraryLoadError(
            f"librastrum at {where} has ABI version {found}, this binding needs ABI version "
            f"{ABI_VERSION}: install a matching librastrum.so.{ABI_VERSION}"
        )


def _declare(lib, where):
    for name, (restype, argtypes) in _SIGNATURES.items():
        try:
            function = getattr(lib, name)
        except AttributeError:
            raise LibraryLoadError(f"{where} is not a complete librastrum: {name} is missing") from None
        function.restype = restype
        function.argtypes = argtypes


def _open(path=None):
    """Finds, loads, ABI-checks and declares librastrum, without caching. A GDAL is bound first
    (gdal_host): a portable librastrum takes its GDAL symbols from the process."""
    if gdal_host is not None:
        gdal_host.bind()
    tried = []
    for candidate, is_file in _candidates(path):
        if is_file and not os.path.isfile(candidate):
            tried.append(f"{candidate} (no such file)")
            continue
        try:
            lib = ctypes.CDLL(candidate)
        except OSError as e:
            what = candidate if is_file else f"{candidate} (dynamic loader search)"
            tried.append(f"{what} ({e})")
            continue
        try:
            abi = lib.rastrum_abi_version
        except AttributeError:
            raise LibraryLoadError(f"{candidate} is not librastrum (no rastrum_abi_version)") from None
        # Checked before anything else is declared: another ABI may lack or change symbols.
        abi.restype, abi.argtypes = c_uint32, []
        _check_abi(lib, candidate)
        _declare(lib, candidate)
        return lib, candidate
    raise LibraryLoadError(
        "librastrum could not be loaded; looked in:\n  " + "\n  ".join(tried)
        + "\nSet RASTRUM_LIBRARY to the path of librastrum.so, or pass it to load_library()."
    )


def load_library(path=None):
    """Loads librastrum now (see the module's docstring for where it looks) and returns the
    ctypes library. Later calls return the same library; asking for another path then is an
    error, since one process can hold only one ONNX Runtime."""
    global _loaded
    with _load_lock:
        if _loaded is None:
            _loaded = _open(path)
        elif path is not None and os.path.realpath(os.fspath(path)) != os.path.realpath(_loaded[1]):
            raise LibraryLoadError(f"librastrum is already loaded from {_loaded[1]}, not {path}")
        return _loaded[0]


def _lib():
    loaded = _loaded
    return loaded[0] if loaded is not None else load_library()


def library_path():
    """The path (or loader name) librastrum was loaded from."""
    _lib()
    return _loaded[1]


def gdal_library():
    """The GDAL librastrum runs on, as {"path": ..., "version": ...} (the first libgdal of the
    process), or None before one is loaded."""
    _lib()
    bound = gdal_host.bind() if gdal_host is not None else None
    return None if bound is None else {"path": bound[0], "version": bound[1]}


def version():
    """The library's version string, e.g. "0.1.0"."""
    return _lib().rastrum_version_string().decode("ascii")


def abi_version():
    """The ABI version the loaded library was built with (equal to ABI_VERSION once loaded)."""
    return int(_lib().rastrum_abi_version())


def init(ort_library_path):
    """Loads ONNX Runtime from this libonnxruntime.so before any model is opened (otherwise
    RASTRUM_ORT_LIB, then the copy next to librastrum, is used at the first model)."""
    _check(_lib().rastrum_init(_cpath(ort_library_path)))


def _take_string(pointer):
    """Decodes and frees a string the library handed out."""
    try:
        return ctypes.string_at(pointer.value).decode("utf-8", "replace")
    finally:
        _lib().rastrum_string_free(pointer)


def _string_call(function, *args):
    out = c_void_p()
    _check(function(*args, byref(out)))
    return _take_string(out)


# --------------------------------------------------------------------------------------------
# Handles


class _Owner:
    """Owns one library handle. close() frees it, and refuses while a call is using it, since
    freeing a handle in use is undefined behaviour in the C API (and would crash the host)."""

    _what = "handle"

    def __init__(self, handle, free):
        self._handle = handle
        self._free = free
        self._users = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _use(self):
        with self._lock:
            if self._handle is None:
                raise ValueError(f"the {self._what} is closed")
            self._users += 1
        try:
            yield self._handle
        finally:
            with self._lock:
                self._users -= 1

    @property
    def closed(self):
        return self._handle is None

    def close(self):
        """Frees the handle now (it is also freed when the object is garbage-collected)."""
        with self._lock:
            if self._users:
                raise RuntimeError(f"the {self._what} is in use by {self._users} call(s)")
            handle, self._handle = self._handle, None
        if handle is not None:
            self._free(handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        # At interpreter shutdown the module's globals may already be gone.
        with contextlib.suppress(Exception):
            self.close()


def _refuse_nul(data, value):
    # C strings end at the first NUL: the library would see a shorter path or text (another
    # file, even an output written elsewhere), so such a value is refused here.
    if b"\0" in data:
        raise InvalidArgumentError(STATUSES["INVALID_ARGUMENT"], f"{value!r} contains a NUL character")
    return data


def _cpath(path):
    """A path as a C string."""
    return _refuse_nul(os.fsencode(path), path)


def _ctext(text):
    """Text (option keys and values, a device, WKT) as a C string."""
    return _refuse_nul(str(text).encode("utf-8"), text)


class Model(_Owner):
    """An ONNX model opened by librastrum: one ONNX Runtime session, reusable across runs and
    threads. ``device`` is "cpu", "cuda" or "tensorrt"; ``threads`` 0 uses every core;
    ``allow_fallback`` falls back to the CPU when the device cannot be bound."""

    _what = "model"

    def __init__(self, path, device="cpu", threads=0, allow_fallback=False):
        lib = _lib()
        self.path = os.fspath(path)
        handle = _ModelP()
        _check(lib.rastrum_model_open(
            _cpath(self.path),
            None if device is None else _ctext(device),
            int(threads),
            1 if allow_fallback else 0,
            byref(handle),
        ))
        super().__init__(handle, lib.rastrum_model_free)

    def __repr__(self):
        state = "closed" if self.closed else "open"
        return f"<rastrum Model {self.path!r} ({state})>"

    @property
    def provider(self):
        """The execution provider bound: "cpu", "cuda", or "cpu (fallback: ...)"."""
        with self._use() as handle:
            return _string_call(_lib().rastrum_model_provider, handle)

    def card(self, options=None):
        """The model card resolved against ``options`` (Options, a dict of them, or None) and
        the model's real shapes, as a dict. Runs the model once on zeros."""
        with self._use() as handle, _options_handle(options) as opts:
            return json.loads(_string_call(_lib().rastrum_model_card_json, handle, opts))

    def layout(self, input_path, options=None):
        """The tile grid and output size of a run over ``input_path`` with ``options``, without
        running it, as a dict: ``width``, ``height``, ``tile_columns``, ``tile_rows``, and the
        output pixels each tile column / row owns (``columns``, ``rows``: [start, end)), and
        ``grid``, the line ``rastrum run`` prints before its tiles (for a log). A run
        with the option ``window="COL,ROW,COLS,ROWS"`` writes one block of this grid."""
        with self._use() as handle, _options_handle(options) as opts:
            return json.loads(_string_call(_lib().rastrum_layout_json, handle, _cpath(input_path), opts))

    def output_shape(self, shape_nchw, output_index=0):
        """The shape of output ``output_index`` for an input of shape (n, c, h, w). The first
        query for a given shape runs the model once on zeros; the library caches the answer."""
        n, c, h, w = _nchw(shape_nchw)
        capacity = 8
        while True:
            dims = (c_int64 * capacity)()
            rank, length = c_size_t(), c_size_t()
            with self._use() as handle:
                status = _lib().rastrum_model_output_shape(
                    handle, n, c, h, w, _size(output_index, "output_index"), dims, capacity, byref(rank), byref(length)
                )
            if status == BUFFER_TOO_SMALL and rank.value > capacity:
                capacity = rank.value
                continue
            _check(status)
            return tuple(int(d) for d in dims[: rank.value])

    def run_array(self, array, output_index=0):
        """Runs the model on a float32 NCHW batch, already scaled and standardised as the model
        expects, and returns output ``output_index`` as a new float32 array. A C-contiguous
        float32 array is passed without a copy; anything else is converted once."""
        x = np.require(array, dtype=np.float32, requirements=["C_CONTIGUOUS", "ALIGNED"])
        if x.ndim != 4:
            raise InvalidArgumentError(
                INVALID_ARGUMENT, f"run_array expects an NCHW array (4 dimensions), found shape {x.shape}"
            )
        out = np.empty(self.output_shape(x.shape, output_index), dtype=np.float32)
        written = c_size_t()
        with self._use() as handle:
            status = _lib().rastrum_model_run_buffer(
                handle, x.ctypes.data_as(POINTER(c_float)), *x.shape, _size(output_index, "output_index"),
                out.ctypes.data_as(POINTER(c_float)), out.size, byref(written),
            )
        _check(status)
        if written.value != out.size:
            raise InternalError(
                INTERNAL, f"the model wrote {written.value} values, its output shape {out.shape} holds {out.size}"
            )
        return out


def _size(value, what):
    """An integer for a size_t argument: ctypes would silently wrap 2**64 to 0 and -1 to 2**64-1."""
    number = int(value)
    if not 0 <= number < 2 ** (8 * ctypes.sizeof(c_size_t)):
        raise InvalidArgumentError(INVALID_ARGUMENT, f"{what} must be in 0..2^{8 * ctypes.sizeof(c_size_t)}, found {value}")
    return number


def _nchw(shape):
    dims = tuple(int(d) for d in shape)
    if len(dims) != 4:
        raise InvalidArgumentError(INVALID_ARGUMENT, f"expected a shape (n, c, h, w), found {tuple(shape)}")
    return tuple(_size(d, f"shape {tuple(shape)}: each dimension") for d in dims)


def _option_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, np.ndarray)):
        return ",".join(_option_text(v) for v in value)
    return str(value)


class Options(_Owner):
    """Options of a run, keyed by the long names of ``rastrum run``'s flags. Keyword arguments
    take underscores (``tile_size=256``); lists become comma-separated (``bands=[4, 3, 2]``),
    bools "true"/"false"; ``co`` and ``set`` take a list and append each item; None skips the
    option (so optional settings can be passed through)."""

    _what = "options"

    def __init__(self, **kwargs):
        lib = _lib()
        handle = _OptionsP()
        _check(lib.rastrum_options_new(byref(handle)))
        super().__init__(handle, lib.rastrum_options_free)
        # What was set, for repr().
        self._settings = []
        self._cancel = None
        try:
            for key, value in kwargs.items():
                if value is not None:
                    self.set(key.replace("_", "-"), value)
        except BaseException:
            self.close()
            raise

    def set(self, key, value):
        """Sets one option (``"tile-size", 256``); returns self. Unknown keys and bad values
        raise InvalidArgumentError naming them."""
        values = value if key in ("co", "set") and isinstance(value, (list, tuple)) else [value]
        lib = _lib()
        for v in values:
            text = _option_text(v)
            with self._use() as handle:
                _check(lib.rastrum_options_set(handle, _ctext(key), _ctext(text)))
            self._settings.append((key, text))
        return self

    def set_cancel(self, token):
        """Makes runs with these options cancellable through ``token`` (a CancelToken)."""
        with self._use() as handle, token._use() as cancel:
            _check(_lib().rastrum_options_set_cancel(handle, cancel))
        self._cancel = token
        return self

    def clear_cancel(self):
        """Detaches the cancel token (runs can then be cancelled from the progress callback only)."""
        with self._use() as handle:
            _check(_lib().rastrum_options_clear_cancel(handle))
        self._cancel = None
        return self

    def copy(self):
        """Independent options with the same settings (and cancel token)."""
        lib = _lib()
        handle = _OptionsP()
        with self._use() as mine:
            _check(lib.rastrum_options_clone(mine, byref(handle)))
        other = Options.__new__(Options)
        _Owner.__init__(other, handle, lib.rastrum_options_free)
        other._settings = list(self._settings)
        other._cancel = self._cancel
        return other

    def __repr__(self):
        settings = ", ".join(f"{k}={v!r}" for k, v in self._settings)
        return f"<rastrum Options {settings}>"


@contextlib.contextmanager
def _options_handle(options, cancel=None):
    """The rastrum_options handle of one call, in use until it returns: of ``options`` as they
    are (Options), of a dict of them (made here, freed after), or NULL for None (the defaults).
    With ``cancel`` (a CancelToken): of a copy holding the token, so that the caller's options,
    perhaps shared with other runs, keep none."""
    with contextlib.ExitStack() as stack:
        if options is not None and not isinstance(options, Options):
            options = stack.enter_context(Options(**options))
        if cancel is not None:
            copy = options.copy() if options is not None else Options()
            options = stack.enter_context(copy).set_cancel(cancel)
        yield None if options is None else stack.enter_context(options._use())


class CancelToken(_Owner):
    """Cancels every run whose options hold it; cancel() may be called from any thread."""

    _what = "cancel token"

    def __init__(self):
        lib = _lib()
        handle = _CancelP()
        _check(lib.rastrum_cancel_new(byref(handle)))
        super().__init__(handle, lib.rastrum_cancel_free)

    def cancel(self):
        with self._use() as handle:
            _check(_lib().rastrum_cancel_set(handle, 1))

    def reset(self):
        with self._use() as handle:
            _check(_lib().rastrum_cancel_set(handle, 0))


# --------------------------------------------------------------------------------------------
# Runs


def _progress_callback(progress, raised):
    """The C progress callback for ``progress`` (a callable(fraction, message), or None): a
    falsy answer other than None cancels; an exception is kept in ``raised`` and cancels."""

    def report(fraction, message, _user_data):
        # Nothing may propagate through C: the exception is kept and re-raised after the call.
        # Also installed without a progress callable so that Ctrl-C stops a long call at its
        # next step: Python raises KeyboardInterrupt on entering this function, ctypes reports it
        # as unraisable and returns 0, and the call ends in CancelledError with nothing left.
        try:
            if progress is None:
                return 1
            text = message.decode("utf-8", "replace") if message else ""
            answer = progress(fraction, text)
            return 0 if answer is not None and not answer else 1
        except BaseException as e:
            raised.append(e)
            return 0

    return PROGRESS_FN(report)


def read_card(model_path):
    """The card of the ONNX model at ``model_path`` as a dict of key -> value, read from the
    file itself (no ONNX Runtime session, nothing run)."""
    return json.loads(_string_call(_lib().rastrum_card_read, _cpath(model_path)))


def write_card(model_path, output_path, changes):
    """Writes the model at ``model_path`` to ``output_path`` (which may be ``model_path``) with
    its card changed by ``changes``: a dict whose values set keys (None removes one), or a
    model's side file read as a dict (ukis-csmask's ``model_*.json``). Every other byte of the
    model is kept. The card must still parse: a bad value raises, naming its key, and nothing
    is written. Returns the new card as a dict."""
    text = json.dumps(changes).encode()
    return json.loads(_string_call(_lib().rastrum_card_write, _cpath(model_path), _cpath(output_path), text))


def run(model, input_path, output_path, options=None, progress=None, cancel=None):
    """Runs ``model`` over the raster at ``input_path`` (any GDAL path) and writes the GeoTIFF
    ``output_path`` (a detector: the vector layer, by its extension), as ``rastrum run`` does;
    returns the run's summary as a dict.

    ``options``: Options, a dict of them, or None. ``progress``: a callable(fraction, message)
    called after every batch on this thread; returning False (or any falsy value but None)
    cancels the run. An exception raised by it cancels the run and is re-raised here.
    ``cancel``: a CancelToken for this run. On error or cancel (Ctrl-C included) no output
    file is left.
    """
    lib = _lib()
    raised = []
    callback = _progress_callback(progress, raised)  # referenced until rastrum_run returns
    result = _ResultP()
    with model._use() as handle, _options_handle(options, cancel) as opts:
        status = lib.rastrum_run(
            handle, _cpath(input_path), _cpath(output_path), opts, callback, None, byref(result)
        )
        error = _error(status)  # read before any other call clears the message
    try:
        if raised:
            raise raised[0]
        if error is not None:
            raise error
        return json.loads(_string_call(lib.rastrum_result_json, result))
    finally:
        lib.rastrum_result_free(result)


def detect(model, input_path, options=None, progress=None, cancel=None, geometries=False):
    """Runs a detector over the raster at ``input_path`` and returns its objects as a numpy
    structured array of DETECTION_DTYPE (and, with ``geometries``, a list of each object's
    polygon rings in the raster's CRS beside it), without a file to manage: the library writes
    them to a temporary GeoJSON file (in the raster's CRS) that is read back and removed.
    Options, progress and cancel as for ``run``."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="rastrum-detect-") as folder:
        path = os.path.join(folder, "objects.geojson")
        run(model, input_path, path, options, progress, cancel)
        with open(path, encoding="utf-8") as f:
            features = json.load(f)["features"]
    records = np.empty(len(features), dtype=DETECTION_DTYPE)
    rings = []
    for k, feature in enumerate(features):
        p = feature["properties"]
        polygons = feature["geometry"]["coordinates"]
        if feature["geometry"]["type"] == "Polygon":
            polygons = [polygons]
        points = np.array([pt for polygon in polygons for pt in polygon[0]], dtype=np.float64)
        records[k] = (p["class_id"], p["class_name"], p["score"], p["tile"],
                      points[:, 0].min(), points[:, 1].min(), points[:, 0].max(), points[:, 1].max())
        rings.append(polygons)
    return (records, rings) if geometries else records


def assemble(windows, output_path, options=None):
    """Joins the outputs of window runs (paths; together they must cover the whole output once)
    into ``output_path``: a VRT referencing them when it ends in .vrt, else a GeoTIFF (options
    ``co`` and ``cog`` apply). Nothing is left on error. Returns ``output_path``."""
    paths = [_cpath(p) for p in windows]
    array = (c_char_p * len(paths))(*paths)
    with _options_handle(options) as opts:
        _check(_lib().rastrum_assemble(array, len(paths), _cpath(output_path), opts))
    return output_path


# --------------------------------------------------------------------------------------------
# Tiling and stitching on their own (hosts with their own inference)


def _pointer(array, ctype):
    return None if array is None else array.ctypes.data_as(POINTER(ctype))


class Plan(_Owner):
    """The tiles of a run over a raster, for hosts that run their own inference.

    ``Plan(input)`` plans the raster at ``input`` (any GDAL path) and can read its tiles;
    ``Plan(size=(width, height, bands))`` plans a raster the host reads itself (georeference it
    with ``set_georeference``). ``model`` (a Model, or None) gives the card and shapes as in
    ``run``; without one, ``options`` declare them: ``tile_size`` (required),
    ``output_channels`` (default 1), ``output_size`` (default the tile size times the scale
    factor; 1 for one value per tile) and ``task``. ``options``: Options, a dict, or None.

    Tiles are numbered in plan order (row-major): ``tile(i)`` gives a tile's windows as a dict,
    ``read(i)`` its input as the engine feeds it to a model. ``info`` holds the sizes.
    """

    _what = "plan"

    def __init__(self, input=None, size=None, model=None, options=None):
        if (input is None) == (size is None):
            raise InvalidArgumentError(INVALID_ARGUMENT, "give either an input path or a size (width, height, bands)")
        lib = _lib()
        handle = _PlanP()
        with contextlib.ExitStack() as stack:
            m = stack.enter_context(model._use()) if model is not None else None
            opts = stack.enter_context(_options_handle(options))
            if input is not None:
                status = lib.rastrum_plan_open(_cpath(input), m, opts, byref(handle))
            else:
                width, height, bands = (int(v) for v in size)
                status = lib.rastrum_plan_new(width, height, bands, m, opts, byref(handle))
            _check(status)
        super().__init__(handle, lib.rastrum_plan_free)
        self.input = None if input is None else os.fspath(input)

    def __repr__(self):
        if self.closed:
            return "<rastrum Plan (closed)>"
        return f"<rastrum Plan {self.info['tile_count']} tiles>"

    def __len__(self):
        return self.info["tile_count"]

    @property
    def info(self):
        """Tile count, columns and rows, tile size, input bands, the model output's shape
        (``output_channels``, ``output_size``, ``output_values``, ``per_tile``), the output
        raster's ``width``, ``height``, ``output_bands`` and ``data_type`` (TYPE_BYTE or
        TYPE_FLOAT32), ``stitch`` (STITCH_BLEND or STITCH_CROP), ``scale_factor``."""
        out = _PlanInfo()
        with self._use() as handle:
            _check(_lib().rastrum_plan_get_info(handle, byref(out)))
        return {name: int(getattr(out, name)) for name, _ in _PlanInfo._fields_}

    def tile(self, index):
        """Tile ``index``: its top-left input pixel ``x``, ``y`` (negative before the raster),
        ``size``, padding outside the raster, the ``read_*`` window inside it, the output pixels
        it writes (``out_*``) and the output pixel of its model output's corner."""
        out = _Tile()
        with self._use() as handle:
            _check(_lib().rastrum_plan_get_tile(handle, int(index), byref(out)))
        return {name: int(getattr(out, name)) for name, _ in _Tile._fields_}

    def set_georeference(self, geo_transform, wkt=""):
        """Georeferences a plan made from a size: GDAL's 6-value geotransform and a WKT CRS."""
        gt = (c_double * 6)(*[float(v) for v in geo_transform])
        with self._use() as handle:
            _check(_lib().rastrum_plan_set_georeference(handle, gt, _ctext(wkt or "")))

    def read(self, index, weight=False):
        """Tile ``index`` as the engine feeds it to a model: ``(data, valid, any_valid)`` with
        ``data`` float32 (bands, size, size) and ``valid`` uint8 (size, size), 1 where the
        pixel is inside the raster and valid; with ``weight``, the weight band's float64
        (size, size) values follow (redistribution by weight)."""
        info = self.info
        t, b = info["tile_size"], info["input_bands"]
        data = np.empty((b, t, t), dtype=np.float32)
        valid = np.empty((t, t), dtype=np.uint8)
        values = np.empty((t, t), dtype=np.float64) if weight else None
        any_valid = c_int32()
        with self._use() as handle:
            _check(_lib().rastrum_plan_read_tile(
                handle, int(index), _pointer(data, c_float), data.size, _pointer(valid, ctypes.c_uint8), valid.size,
                _pointer(values, c_double), 0 if values is None else values.size, byref(any_valid),
            ))
        result = (data, valid, bool(any_valid.value))
        return result + (values,) if weight else result


class Stitcher(_Owner):
    """Stitches a plan's tile outputs, added in any order, into ``output`` (a GeoTIFF written
    as ``rastrum run`` writes it, appearing complete at ``finish``) or, with ``rows``, hands
    finished rows to ``rows(raster, y, bands)`` (raster 0: the output, 1: the probabilities;
    ``bands``: an array (bands, rows, width) of uint8 or float32, valid during the call). An
    exception raised by ``rows`` stops the stitching and is re-raised by ``add``."""

    _what = "stitcher"

    def __init__(self, plan, output=None, rows=None):
        if (output is None) == (rows is None):
            raise InvalidArgumentError(INVALID_ARGUMENT, "give either an output path or a rows callable")
        lib = _lib()
        handle = _StitcherP()
        self._raised = []
        self._callback = None
        with plan._use() as p:
            if output is not None:
                _check(lib.rastrum_stitcher_new(p, _cpath(output), byref(handle)))
            else:
                self._callback = ROWS_FN(self._rows_callback(rows))  # referenced while the handle lives
                _check(lib.rastrum_stitcher_new_rows(p, self._callback, None, byref(handle)))
            info = plan.info
        super().__init__(handle, lib.rastrum_stitcher_free)
        self._values = info["output_values"]
        self._pixels = info["tile_size"] ** 2

    def _rows_callback(self, rows):
        raised = self._raised

        def deliver(pointer, _user_data):
            # Non-zero goes on; 0 stops the stitching (as the progress callback cancels).
            try:
                r = pointer.contents
                dtype = np.uint8 if r.data_type == TYPE_BYTE else np.float32
                count = r.bands * r.rows * r.width
                buffer = (ctypes.c_char * (count * np.dtype(dtype).itemsize)).from_address(r.data)
                bands = np.frombuffer(buffer, dtype=dtype).reshape(r.bands, r.rows, r.width)
                rows(int(r.raster), int(r.y), bands)
                return 1
            except BaseException as e:
                raised.append(e)
                return 0

        return deliver

    def add(self, index, values, valid=None, weight=None):
        """Adds tile ``index``'s model output (``output_values`` floats, any shape; before the
        activation, which the stitcher applies), or None for a tile not run; ``valid``: the
        tile's validity from ``Plan.read`` (None: every pixel inside the raster is valid);
        ``weight``: the weight band's values (redistribution by weight)."""
        arrays = []
        for array, dtype in ((values, np.float32), (valid, np.uint8), (weight, np.float64)):
            arrays.append(None if array is None else np.ascontiguousarray(array, dtype=dtype))
        v, m, w = arrays
        with self._use() as handle:
            status = _lib().rastrum_stitcher_add(
                handle, int(index), _pointer(v, c_float), 0 if v is None else v.size,
                _pointer(m, ctypes.c_uint8), 0 if m is None else m.size,
                _pointer(w, c_double), 0 if w is None else w.size,
            )
        error = _error(status)
        if self._raised:
            raise self._raised.pop(0)
        if error is not None:
            raise error

    @property
    def progress(self):
        """(tiles stitched in plan order, tiles held until the tiles before them come)."""
        stitched, held = c_size_t(), c_size_t()
        with self._use() as handle:
            _check(_lib().rastrum_stitcher_progress(handle, byref(stitched), byref(held)))
        return int(stitched.value), int(held.value)

    def finish(self):
        """Ends the stitching once every tile is in: the files are renamed into place."""
        with self._use() as handle:
            _check(_lib().rastrum_stitcher_finish(handle))


# --------------------------------------------------------------------------------------------
# Evaluation and XYZ tiles


@contextlib.contextmanager
def _settings_handle(kind, settings):
    """A rastrum_<kind>_options handle holding ``settings`` (keyword names with underscores,
    lists comma-separated, None skipped), freed on exit."""
    lib = _lib()
    handle = {"eval": _EvalOptionsP, "tiles": _TilesOptionsP}[kind]()
    _check(getattr(lib, f"rastrum_{kind}_options_new")(byref(handle)))
    try:
        setter = getattr(lib, f"rastrum_{kind}_options_set")
        for key, value in settings.items():
            if value is not None:
                key = _ctext(key.replace("_", "-"))
                _check(setter(handle, key, _ctext(_option_text(value))))
        yield handle
    finally:
        getattr(lib, f"rastrum_{kind}_options_free")(handle)


def evaluate(prediction, reference, **options):
    """Scores the raster ``prediction`` against ``reference`` as ``rastrum eval --json`` does
    and returns the report as a dict. Options by the flags' names: ``kind`` ("classes",
    "values", "image"), ``pred_band``, ``ref_band``, ``ignore`` (class values), ``block``,
    ``data_range``, ``resampling``, ``confusion_png`` (a path); see docs/eval.md."""
    lib = _lib()
    with _settings_handle("eval", options) as handle:
        return json.loads(
            _string_call(lib.rastrum_eval, _cpath(prediction), _cpath(reference), handle)
        )


def tiles(inputs, outdir, progress=None, **options):
    """Renders the rasters ``inputs`` (a path, or paths of frames in time order) as an XYZ tile
    pyramid in ``outdir``, as ``rastrum tiles`` does, and returns tiles.json as a dict. Options
    by the flags' names: ``zoom`` ("10-14"), ``bands``, ``ramp``, ``range``, ``resampling``,
    ``labels``, ``gif_zoom``, ``overwrite``, ``threads``; see docs/tiles.md. ``progress``: a
    callable(fraction, message); a falsy answer other than None cancels (CancelledError, and
    ``outdir`` is left as it was); an exception raised by it is re-raised here."""
    lib = _lib()
    paths = [inputs] if isinstance(inputs, (str, bytes, os.PathLike)) else list(inputs)
    array = (c_char_p * len(paths))(*[_cpath(p) for p in paths])
    raised = []
    callback = _progress_callback(progress, raised)  # referenced until rastrum_tiles returns
    out = c_void_p()
    with _settings_handle("tiles", options) as handle:
        status = lib.rastrum_tiles(array, len(paths), _cpath(outdir), handle, callback, None, byref(out))
    error = _error(status)
    if raised:
        if out.value:
            _take_string(out)
        raise raised[0]
    if error is not None:
        raise error
    return json.loads(_take_string(out))
