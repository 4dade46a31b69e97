#!/usr/bin/env python3
"""Markdown tables for docs/noise-mask-tables.md from the CSVs of examples/noise-mask-tables.yaml.

    scripts/noise-mask-tables.py OUT_DIR            # OUT_DIR of `saliency-repl run ... --out`

Reads the per-image rows (the CSVs' image column is a number; aggregate rows are skipped, and
a NAME-summary.csv beside is ignored), prints one table per metric: mean +- std over the images
per model and method, the best per model in bold (lower PNG size, higher SSIM and ABPC).
Only Python's standard library."""
import csv, math, os, sys

MODELS = ["lenet-fmnist", "vgg-an8flower-single6c", "vgg-an8flower-double12c", "resnet-shapes"]
METRICS = [("png_size", "Table 1: PNG size of the min-max normalised grayscale map, bytes (lower = simpler)", min, 0),
           ("png_x_input", "Table 1, control: PNG size of min-max(map) x grayscale input, bytes (lower = simpler)", min, 0),
           ("ssim", "Table 2: SSIM between the grayscale map and the grayscale input (higher = more of the input's structure)", max, 3),
           ("ssim_x_input", "Table 2, control: SSIM of min-max(map) x grayscale input with the input", max, 3),
           ("abpc", "Table 3: ABPC, mean of LeRF - MoRF over the curve, target logit (higher = better ranking)", max, 2)]


def read(out):
    values = {}
    for model in MODELS:
        path = os.path.join(out, model + ".csv")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for row in csv.DictReader(f):
                if not row["image"].isdigit():
                    continue
                values.setdefault((model, row["method"], row["metric"]), []).append(float(row["value"]))
    return values


def main(out):
    values = read(out)
    methods = []
    for (_, method, _) in values:
        if method not in methods:
            methods.append(method)
    for metric, title, best, digits in METRICS:
        rows = []
        for model in MODELS:
            cells = {m: values.get((model, m, metric)) for m in methods}
            if not any(cells.values()):
                continue
            means = {m: sum(v) / len(v) for m, v in cells.items() if v}
            top = best(means.values())
            line = [model]
            for m in methods:
                v = cells[m]
                if not v:
                    line.append("")
                    continue
                mean = means[m]
                std = math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
                text = f"{mean:.{digits}f} ± {std:.{digits}f}"
                line.append(f"**{text}**" if mean == top else text)
            rows.append(line)
        if not rows:
            continue
        n = len(next(iter(values.values())))
        print(f"**{title}** (mean ± std over {n} images; best per model in bold)\n")
        print("| model | " + " | ".join(methods) + " |")
        print("|---" * (len(methods) + 1) + "|")
        for line in rows:
            print("| " + " | ".join(line) + " |")
        print()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
