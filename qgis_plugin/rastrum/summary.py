"""A model's resolved card (rastrum_model_card_json) as a few lines a GIS user reads at a glance:
what the model does, which bands it takes in which order, how their values are scaled, the tile,
the resolution and the classes with their colours."""

import os


def _numbers(values, digits=4):
    """A list of numbers, short: one value when all are equal."""
    if values is None:
        return "none"
    values = list(values)
    if values and all(v == values[0] for v in values):
        return f"{values[0]:.{digits}g}" + (f" (each of {len(values)} bands)" if len(values) > 1 else "")
    return ", ".join(f"{v:.{digits}g}" for v in values)


def _colour(rgb):
    return "#%02x%02x%02x" % tuple(rgb)


def _classes(resolved):
    names = resolved.get("class_names") or []
    colours = (resolved.get("card") or {}).get("class_colors") or {}
    items = []
    for i, name in enumerate(names):
        colour = colours.get(str(i))
        items.append(f"{i} {name}" + (f" ({_colour(colour)})" if colour else ""))
    return ", ".join(items)


def card_summary(card):
    """The summary of a resolved card as text, one fact per line."""
    r = card.get("resolved") or {}
    model = os.path.basename(str(card.get("model", "")))
    lines = [f"Model: {model} (execution provider {card.get('provider', '?')})"]
    task = r.get("task", "?")
    classes = r.get("class_names") or []
    what = f"{task}, {len(classes)} classes" if classes else task
    lines.append(f"Task: {what}; output '{r.get('output_name', '?')}', activation {r.get('activation', 'none')}")
    bands = r.get("bands") or []
    lines.append(f"Bands: {len(bands)}, in this order from the input raster: {', '.join(map(str, bands))}")
    lines.append(f"Scaling: x = raw * {_numbers(r.get('scale'))} + {_numbers(r.get('offset'))}")
    if r.get("mean") is not None:
        lines.append(f"Standardisation: (x - mean) / std, mean {_numbers(r.get('mean'), 3)}, "
                     f"std {_numbers(r.get('std'), 3)}")
    batch = f"batch {r.get('batch')}" + (" (fixed by the model)" if r.get("static_batch") else "")
    lines.append(f"Tiles: {r.get('tile_size')} px, overlap {r.get('overlap')} px, stitch {r.get('stitch')}, {batch}")
    resolution = r.get("resolution_cm")
    lines.append(f"Resolution: {resolution} cm per pixel (other rasters are resampled)" if resolution
                 else "Resolution: any (the card names none)")
    if classes:
        lines.append(f"Classes: {_classes(r)}")
    for head in (card.get("heads") or [])[1:]:
        lines.append(f"Also writes output '{head.get('output_name')}' ({', '.join(head.get('class_names') or [])})")
    return "\n".join(lines)
