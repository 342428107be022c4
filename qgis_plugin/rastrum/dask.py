"""Scale-out on Dask: one task per block of the tile grid ("window"), run by librastrum on the
workers of a ``dask.distributed`` cluster, joined into one raster with the bytes of a single run.

    from dask.distributed import Client
    from rastrum import dask as rastrum_dask

    client = Client("tcp://scheduler:8786")        # or LocalCluster, dask-jobqueue, dask-kubernetes
    result = rastrum_dask.run(client, "model.onnx", "/data/mosaic.vrt", "/shared/out",
                              options={"overlap": 64, "probabilities": True}, window_tiles=8)
    result.vrt   # /shared/out/output.vrt over /shared/out/parts/*.tif

Each worker process opens the model once and keeps it (``_model``). A window's file appears
complete or not at all (librastrum writes a temporary file and renames it), so the parts folder
is also the record of what is done: a run that stops (a cancel, a lost cluster, Ctrl-C) resumes
where it stopped when called again with the same settings, which ``rastrum-run.json`` in the
output folder records. Failed windows are retried (``retries``); the windows of a worker that
dies are rescheduled by Dask. The output folder must be one path that every worker and the
client see: a shared file system, or an object store through GDAL (``/vsis3/bucket/prefix``,
``/vsigs/``, ``/vsiaz/``; windows are written locally and uploaded whole, and GDAL's Python
bindings are then needed on the client and the workers). See docs/scale-out.md.

The workers import this module as ``rastrum.dask``: the folder holding the ``rastrum`` package
(the QGIS plugin's folder) must be on their ``PYTHONPATH``, and librastrum findable there
(``RASTRUM_LIBRARY``, ``RASTRUM_ORT_LIB``).
"""

import argparse
import glob
import hashlib
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field

from distributed import as_completed

from . import _native

MANIFEST = "rastrum-run.json"
PARTS = "parts"
PROBABILITIES_SUFFIX = "_probabilities"

# --------------------------------------------------------------------------------------------
# On the workers

_models = {}
_models_lock = threading.Lock()
_opened = []  # keys in the order they were opened in this process (for tests and diagnostics)


def _model(path, device, threads):
    """The worker process's handle of a model, opened on first use and kept."""
    key = (path, device, threads)
    with _models_lock:
        if key not in _models:
            _models[key] = _native.Model(path, device=device, threads=threads)
            _opened.append(key)
        return _models[key]


def _is_vsi(path):
    return os.fspath(path).startswith("/vsi")


def _gdal():
    try:
        from osgeo import gdal
    except ImportError as e:
        raise ImportError(
            "an output folder on a GDAL /vsi path needs GDAL's Python bindings (osgeo) on the client and workers"
        ) from e
    return gdal


def _exists(path):
    if _is_vsi(path):
        return _gdal().VSIStatL(path) is not None
    return os.path.exists(path)


def _read_text(path):
    """The file's text, or None when there is none."""
    if not _is_vsi(path):
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return f.read()
    gdal = _gdal()
    stat = gdal.VSIStatL(path)
    if stat is None:
        return None
    f = gdal.VSIFOpenL(path, "rb")
    try:
        return gdal.VSIFReadL(1, stat.size, f).decode()
    finally:
        gdal.VSIFCloseL(f)


def _write_text(path, text):
    """Written whole: renamed into place locally, one upload on an object store."""
    if not _is_vsi(path):
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)
        return
    gdal = _gdal()
    data = text.encode()
    f = gdal.VSIFOpenL(path, "wb")
    if f is None:
        raise OSError(f"cannot write {path}: {gdal.GetLastErrorMsg()}")
    written = gdal.VSIFWriteL(data, 1, len(data), f)
    if gdal.VSIFCloseL(f) != 0 or written != len(data):
        raise OSError(f"cannot write {path}: {gdal.GetLastErrorMsg()}")


def window_name(window, ext=".tif"):
    """A window's file: a GeoTIFF, or for a detector a FlatGeobuf of the objects it owns."""
    col, row, cols, rows = window
    return f"w{col:05d}_{row:05d}_{cols}x{rows}{ext}"


def _threads_here(threads_by_host):
    """Threads for ONNX Runtime in this task: the host's cores shared among its task slots."""
    try:
        from distributed import get_worker

        host = get_worker().address.rsplit(":", 1)[0]
    except (ImportError, ValueError):
        return 0
    return threads_by_host.get(host, 0)


def run_window(model_path, input_path, parts_dir, window, options, device, threads_by_host, ext=".tif"):
    """One window, on a worker: skipped when its file exists (resume), else run and renamed into
    place by librastrum. Returns what the client reports."""
    target = os.path.join(parts_dir, window_name(window, ext))
    if _exists(target):
        return {"window": list(window), "skipped": True, "seconds": 0.0}
    model = _model(model_path, device, _threads_here(threads_by_host))
    opts = dict(options)
    opts["window"] = ",".join(str(v) for v in window)
    summary = _native.run(model, input_path, target, opts)
    return {
        "window": list(window),
        "skipped": False,
        "seconds": summary["seconds"],
        "tiles_run": summary["tiles_run"],
        "pixels": summary["width"] * summary["height"],
    }


# --------------------------------------------------------------------------------------------
# On the client


def plan_windows(layout, window_tiles):
    """Blocks of ``window_tiles`` (an int, or (columns, rows)) tiles covering the tile grid, in
    row-major order; the last column and row of blocks take what is left."""
    if isinstance(window_tiles, int):
        window_tiles = (window_tiles, window_tiles)
    wx, wy = (int(v) for v in window_tiles)
    if wx < 1 or wy < 1:
        raise ValueError(f"window_tiles must be at least 1 tile, found {window_tiles}")
    nx, ny = layout["tile_columns"], layout["tile_rows"]
    return [
        (col, row, min(wx, nx - col), min(wy, ny - row))
        for row in range(0, ny, wy)
        for col in range(0, nx, wx)
    ]


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_manifest(output_dir, manifest):
    """Records the run's settings, or checks that the folder's earlier run had the same ones
    (its windows are only reusable then)."""
    path = os.path.join(output_dir, MANIFEST)
    text = _read_text(path)
    if text is not None:
        before = json.loads(text)
        changed = sorted(k for k in set(before) | set(manifest) if before.get(k) != manifest.get(k))
        if changed:
            details = "; ".join(f"{k}: {before.get(k)!r} then, {manifest.get(k)!r} now" for k in changed)
            raise ValueError(
                f"{output_dir} holds the windows of a run with other settings ({details}): "
                "use another output folder, or delete this one to start over"
            )
        return
    _write_text(path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _threads_by_host(client, threads=None):
    """ONNX Runtime threads per task on each host: `threads` when given, else the host's cores
    over its task slots."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    if threads is not None:
        return {address.rsplit(":", 1)[0]: int(threads) for address in workers}
    cores = client.run(os.cpu_count)
    slots, cpus = {}, {}
    for address, info in workers.items():
        host = address.rsplit(":", 1)[0]
        slots[host] = slots.get(host, 0) + info.get("nthreads", 1)
        cpus[host] = cores.get(address) or cpus.get(host) or 1
    return {host: max(1, cpus[host] // max(1, slots[host])) for host in slots}


@dataclass
class Result:
    """What a scale-out run made and measured."""

    vrt: str
    """The assembled output: a VRT over the window files (a GeoPackage of objects for a detector)."""
    outputs: list
    """Every assembled raster: the VRT(s), and the COG(s) when asked."""
    windows: int
    computed: int
    """Windows run by this call (the others were already done: resumed)."""
    resumed: int
    seconds: float
    assemble_seconds: float
    window_seconds: list = field(default_factory=list)
    """Run time of each window computed by this call, as measured on its worker."""
    tiles_run: int = 0
    """Model tiles run by this call's windows (halos included: blending needs neighbours)."""


def run(
    client,
    model,
    input_path,
    output_dir,
    options=None,
    window_tiles=8,
    name="output",
    device="cpu",
    threads=None,
    retries=2,
    cog=False,
    progress=None,
):
    """Runs ``model`` (a path) over ``input_path`` on ``client``'s cluster, one task per window
    of ``window_tiles`` x ``window_tiles`` tiles, into ``output_dir``: the windows in
    ``output_dir/parts/``, joined as ``output_dir/<name>.vrt`` (and ``<name>_probabilities.vrt``
    with the option ``probabilities``), plus a COG ``<name>.tif`` of each with ``cog=True``.

    ``options``: run options by the CLI's names (as for ``_native.run``), the same on every
    window. ``threads``: ONNX Runtime threads per task (default: each host's cores over its
    task slots). ``retries``: extra attempts of a failed window. ``progress``: a
    callable(done, total, window_result); a falsy answer other than None cancels the rest (the
    finished windows stay, and a later call resumes). Raises the first window's error once its
    retries are spent."""
    started = time.perf_counter()
    options = {k.replace("_", "-"): v for k, v in dict(options or {}).items()}
    if "window" in options:
        raise ValueError("options: 'window' is chosen per task by rastrum.dask; leave it out")
    model_path = os.path.abspath(os.fspath(model))
    input_path = os.fspath(input_path)
    if not input_path.startswith("/vsi"):
        input_path = os.path.abspath(input_path)
    output_dir = os.fspath(output_dir)
    if not _is_vsi(output_dir):
        output_dir = os.path.abspath(output_dir)
    parts_dir = os.path.join(output_dir, PARTS)
    if not _is_vsi(parts_dir):
        os.makedirs(parts_dir, exist_ok=True)

    with _native.Model(model_path, device=device, allow_fallback=True) as m:
        layout = m.layout(input_path, options)
    windows = plan_windows(layout, window_tiles)
    # A detector's windows are layers of the objects each owns, joined into one GeoPackage.
    ext = ".fgb" if layout.get("task") == "detection" else ".tif"
    _check_manifest(
        output_dir,
        {
            "model": model_path,
            "model_sha256": _sha256(model_path),
            "input": input_path,
            "options": {k: str(v) for k, v in sorted(options.items())},
            "window_tiles": list(window_tiles) if not isinstance(window_tiles, int) else window_tiles,
            "width": layout["width"],
            "height": layout["height"],
        },
    )
    done = {w for w in windows if _exists(os.path.join(parts_dir, window_name(w, ext)))}
    todo = [w for w in windows if w not in done]

    threads_by_host = _threads_by_host(client, threads)
    # Keys name the model, input and settings, so that two runs on one cluster never share tasks.
    settings = json.dumps([model_path, input_path, sorted(options.items()), output_dir], default=str)
    token = hashlib.sha1(settings.encode()).hexdigest()[:12]
    futures = [
        client.submit(
            run_window,
            model_path,
            input_path,
            parts_dir,
            w,
            options,
            device,
            threads_by_host,
            ext,
            key=f"rastrum-window-{token}-{w[0]}-{w[1]}",
            retries=retries,
            pure=False,
        )
        for w in todo
    ]
    window_seconds = []
    tiles_run = 0
    finished = len(done)
    try:
        for future in as_completed(futures):
            report = future.result()  # a window's error, after its retries, ends the run here
            finished += 1
            if not report["skipped"]:
                window_seconds.append(report["seconds"])
                tiles_run += report["tiles_run"]
            if progress is not None:
                answer = progress(finished, len(windows), report)
                if answer is not None and not answer:
                    raise _native.CancelledError(_native.CANCELLED, "cancelled by the progress callback")
    except BaseException:
        client.cancel(futures)
        raise

    t_assemble = time.perf_counter()
    outputs = []
    products = [""] + ([PROBABILITIES_SUFFIX] if _truthy(options.get("probabilities")) else [])
    if ext == ".fgb":
        gpkg = os.path.join(output_dir, f"{name}.gpkg")
        _native.assemble([os.path.join(parts_dir, window_name(w, ext)) for w in windows], gpkg)
        outputs.append(gpkg)
        products = []
    for suffix in products:
        parts = [os.path.join(parts_dir, window_name(w)[: -len(".tif")] + suffix + ".tif") for w in windows]
        vrt = os.path.join(output_dir, f"{name}{suffix}.vrt")
        _native.assemble(parts, vrt)
        outputs.append(vrt)
        if cog:
            tif = os.path.join(output_dir, f"{name}{suffix}.tif")
            _native.assemble(parts, tif, {"cog": True})
            outputs.append(tif)
    assemble_seconds = time.perf_counter() - t_assemble
    if not _is_vsi(parts_dir):
        _remove_leftovers(parts_dir)
    return Result(
        vrt=outputs[0],
        outputs=outputs,
        windows=len(windows),
        computed=len(window_seconds),
        resumed=len(windows) - len(window_seconds),
        seconds=time.perf_counter() - started,
        assemble_seconds=assemble_seconds,
        window_seconds=window_seconds,
        tiles_run=tiles_run,
    )


def _truthy(value):
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _remove_leftovers(parts_dir):
    """Temporary files of windows whose worker died mid-write (a finished run has no writer left)."""
    for path in glob.glob(os.path.join(parts_dir, ".*.rastrum-tmp-*")):
        try:
            os.remove(path)
        except OSError:
            pass


# --------------------------------------------------------------------------------------------
# Command line: python -m rastrum.dask SCHEDULER MODEL INPUT OUTPUT_DIR [--option KEY=VALUE ...]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m rastrum.dask", description=__doc__.split("\n\n")[0])
    parser.add_argument("scheduler", help="the scheduler's address (tcp://host:8786), or 'local:N' for N local workers")
    parser.add_argument("model")
    parser.add_argument("input")
    parser.add_argument("output_dir")
    parser.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE", help="a run option (repeatable)")
    parser.add_argument("--window-tiles", type=int, default=8)
    parser.add_argument("--name", default="output")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--retries", type=int, default=2)
    parser.add_argument("--cog", action="store_true")
    args = parser.parse_args(argv)
    options = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--option expects KEY=VALUE, found {item!r}")
        options[key] = value

    from distributed import Client, LocalCluster

    if args.scheduler.startswith("local:"):
        cluster = LocalCluster(n_workers=int(args.scheduler[6:]), threads_per_worker=1, processes=True)
        client = Client(cluster)
    else:
        cluster, client = None, Client(args.scheduler)

    def show(done, total, report):
        state = "resumed" if report["skipped"] else f"{report['seconds']:.2f} s"
        print(f"window {report['window']} done ({state}): {done}/{total}", file=sys.stderr)

    try:
        result = run(client, args.model, args.input, args.output_dir, options, args.window_tiles, args.name,
                     args.device, None, args.retries, args.cog, show)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    print(json.dumps(result.__dict__, indent=2))
    return 0


if __name__ == "__main__":
    # As `python -m rastrum.dask` this file is `__main__`, whose functions Dask would ship by value:
    # run the importable module's, which the workers import by name.
    from rastrum.dask import main as _main

    sys.exit(_main())
