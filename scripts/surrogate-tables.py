#!/usr/bin/env python3
"""Checks the attentive surrogate's Table 3/4 claims (issue 18) on the CSVs that
examples/surrogate-tables.yaml writes, and prints the markdown tables of docs/surrogate.md.

    python3 scripts/surrogate-tables.py out/surrogate-tables

Paired comparisons are per image (the same test images for every method); their 95 %
intervals are mean difference +- t(0.975, n-1) * sd / sqrt(n).
"""
import csv
import math
import sys
from collections import defaultdict

# Two-sided 97.5 % Student t quantiles; n-1 beyond the table uses the normal 1.96.
T975 = {9: 2.262, 19: 2.093, 24: 2.064, 29: 2.045, 39: 2.023, 49: 2.010, 99: 1.984}


def t975(df):
    return T975.get(df, 1.96 if df > 99 else 2.01)


def load(folder, files):
    """values[model][method][metric] = {image: value}"""
    values = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    for f in files:
        with open(f"{folder}/{f}") as fh:
            for row in csv.DictReader(fh):
                if row["image"] == "mean":
                    continue
                cell = values[row["model"]][row["method"]]
                image = int(float(row["image"]))
                # The label names the raw entry "mean_intensity_raw"; CSVs from before metric
                # labels reached the table name both "mean_intensity", the second per image raw.
                metric = row["metric"]
                if metric == "mean_intensity" and image in cell[metric]:
                    metric = "mean_intensity_raw"
                cell[metric][image] = float(row["value"])
    return values


def paired(a, b):
    """Mean of a - b over shared images and its 95 % interval."""
    keys = sorted(set(a) & set(b))
    d = [a[k] - b[k] for k in keys]
    n = len(d)
    m = sum(d) / n
    sd = math.sqrt(sum((x - m) ** 2 for x in d) / (n - 1)) if n > 1 else 0.0
    h = t975(n - 1) * sd / math.sqrt(n) if n > 1 else 0.0
    return m, m - h, m + h, n


def mean(v):
    return sum(v.values()) / len(v)


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "out/surrogate-tables"
    hosts = {"resnet-shapes": ("resnet-shapes.csv", "resnet-shapes-rise.csv"),
             "lenet-fmnist": ("lenet-fmnist.csv", "lenet-fmnist-rise.csv")}
    methods = ["surrogate", "surrogate_unopt", "rise", "lime", "gradcam"]
    for model, files in hosts.items():
        v = load(folder, files)[model]
        print(f"\n### {model}\n")
        print("| metric | " + " | ".join(methods) + " |")
        print("|---|" + "---|" * len(methods))
        for metric in ["insertion", "deletion", "mean_intensity", "mean_intensity_raw"]:
            cells = [f"{mean(v[m][metric]):.4f}" if v[m][metric] else "-" for m in methods]
            print(f"| {metric} | " + " | ".join(cells) + " |")
        s = v["surrogate"]
        print()
        for metric, better in [("insertion", "higher"), ("deletion", "lower")]:
            m, lo, hi, n = paired(s[metric], v["gradcam"][metric])
            ok = (lo > 0) if better == "higher" else (hi < 0)
            same = lo <= 0 <= hi
            verdict = "better (CI excludes 0)" if ok else ("no difference (CI holds 0)" if same else "worse (CI excludes 0)")
            print(f"- {metric}: surrogate - gradcam = {m:+.4f} [{lo:+.4f}, {hi:+.4f}] (n={n}, {better} is better): {verdict}")
        ins = mean(s["insertion"]) / mean(v["rise"]["insertion"])
        dele = mean(s["deletion"]) / mean(v["rise"]["deletion"])
        print(f"- insertion surrogate / RISE = {ins:.3f} (target >= 0.94); deletion surrogate / RISE = {dele:.3f} (target <= 1.4)")
        mi = mean(s["mean_intensity"]), mean(v["gradcam"]["mean_intensity"]), mean(v["rise"]["mean_intensity"])
        print(f"- mean intensity (min-max): surrogate {mi[0]:.3f}, gradcam {mi[1]:.3f}, rise {mi[2]:.3f}; "
              f"surrogate / RISE = {mi[0] / mi[2]:.3f} (target <= 0.6), below gradcam: {mi[0] < mi[1]}")
        for metric in ["insertion", "deletion", "mean_intensity_raw"]:
            m, lo, hi, n = paired(s[metric], v["surrogate_unopt"][metric])
            print(f"- lambda 0.5 - lambda 5.0 ({metric}): {m:+.4f} [{lo:+.4f}, {hi:+.4f}]")


if __name__ == "__main__":
    main()
