"""Pictures and pages for an analysis: PNG plots (matplotlib), report.html, analysis.json."""

from __future__ import annotations

import html
import json
import os

import numpy as np

from nscc.report import d_notation


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_layers(result: dict, path: str) -> None:
    """Per layer: firing rate, count entropy (against its maximum, log2(D+1), or log2(2D+1) when signed), entropy rate, NMI (against chance)."""
    plt = _plt()
    rows = result["layers"]
    names = [r["layer"] for r in rows]
    x = np.arange(len(rows))
    panels = 4 if result["labels"] else 3
    fig, ax = plt.subplots(panels, 1, figsize=(max(6, 0.45 * len(rows) + 2), 2.4 * panels), sharex=True)
    ax[0].bar(x, [r["firing_rate"] for r in rows], color="tab:orange")
    ax[0].set_ylabel("spikes / neuron / step")
    ax[1].bar(x, [r["entropy_bits"] for r in rows], color="tab:blue", label="mean over neurons")
    ax[1].plot(x, [r["entropy_max_bits"] for r in rows], "k_", markersize=14, label="maximum")
    ax[1].set_ylabel("count entropy (bits)")
    ax[1].legend(fontsize=7)
    ax[2].bar(x, [r["entropy_rate_bits_per_slot"] for r in rows], color="tab:green", label="block entropies")
    ax[2].plot(x, [r["lempel_ziv"] for r in rows], "kD", markersize=4, label="Lempel-Ziv")
    ax[2].set_ylabel("entropy rate (bits/slot)")
    ax[2].legend(fontsize=7)
    if result["labels"]:
        ax[3].bar(x, [r["nmi"] for r in rows], color="tab:purple", label="mean NMI")
        ax[3].plot(x, [r["nmi_chance"] for r in rows], "k_", markersize=14, label="chance (shuffled labels)")
        ax[3].set_ylabel("NMI(label; response)")
        ax[3].legend(fontsize=7)
    ax[-1].set_xticks(x)
    ax[-1].set_xticklabels(names, rotation=70, ha="right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_histograms(result: dict, path: str) -> None:
    plt = _plt()
    rows = result["layers"]
    cols = min(4, len(rows))
    nrows = (len(rows) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 2.4 * nrows), squeeze=False)
    for ax, r in zip(axes.ravel(), rows):
        h = r["count_histogram"]
        ax.bar([int(k) for k in h], list(h.values()), color="tab:gray")
        ax.set_yscale("log")
        ax.set_title(r["layer"][:32], fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(rows) :]:
        ax.axis("off")
    fig.suptitle("spike count histograms (count per neuron and step)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_raster(result: dict, path: str, layers: tuple[str, ...] = (), steps: tuple[int, int] = (0, 32)) -> None:
    """Spike rasters of the first sample: one row per neuron, one column per slot of each step.
    `layers`: names or globs (default: four layers spread over the depth); `steps`: [start, end)."""
    from fnmatch import fnmatch

    plt = _plt()
    from matplotlib.colors import ListedColormap

    names = list(result["raster"])
    if layers:
        chosen = [n for n in names if any(fnmatch(n, pat) for pat in layers)]
    else:
        chosen = [names[i] for i in sorted({int(round(i)) for i in np.linspace(0, len(names) - 1, min(4, len(names)))})]
    fig, axes = plt.subplots(max(1, len(chosen)), 1, figsize=(9, 2.2 * max(1, len(chosen))), squeeze=False)
    levels = {r["layer"]: r["levels"] for r in result["layers"]}
    for ax, name in zip(axes[:, 0], chosen):
        signed_counts = np.array(result["raster"][name])[steps[0] : steps[1]]  # steps x neurons
        counts = np.abs(signed_counts)
        d = levels[name] if result["coding"] != "bitplane" else max(1, int(levels[name]).bit_length())
        slots = np.arange(d)
        fired = (counts[..., None] >> slots) & 1 if result["coding"] == "bitplane" else counts[..., None] >= slots + 1
        # +1 for a positive spike, -1 for a negative one: drawn black and red
        img = (fired * np.sign(signed_counts)[..., None]).transpose(1, 0, 2).reshape(counts.shape[1], -1)
        cmap = ListedColormap(["tab:red", "white", "black"])
        ax.imshow(img, aspect="auto", cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
        neg = " (negative spikes in red)" if (signed_counts < 0).any() else ""
        ax.set_title(f"{name}: steps {steps[0]}..{steps[0] + counts.shape[0] - 1} x {d} slots, {counts.shape[1]} neurons{neg}", fontsize=8)
        ax.set_ylabel("neuron", fontsize=7)
        n = counts.shape[1]
        ax.set_yticks(np.arange(0, n, max(1, -(-n // 5))))  # whole neurons: a 1-channel raster gets tick 0, not -0.4..0.4
        ax.tick_params(labelsize=6)
    axes[-1, 0].set_xlabel("time (slots of successive steps)", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_energy(result: dict, path: str) -> None:
    plt = _plt()
    rows = [r for r in result["layers"] if r["spikes"]]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(rows) + 2), 3))
    ax.bar(x - 0.2, [r["spikes"]["sops"] for r in rows], 0.4, label="synaptic ops")
    ax.bar(x + 0.2, [r["spikes"]["dense_macs"] for r in rows], 0.4, label="dense MACs")
    ax.set_yscale("log")
    ax.set_ylabel("operations per inference (log)", fontsize=7)
    ax.set_xticks(x)
    ax.set_xticklabels([r["layer"] for r in rows], rotation=70, ha="right", fontsize=7)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


PLOTS = {"layers.png": plot_layers, "histograms.png": plot_histograms, "raster.png": plot_raster, "energy.png": plot_energy}


def write(
    result: dict, out_dir: str, source: str, raster_layers: tuple[str, ...] = (), raster_steps: tuple[int, int] = (0, 32)
) -> list[str]:
    """analysis.json, the plots (when matplotlib is there) and report.html into out_dir."""
    with open(os.path.join(out_dir, "analysis.json"), "w") as f:
        json.dump(result, f, indent=1)
    made = []
    try:
        _plt()
        for name, fn in PLOTS.items():
            if fn is plot_raster:
                fn(result, os.path.join(out_dir, name), raster_layers, raster_steps)
            else:
                fn(result, os.path.join(out_dir, name))
            made.append(name)
    except ImportError:
        pass
    with open(os.path.join(out_dir, "report.html"), "w") as f:
        f.write(_html(result, source, made))
    return sorted(os.listdir(out_dir))


def _html(result: dict, source: str, images: list[str]) -> str:
    e = html.escape
    t = result["totals"]
    wb = result["weight_bytes"]
    nmi = bool(result["labels"])
    head = (
        ["layer", "D", "neurons", "firing rate", "entropy (bits)", "max", "entropy rate", "LZ"]
        + (["NMI", "chance", "max NMI"] if nmi else [])
        + ["SOPs", "dense MACs"]
    )
    rows = []
    for r in result["layers"]:
        cells = [e(r["layer"]), d_notation(r["levels"], r["signed"]), r["neurons"], f"{r['firing_rate']:.3f}", f"{r['entropy_bits']:.3f}", f"{r['entropy_max_bits']:.2f}",
                 f"{r['entropy_rate_bits_per_slot']:.3f}", f"{r['lempel_ziv']:.3f}"]  # fmt: skip
        if nmi:
            cells += [f"{r['nmi']:.4f}", f"{r['nmi_chance']:.4f}", f"{r['nmi_max']:.3f}"]
        sp = r["spikes"]
        cells += [f"{sp.get('sops', 0):.4g}", f"{sp.get('dense_macs', 0):.4g}"]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    e32, e8 = t["energy_pj"]["fp32"], t["energy_pj"]["int8"]
    labels = ", ".join(f"{e(k)}: {v}" for k, v in result["labels"].items()) if nmi else "none given"
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>nscc analysis: {e(source)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}} td:first-child{{text-align:left}} img{{max-width:100%}}</style></head><body>
<h1>Spike analysis of {e(source)}</h1>
<p>{result["samples"]} samples, coding {e(result["coding"])}; labels: {labels}.
A neuron is one input channel of a synaptic layer; a step is one token (or pixel) of one sample.</p>
<h2>Energy and memory</h2>
<p>{t["sops"]:.4g} synaptic operations against {t["dense_macs"]:.4g} dense MACs ({t["sops_per_mac"]:.3f} per MAC);
estimated energy fp32 {e32["spiking"] / 1e6:.4g} uJ spiking vs {e32["dense"] / 1e6:.4g} uJ dense, int8 {e8["spiking"] / 1e6:.4g} vs {e8["dense"] / 1e6:.4g} uJ
({e(result["energy_convention"])}).<br>Spiking-layer weights: {wb["packed"]} bytes packed, {wb["fp16"]} in fp16, {wb["fp32"]} in fp32.</p>
<h2>Layers</h2>
<table><tr>{"".join(f"<th>{h}</th>" for h in head)}</tr>
{chr(10).join(rows)}
</table>
<p>Entropy: of each neuron's spike-count distribution, mean over neurons, against log2(D+1). Entropy rate: of the binary trains
(block entropies H(L) - H(L-1), and normalized Lempel-Ziv complexity). NMI = I(label; count) / sqrt(H(label) H(count)) per neuron,
mean over neurons; chance is the same with labels shuffled between samples (plug-in estimates are biased upward on few samples).</p>
{"".join(f'<h2>{e(name)}</h2><img src="{e(name)}">' for name in images)}
</body></html>
"""
