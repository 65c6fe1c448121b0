"""A new user's papercuts (issue 15): readable IR, a table that explains itself, plots
that say what they show."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")
LM = os.path.join(ROOT, "examples", "char_lm", "linear")


def _figures(monkeypatch):
    """The figures a plot function closes, instead of throwing them away."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs = []
    monkeypatch.setattr(plt, "close", figs.append)
    return figs


def test_rasters_show_negative_spikes_and_sane_ticks_for_one_channel(monkeypatch, tmp_path):
    from nscc.analysis.render import plot_energy, plot_raster

    figs = _figures(monkeypatch)
    result = {
        "coding": "thermometer",
        "layers": [{"layer": "a", "levels": 3, "spikes": {"sops": 10, "dense_macs": 100}}],
        "raster": {"a": [[2], [-3], [0], [1]]},  # four steps of one signed channel
    }
    plot_raster(result, str(tmp_path / "r.png"), ("a",), (0, 4))
    (ax,) = figs[0].axes
    img = ax.images[0].get_array()
    assert img.min() == -1 and img.max() == 1  # negative spikes have their own colour
    assert "negative spikes in red" in ax.get_title()
    ticks = [t for t in ax.get_yticks() if -0.5 <= t <= 0.5]
    assert ticks == [0]  # one neuron, one integer tick
    plot_energy(result, str(tmp_path / "e.png"))
    assert figs[1].axes[0].get_ylabel()


def test_the_spike_table_explains_its_columns_and_uses_one_d_notation():
    r = subprocess.run(
        [sys.executable, "-m", "nscc", "run", os.path.join(ROOT, "examples", "digits_mlp", "model.onnx"), "--input",
         f"image={os.path.join(ROOT, 'examples', 'digits_mlp', 'digits.npy')}", "-p", "spike-conversion{levels=7}",
         "--calib", os.path.join(ROOT, "examples", "digits_mlp", "calib.npz"), "--report", os.devnull],
        capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    legend = next(ln for ln in r.stdout.splitlines() if ln.startswith("legend:"))
    assert "theta" in legend and "'-'" in legend and "E fp32" in legend and "±D" in legend


def test_integer_tables_keep_their_layer_names_and_widths_print_as_integers():
    r = subprocess.run(
        [sys.executable, "-m", "nscc", "opt", os.path.join(LM, "model.onnx"), "--calib", os.path.join(LM, "calib.npz"), "-p",
         "raise-attention,linear-attention,fuse-gelu,spike-conversion{weight-bits=4},requant-fusion,integer-islands"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert 'nn.weight "blocks.0.ln1.fixed_gamma"' in r.stdout and 'nn.weight "fixed.gamma"' not in r.stdout
    assert "nscc.weight_bits = 4 : i64" in r.stdout and "4.000000e+00 : f64" not in r.stdout


@pytest.mark.parametrize("bits, shown", [(4, "4 : i64"), (1.58, "1.58")])
def test_bits_attr(bits, shown):
    from nscc.quant.plans import bits_attr

    assert shown in str(bits_attr(bits))
