#!/usr/bin/env python3
"""Metrics of the examples (stdlib only).

  metrics.py get FILE KEY.PATH            print one value of a JSON file (list indices as numbers)
  metrics.py put METRICS NAME VALUE       record a number in METRICS (a JSON object)
  metrics.py check METRICS BARS SIZE      compare METRICS with BARS[SIZE]: {"name": {"min": x} or
                                          {"max": x}}; print a table, exit 1 when a bar is missed
"""
import json
import math
import os
import sys


def get(path, keys):
    value = json.load(open(path))
    for key in keys.split("."):
        try:
            value = value[int(key)] if isinstance(value, list) else value[key]
        except (KeyError, IndexError, ValueError):
            sys.exit(f"metrics.py: {path} has no '{keys}' (stopped at '{key}')")
    print(json.dumps(value) if isinstance(value, (dict, list)) else value)


def put(path, name, value):
    metrics = json.load(open(path)) if os.path.exists(path) else {}
    try:
        metrics[name] = float(value)
    except ValueError:
        sys.exit(f"metrics.py: metric '{name}' is not a number: '{value}'")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(metrics, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


def check(path, bars_path, size):
    metrics = json.load(open(path))
    bars = json.load(open(bars_path)).get(size)
    if not bars:
        sys.exit(f"metrics.py: {bars_path} has no bars for size '{size}'")
    failed = 0
    print(f"{'metric':32} {'value':>12}  bar")
    for name, bar in bars.items():
        value = metrics.get(name)
        ok = value is not None and math.isfinite(value)
        if ok and "min" in bar:
            ok = value >= bar["min"]
        if ok and "max" in bar:
            ok = value <= bar["max"]
        text = " ".join(f"{k} {v}" for k, v in bar.items() if k in ("min", "max"))
        shown = "missing" if value is None else f"{value:.4g}"
        print(f"{name:32} {shown:>12}  {text}  {'ok' if ok else 'MISSED'}")
        failed += not ok
    if failed:
        sys.exit(f"{failed} bar(s) missed ({bars_path}, size {size})")


if __name__ == "__main__":
    cmd, args = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if cmd == "get" and len(args) == 2:
        get(*args)
    elif cmd == "put" and len(args) == 3:
        put(*args)
    elif cmd == "check" and len(args) == 3:
        check(*args)
    else:
        sys.exit(__doc__)
