#!/usr/bin/env python3
"""Tables for docs/chip.md from the CSVs of the examples/chip-*.yaml pipelines.

    scripts/chip-tables.py localization OUT/*.csv   top-1 localisation error per method, with
                                                    McNemar's exact test of CHIP against each other method
    scripts/chip-tables.py means OUT/*.csv          mean (95 % CI) of every metric per model and method
    scripts/chip-tables.py paired REF OUT/*.csv     per-image difference of every method minus method REF:
                                                    mean, 95 % CI and a two-sided paired p (normal approximation)
    scripts/chip-tables.py weights STATE.salfit     Figs. 10-11: sparsity and shared top-5 channels of W
    scripts/chip-tables.py correlation A.npy B.npy  Fig. 5: per-image correlation of two sets of maps

The CSVs are the pipelines' per-image tables (columns image, model, method, metric, value, ...;
rows with image "mean" are aggregates and are skipped). Only the standard library and numpy.
"""
import csv
import json
import math
import struct
import sys
from collections import defaultdict


def per_image(paths):
    """{(model, method, metric): {image: value}} from per-image rows."""
    out = defaultdict(dict)
    for p in paths:
        with open(p, newline="") as f:
            for row in csv.DictReader(f):
                if row["image"] == "mean":
                    continue
                out[(row["model"], row["method"], row["metric"])][int(float(row["image"]))] = float(row["value"])
    return out


def mcnemar_exact(a, b):
    """Two-sided exact McNemar p for paired 0/1 outcomes: the discordant pairs are
    Binomial(n, 1/2) under the null."""
    only_a = sum(1 for x, y in zip(a, b) if x == 1 and y == 0)
    only_b = sum(1 for x, y in zip(a, b) if x == 0 and y == 1)
    n = only_a + only_b
    if n == 0:
        return only_a, only_b, 1.0
    k = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return only_a, only_b, min(1.0, 2 * tail)


def wilson(k, n, z=1.959964):
    """95 % Wilson interval of a proportion k / n."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return c - h, c + h


def localization(paths, reference="chip"):
    """One table per model. A method scored on fewer images than CHIP (LIME on a subset) is
    compared with CHIP on its own images only: the CHIP column gives CHIP's error there, and
    McNemar's test pairs the same images."""
    data = per_image(paths)
    models = sorted({k[0] for k in data})
    for model in models:
        rows = {k[1]: v for k, v in data.items() if k[0] == model and k[2] == "box_localization"}
        ref = next((m for m in rows if m == reference or m.startswith(reference + "-") or m.startswith(reference + " ")), None)
        print(f"\n{model}: top-1 localisation error (box IoU >= 0.5 and the right class)\n")
        print("| method | images | top-1 loc error % | 95 % CI | CHIP's error on the same images % "
              "| vs CHIP: only CHIP right / only it right | McNemar p |")
        print("|---|---|---|---|---|---|---|")
        for method, values in rows.items():
            images = sorted(values)
            v = [values[i] for i in images]
            k, n = sum(v), len(v)
            lo, hi = wilson(k, n)
            if ref is not None and method != ref:
                a = [rows[ref][i] for i in images]
                only_ref, only_m, p = mcnemar_exact(a, v)
                cell = f"{100 * (1 - sum(a) / n):.2f} | {only_ref} / {only_m} | {p:.3g}"
            else:
                cell = "— | — | —"
            print(f"| {method} | {n} | {100 * (1 - k / n):.2f} | {100 * (1 - hi):.1f}–{100 * (1 - lo):.1f} | {cell} |")


def means(paths):
    data = per_image(paths)
    for (model, method, metric), values in sorted(data.items()):
        v = [x for x in values.values() if not math.isnan(x)]
        n = len(v)
        m = sum(v) / n if n else float("nan")
        sd = math.sqrt(sum((x - m) ** 2 for x in v) / (n - 1)) if n > 1 else float("nan")
        half = 1.959964 * sd / math.sqrt(n) if n > 1 else float("nan")
        print(f"{model}\t{method}\t{metric}\t{m:.4f}\t±{half:.4f}\tn={n}")


def paired(reference, paths):
    """Per (model, metric): each method's per-image values minus `reference`'s on the same
    images (NaN pairs skipped): mean difference, its 95 % CI and the two-sided p of the
    paired t statistic under the normal approximation (n >= 100 here)."""
    data = per_image(paths)
    for (model, method, metric), values in sorted(data.items()):
        ref = data.get((model, reference, metric))
        if ref is None or method == reference:
            continue
        d = [values[i] - ref[i] for i in sorted(values) if i in ref and not math.isnan(values[i]) and not math.isnan(ref[i])]
        n = len(d)
        m = sum(d) / n
        sd = math.sqrt(sum((x - m) ** 2 for x in d) / (n - 1))
        se = sd / math.sqrt(n)
        z = m / se if se > 0 else float("inf")
        p = math.erfc(abs(z) / math.sqrt(2))
        print(f"{model}\t{metric}\t{method} - {reference}\t{m:+.4f}\t[{m - 1.959964 * se:+.4f}, {m + 1.959964 * se:+.4f}]\tp={p:.3g}\tn={n}")


def read_salfit(path):
    """Header and float32 tensors of a format-2 .salfit file: magic 'SALFIT2\\n', a
    little-endian UInt32 header length, a JSON header whose "blobs" table gives each blob's
    kind, name, offset (from the payload's start), byte length and shape, then the payload
    (see Sources/Plugins/Host/FitState+File.swift)."""
    import numpy as np
    raw = open(path, "rb").read()
    if raw[:8] != b"SALFIT2\n":
        raise SystemExit(f"{path}: not a format-2 .salfit file")
    (hlen,) = struct.unpack("<I", raw[8:12])
    header = json.loads(raw[12:12 + hlen])
    base = 12 + hlen
    tensors = {}
    for blob in header["blobs"]:
        if blob["kind"] == "tensor":
            tensors[blob["name"]] = np.frombuffer(raw, dtype="<f4", count=blob["bytes"] // 4,
                                                  offset=base + blob["offset"]).reshape(blob["shape"])
    return header, tensors


def weights(path, key="weights", top=5, pairs_offset=6):
    """Fig. 10-11 on an an8flower double-12c state: classes c and c + 6 share the colour."""
    import numpy as np
    header, tensors = read_salfit(path)
    w = tensors[key]
    classes, k = w.shape
    absw = np.abs(w)
    important = absw > 1e-3 * absw.max(axis=1, keepdims=True)
    print(f"{path}: W {classes} x {k}; important (|w| > 1e-3 max of its class): {100 * important.mean():.1f} % "
          f"(per class {', '.join(str(int(x)) for x in important.sum(axis=1))} of {k})")
    tops = [set(np.argsort(-absw[c])[:top].tolist()) for c in range(classes)]
    same, other = [], []
    for a in range(classes):
        for b in range(a + 1, classes):
            shared = len(tops[a] & tops[b])
            (same if b - a == pairs_offset else other).append(shared)
    print(f"top-{top} channels shared: same-colour pairs (c, c+{pairs_offset}) mean {np.mean(same):.2f} over {len(same)} pairs "
          f"({same}); other pairs mean {np.mean(other):.2f} over {len(other)} pairs")
    # Exact permutation p: how often a random choice of len(same) pairs among all pairs has a
    # mean at least as high (all pairs are exchangeable under the null).
    allp = same + other
    rng = np.random.default_rng(0)
    draws = np.array([np.mean(rng.choice(allp, size=len(same), replace=False)) for _ in range(20000)])
    print(f"permutation p (one-sided, 20000 draws): {np.mean(draws >= np.mean(same)):.4f}")


def correlation(path_a, path_b):
    """Mean Pearson correlation between maps a[i] and b[i] (N x 1 x H x W .npy files)."""
    import numpy as np
    a, b = np.load(path_a), np.load(path_b)
    a = a.reshape(a.shape[0], -1).astype(np.float64)
    b = b.reshape(b.shape[0], -1).astype(np.float64)
    r = []
    for x, y in zip(a, b):
        if x.std() == 0 or y.std() == 0:
            continue
        r.append(np.corrcoef(x, y)[0, 1])
    r = np.array(r)
    print(f"{path_a} vs {path_b}: mean r {r.mean():.3f} (median {np.median(r):.3f}, n {len(r)}, "
          f"95 % CI ±{1.96 * r.std(ddof=1) / np.sqrt(len(r)):.3f})")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "localization":
        localization(args)
    elif cmd == "means":
        means(args)
    elif cmd == "paired":
        paired(args[0], args[1:])
    elif cmd == "weights":
        weights(args[0])
    elif cmd == "correlation":
        correlation(args[0], args[1])
    else:
        raise SystemExit(__doc__)
