"""The GPU bench's measurements (run by bench/gpu.sh, which installs onnxruntime-gpu first).

For each model (the real cloud mask, 6 bands; the bench's light model, one 3x3 convolution) and
each batch size, in one run on one GPU:
- ONNX Runtime alone: tiles from host memory through `session.run` (what a Python host does), and
  with IO binding (the input already on the device: the model's own speed);
- `rastrum run --device cuda` over a raster whose tiles are the same size, from its JSON summary;
- the share: Rastrum's raster megapixels per second over ORT's for the tiles Rastrum ran.
Figures go to the results JSON and BENCHMARKS.md (between its `gpu` markers).
"""

import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench/peers"))
import models  # noqa: E402  (the bench's light model)

BATCHES = [1, 2, 4, 8, 16, 32, 64]
BEGIN, END = "<!-- gpu:begin (written by bench/gpu.sh) -->", "<!-- gpu:end -->"


def ort_library():
    capi = Path(ort.__file__).parent / "capi"
    found = sorted(capi.glob("libonnxruntime.so*"))
    if not found:
        sys.exit(f"gpu bench: no libonnxruntime.so in {capi}")
    return found[0]


def session(model):
    ort.preload_dlls()  # the CUDA and cuDNN libraries of the pip extras
    s = ort.InferenceSession(str(model), providers=["CUDAExecutionProvider"])
    if s.get_providers()[0] != "CUDAExecutionProvider":
        sys.exit(f"gpu bench: ONNX Runtime fell back to {s.get_providers()}: CUDA is not usable")
    return s


def ort_tiles_per_second(s, bands, tile, batch, seconds=3.0):
    """Tiles per second of `session.run` from host arrays, and with the input bound on the GPU."""
    x = np.random.default_rng(0).random((batch, bands, tile, tile), dtype=np.float32)
    name = s.get_inputs()[0].name

    def rate(step):
        for _ in range(3):
            step()
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            step()
            n += 1
        return n * batch / (time.perf_counter() - start)

    host = rate(lambda: s.run(None, {name: x}))
    binding = s.io_binding()
    binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(x, "cuda", 0))
    for out in s.get_outputs():
        binding.bind_output(out.name, "cuda")
    bound = rate(lambda: s.run_with_iobinding(binding))
    return host, bound


def raster(path, bands, side):
    from osgeo import gdal

    ds = gdal.GetDriverByName("GTiff").Create(str(path), side, side, bands, gdal.GDT_Float32, ["TILED=YES"])
    rng = np.random.default_rng(1)
    for b in range(bands):
        ds.GetRasterBand(b + 1).WriteArray(rng.random((side, side), dtype=np.float32))
    ds = None


def rastrum(cli, lib, model, path, batch, out):
    env = {**os.environ, "RASTRUM_ORT_LIB": str(lib)}
    cmd = [cli, "run", "--device", "cuda", "--batch", str(batch), "--json", "-q", model, path, out]
    done = subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"gpu bench: {' '.join(map(str, cmd))} failed: {done.stderr}")
    return json.loads(done.stdout)


def bench_model(name, model, bands, tile, cli, lib, work):
    s = session(model)
    side = 16 * tile
    path = work / f"{name}.tif"
    raster(path, bands, side)
    rows = []
    for batch in BATCHES:
        host, bound = ort_tiles_per_second(s, bands, tile, batch)
        run = rastrum(cli, lib, model, path, batch, work / f"{name}_out.tif")
        # ORT's speed on the tiles Rastrum ran, in raster megapixels per second.
        ort_mpx = side * side / 1e6 / (run["tiles_run"] / host)
        rows.append({
            "batch": batch,
            "ort_tiles_per_s": round(host, 1),
            "ort_iobinding_tiles_per_s": round(bound, 1),
            "rastrum_mpx_per_s": round(run["megapixels_per_second"], 1),
            "ort_mpx_per_s_same_tiles": round(ort_mpx, 1),
            "share_of_ort": round(run["megapixels_per_second"] / ort_mpx, 3),
            "provider": run["provider"],
        })
        print(f"gpu bench: {name} batch {batch}: {rows[-1]}")
    return {"model": name, "tile": tile, "bands": bands, "raster_side": side, "rows": rows}


def write_markdown(result):
    lines = [BEGIN, "", f"{result['gpu']}, onnxruntime-gpu {ort.__version__}, {result['date']} (one run).", ""]
    for m in result["models"]:
        lines += [f"**{m['model']}** ({m['bands']} bands, {m['tile']} px tiles, a {m['raster_side']} px raster):", "",
                  "| batch | ORT tiles/s | ORT + IO binding tiles/s | Rastrum Mpx/s | ORT Mpx/s, same tiles | share |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {r['batch']} | {r['ort_tiles_per_s']} | {r['ort_iobinding_tiles_per_s']} | "
                  f"{r['rastrum_mpx_per_s']} | {r['ort_mpx_per_s_same_tiles']} | {r['share_of_ort']} |"
                  for r in m["rows"]]
        lines.append("")
    lines.append(END)
    md = ROOT / "BENCHMARKS.md"
    text = md.read_text()
    if BEGIN in text:
        text = text[: text.index(BEGIN)] + "\n".join(lines) + text[text.index(END) + len(END):]
    else:
        text += "\n## GPU (`bench/gpu.sh`)\n\n" + "\n".join(lines) + "\n"
    md.write_text(text)


def main():
    results = Path(sys.argv[1])
    cli, lib = os.environ["RASTRUM_CLI"], ort_library()
    gpu = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        light = work / "light.onnx"
        sample = np.random.default_rng(2).random((4, 3, 256, 256), dtype=np.float32)
        models.deepness(light, "light", sample)
        runs = [bench_model("cloud mask", ROOT / "models/cloud_mask/model_6b_l1c.onnx", 6, 256, cli, lib, work),
                bench_model("light", light, 3, 256, cli, lib, work)]
    result = {"cuda": True, "gpu": gpu, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
              "onnxruntime": ort.__version__, "models": runs}
    results.write_text(json.dumps(result, indent=1) + "\n")
    write_markdown(result)


if __name__ == "__main__":
    main()
