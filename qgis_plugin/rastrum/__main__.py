"""`python -m rastrum`: the command line of the `rastrum` CLI for a Python install (the wheel),
through the binding. Options are `rastrum run`'s, by the same names (docs/model-card.md):

    python -m rastrum run MODEL INPUT OUTPUT [--tile-size 256 --scale 1e-4 --probabilities ...]
    python -m rastrum info MODEL [--KEY VALUE ...]      # the resolved card as JSON
    python -m rastrum card MODEL                        # the card in the file, as JSON
    python -m rastrum gdal                              # the GDAL the library binds to

A flag without a value (`--probabilities`) is `true`; repeated keys (`--set`, `--co`) keep
every value. Errors go to stderr with status 2 (bad input) or 1."""

import json
import sys

USAGE = __doc__.split("\n\n")[1]


def options(tokens):
    """`--key value` / `--flag` tokens as the binding's options (lists for repeated keys)."""
    out = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--"):
            raise ValueError(f"expected an option (--key value), found '{token}'")
        key = token[2:]
        if "=" in key:
            key, value = key.split("=", 1)
            i += 1
        elif i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
            value, i = tokens[i + 1], i + 2
        else:
            value, i = "true", i + 1
        if key in out:
            previous = out[key] if isinstance(out[key], list) else [out[key]]
            out[key] = previous + [value]
        else:
            out[key] = value
    return out


def main(argv):
    import rastrum

    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    if command == "gdal":
        rastrum.load_library()
        print(json.dumps(rastrum.gdal_library()))
        return 0
    if command == "card" and len(rest) == 1:
        print(json.dumps(rastrum.read_card(rest[0]), indent=2))
        return 0
    if command == "info" and rest:
        with rastrum.Model(rest[0]) as model:
            print(json.dumps(model.card(options(rest[1:]) or None), indent=2))
        return 0
    if command == "run" and len(rest) >= 3:
        model_path, input_path, output_path = rest[:3]
        with rastrum.Model(model_path) as model:
            summary = rastrum.run(model, input_path, output_path, options(rest[3:]) or None)
        print(json.dumps(summary, indent=2))
        return 0
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except ValueError as error:
        print(f"rastrum: error: {error}", file=sys.stderr)
        sys.exit(2)
    except Exception as error:  # the library's own message, without a traceback
        import rastrum

        if isinstance(error, (rastrum.RastrumError, rastrum.LibraryLoadError)):
            print(f"rastrum: error: {error}", file=sys.stderr)
            sys.exit(2 if isinstance(error, rastrum.InvalidArgumentError) else 1)
        raise
