"""BENCHMARKS.md's peers section, results.json and the plots, from one run's results."""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BEGIN, END = "<!-- peers:begin (written by bench/peers/run) -->", "<!-- peers:end -->"
TARGETS = {"overhead": 1.05, "ukis": 1.7, "geodeep": 4.0, "identity": 1.3, "rss_40k_mib": 1024}


def verdict(ok):
    return "met" if ok else "**not met**"


def section(res):
    m = res["machine"]
    lines = [
        BEGIN,
        "## Rastrum against its peers (`make bench`, `bench/peers/run`)",
        "",
        f"Measured {m['date']} at commit `{m['commit']}` on {m['cpu']}, {m['cores']} cores, "
        f"{m['memory_gib']} GiB, {m['os']}; no GPU; load average {m['load_average']:.2f} at the start. "
        f"ONNX Runtime {m['onnxruntime']} (Rastrum loads the same library as the peers' wheel), "
        f"GDAL {m['gdal']}, ukis-csmask {m['ukis_csmask']}, GeoDeep {m['geodeep']}, rasterio {m['rasterio']}. "
        "Every figure below comes from this one run of the script, 2 threads unless said. The peers run "
        "in their own processes; peak RSS is each process's own (GNU time). Peer times are their "
        "pipeline from reading the raster to the written mask, without interpreter start and imports; "
        "Rastrum's are the whole `rastrum run` process, model load included. *Ceiling*: the peer's "
        "time over ONNX Runtime alone running the peer's tiles (same library, same threads, "
        "`bench/peers/peers.py:ort_per_tile`), i.e. the speed-up of a tool whose only cost is the model.",
        "",
    ]
    rows = []
    if res.get("overhead"):
        o = res["overhead"]
        rows.append(("overhead: Rastrum end to end / ONNX Runtime alone, same tiles", f"{o['ratio']:.3f}",
                     f"<= {TARGETS['overhead']}", "", verdict(o["ratio"] <= TARGETS["overhead"])))
    for u in res["ukis"]:
        rows.append((f"ukis-csmask / Rastrum, {u['side']}^2 x 6, same tiles", f"{u['speedup']:.2f}x",
                     f">= {TARGETS['ukis']}x", f"{u['ceiling']:.2f}x", verdict(u["speedup"] >= TARGETS["ukis"])))
    for g in res["geodeep"]:
        rows.append((f"GeoDeep / Rastrum, {g['width']} x {g['height']} RGB, {g['arch']} model",
                     f"{g['speedup']:.2f}x", f">= {TARGETS['geodeep']}x", f"{g['ceiling']:.2f}x",
                     verdict(g["speedup"] >= TARGETS["geodeep"])))
    i = res["identity"]
    rows.append((f"identity model / `gdal_translate`, {i['side']}^2", f"{i['ratio']:.2f}",
                 f"<= {TARGETS['identity']}", "", verdict(i["ratio"] <= TARGETS["identity"])))
    big = max(res["sweep"], key=lambda s: s["side"])
    rows.append((f"peak RSS at {big['side']} x {big['side']}", f"{big['rss_mib']:.0f} MiB",
                 f"<= {TARGETS['rss_40k_mib']} MiB", "", verdict(big["rss_mib"] <= TARGETS["rss_40k_mib"])))
    lines += ["| measure | this run | target | ceiling | |", "|---|---|---|---|---|"]
    lines += [f"| {' | '.join(r)} |" for r in rows]

    lines += ["", "### vs ukis-csmask (its real cloud-mask model, U-Net / EfficientNet-B4)", "",
              "Landsat-8 B2..B7 mosaics (uint16 DN, tiled DEFLATE GeoTIFF) converted to TOA reflectance; "
              "256 px tiles, overlap 0.2, softmax, blended probabilities, argmax. ukis-csmask with its "
              "defaults (batch 1) but the threads; Rastrum at batch 4. *Same tiles*: Rastrum on ukis's "
              "very tiles (`--grid lattice --pad 51 --overlap 52 --pad-mode symmetric`: every 204 px from -51, "
              "mirrored around the raster as numpy's `symmetric`). *Own plan*: Rastrum's default tiling with overlap 51 (first tile at "
              "the raster's start, last clamped to its end), fewer tiles. Agreement: share of pixels "
              "with the same class as ukis-csmask (target >= 99.5 %). Fastest of the repetitions, which "
              "alternate the order.", "",
              "| mosaic | threads | ukis-csmask | Rastrum, same tiles | speed-up | agreement | ONNX Runtime alone | ceiling "
              "| Rastrum, own plan | speed-up | agreement | ukis RSS | Rastrum RSS |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for u in res["ukis"] + res["threads"]:
        lines.append(
            f"| {u['side']}^2 x 6 | {u['threads']} | {u['ukis_s']:.1f} s ({u['ukis_mpx_s']:.2f} Mpx/s) | "
            f"{u['rastrum_s']:.1f} s, {u['ukis_tiles']} tiles ({u['rastrum_mpx_s']:.2f} Mpx/s) | "
            f"{u['speedup']:.2f}x | {100 * u['agreement']:.2f} % | {u['ort_s']:.1f} s "
            f"({u['ort_per_tile_s']:.3f} s/tile) | {u['ceiling']:.2f}x | {u['own_s']:.1f} s, {u['own_tiles']} tiles | "
            f"{u['own_speedup']:.2f}x | {100 * u['own_agreement']:.2f} % | {u['ukis_rss_mib']:.0f} MiB | "
            f"{u['rastrum_rss_mib']:.0f} MiB |")
    if res.get("overhead"):
        o = res["overhead"]
        lines += ["", "### Overhead over ONNX Runtime alone (`bench/overhead.rs`)", "",
                  f"The cloud-mask model over a {o['width']} x {o['height']} x 6 VRT mosaic, {o['tiles']} tiles "
                  f"of 256 px, overlap 51, blend, batch 4, {o['threads']} threads. ONNX Runtime alone runs "
                  f"the same tiles (read beforehand) through the same session; medians of {o['reps']} "
                  "alternating repetitions.", "",
                  "| ONNX Runtime alone | Rastrum end to end | ratio | CLI (process) | CLI peak RSS |",
                  "|---|---|---|---|---|",
                  f"| {o['ort_s']:.2f} s | {o['rastrum_s']:.2f} s ({o['mpx_s']:.2f} Mpx/s) | {o['ratio']:.3f} | "
                  f"{o['cli_s']:.2f} s | {o['cli_rss_mib']:.0f} MiB |"]
    g0 = res["geodeep"][0]
    lines += ["", "### vs GeoDeep (Deepness-format segmentation models)", "",
              f"An RGB byte GeoTIFF of {g0['width']} x {g0['height']} (tiled DEFLATE, 30 cm pixels) and two "
              "Deepness-format models made by the bench (`bench/peers/models.py`; GeoDeep's zoo is on "
              "Hugging Face, out of reach here): 3 classes, 256 px, tiles_overlap 10 %, seg_thresh 0.5, "
              "a small U-Net-style net and a light one. Both crop-stitch (each pixel from one tile); GeoDeep "
              "runs batch 1 and median-filters its map (5 x 5), Rastrum runs batch 4 (dynamic batch). "
              "Agreement as written, and with GeoDeep's median filter applied to Rastrum's map; the rest "
              "is GeoDeep cutting the last, clamped tile at its own padding rather than mid-overlap.", "",
              "| model | GeoDeep | of which the tile loop | Rastrum | speed-up | ONNX Runtime alone | ceiling "
              "| GeoDeep RSS | Rastrum RSS | agreement | agreement, filtered |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for g in res["geodeep"]:
        lines.append(
            f"| {g['arch']}, {g['model_gmacs_per_tile']:.3f} GMAC/tile | {g['geodeep_s']:.1f} s, {g['geodeep_tiles']} tiles "
            f"({g['geodeep_mpx_s']:.1f} Mpx/s) | {g['geodeep_tile_loop_s']:.1f} s | {g['rastrum_s']:.1f} s, "
            f"{g['rastrum_tiles']} tiles ({g['rastrum_mpx_s']:.1f} Mpx/s) | {g['speedup']:.2f}x | {g['ort_s']:.1f} s | "
            f"{g['ceiling']:.2f}x | {g['geodeep_rss_mib']:.0f} MiB | {g['rastrum_rss_mib']:.0f} MiB | "
            f"{100 * g['agreement_raw']:.2f} % | {100 * g['agreement_postprocessed']:.2f} % |")
    lines += ["", "### Identity model vs `gdal_translate`", "",
              f"One uint16 band of {i['side']} x {i['side']} to Float32 with `{' '.join(i['creation_options'])}` "
              f"on both sides (`gdal_translate -ot Float32`), fastest of {i['reps']} alternating runs. Outputs "
              f"identical: {'yes' if i['identical'] else '**no**'}.", "",
              "| gdal_translate | Rastrum (identity model) | ratio | gdal_translate RSS | Rastrum RSS |",
              "|---|---|---|---|---|",
              f"| {i['gdal_translate_s']:.2f} s | {i['rastrum_s']:.2f} s | {i['ratio']:.2f} | "
              f"{i['gdal_translate_rss_mib']:.0f} MiB | {i['rastrum_rss_mib']:.0f} MiB |"]
    lines += ["", "### Peak memory against raster size", "",
              "A 1x1-convolution model (3 bands to 2 classes, 256 px tiles, batch 8) over VRT mosaics of the "
              "compressed RGB GeoTIFF, u8 class output (DEFLATE).", "",
              "| raster | megapixels | time | Mpx/s | peak RSS |", "|---|---|---|---|---|"]
    lines += [f"| {s['side']} x {s['side']} | {s['megapixels']:.0f} | {s['seconds']:.1f} s | {s['mpx_s']:.1f} | "
              f"{s['rss_mib']:.0f} MiB |" for s in res["sweep"]]
    lines += ["", "![peak RSS against raster size](bench/figures/rss.png)",
              "![throughput](bench/figures/throughput.png)", END]
    return "\n".join(lines) + "\n"


def plots(res, out):
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    s = res["sweep"]
    ax.plot([x["megapixels"] for x in s], [x["rss_mib"] for x in s], "o-", label="Rastrum (1x1 model)")
    u = res["ukis"]
    ax.plot([x["side"] ** 2 / 1e6 for x in u], [x["ukis_rss_mib"] for x in u], "s-", label="ukis-csmask (cloud model)")
    ax.plot([x["side"] ** 2 / 1e6 for x in u], [x["rastrum_rss_mib"] for x in u], "^-", label="Rastrum (cloud model)")
    ax.set_xscale("log")
    ax.set_xlabel("raster size (megapixels)")
    ax.set_ylabel("peak RSS (MiB)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "rss.png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    labels, ours, theirs = [], [], []
    for x in u + res["threads"]:
        labels.append(f"cloud {x['side']}\n{x['threads']} thr")
        ours.append(x["rastrum_mpx_s"])
        theirs.append(x["ukis_mpx_s"])
    for g in res["geodeep"]:
        labels.append(f"Deepness {g['arch']}\n2 thr")
        ours.append(g["rastrum_mpx_s"])
        theirs.append(g["geodeep_mpx_s"])
    xs = range(len(labels))
    ax.bar([x - 0.2 for x in xs], ours, 0.4, label="Rastrum")
    ax.bar([x + 0.2 for x in xs], theirs, 0.4, label="peer (ukis-csmask / GeoDeep)")
    ax.set_xticks(list(xs), labels)
    ax.set_ylabel("Mpx/s")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "throughput.png", dpi=100)
    plt.close(fig)


def write(res, root, work, quick=False):
    if quick:
        # The harness check: plots under the work folder, BENCHMARKS.md untouched.
        plots(res, work / "figures")
        print(section(res))
        return
    (root / "bench/peers/results.json").write_text(json.dumps(res, indent=1) + "\n")
    plots(res, root / "bench/figures")
    path = root / "BENCHMARKS.md"
    text = path.read_text()
    new = section(res)
    if BEGIN in text:
        head, rest = text.split(BEGIN, 1)
        text = head + new + "\n" + rest.split(END, 1)[1].lstrip("\n")
    else:
        head, sep, tail = text.partition("\n## ")
        text = head.rstrip("\n") + "\n\n" + new + ("\n## " + tail if sep else "")
    path.write_text(text)
    print(new)
