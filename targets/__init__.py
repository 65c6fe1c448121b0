"""Code generation targets, one package each, all with the same small interface.

A target package exposes:

* `DESCRIPTION`: one line for `nscc compile --help`;
* `emit(ctx, module, out_dir, source) -> list[str]`: writes its whole output into
  `out_dir` (a fresh temporary directory that the driver renames into place only
  when `emit` succeeds) and returns the file names;
* `summary(out_dir) -> list[str]`: what `nscc compile` prints after the output is
  in place (where to look next);
* `DEFAULT_PIPELINE`: the passes `nscc compile` applies when no -p is given (all three
  targets take `INTEGER_PIPELINE`, so that they run the same program), and optionally
  `preflight(module)`, which names the ops the target cannot take before the passes
  that calibrate start;
* `recognizes(path) -> bool`: whether `path` is a program this target built
  (`nscc run OUT/` finds the target so);
* `run_built(path, inputs) -> (outputs, counters)` and
  `generate_built(path, prompt, n) -> (ids, timings)`: run such a program here, or
  raise an NsccError saying where it runs instead.

The interpreter's output is IR, which the driver reads like any model: it
recognizes no built program. No target imports another; what the C++ targets
share lives beside this file (`layout.py`, `include/`).
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import shutil
from types import ModuleType

from nscc.errors import NsccError
from nscc.semantics import fixed

# The integer helpers both C++ targets include: one written header, one generated from
# nscc.semantics.fixed (docs/semantics.md defines what they compute).
INTEGER_HEADERS = ("nscc_int.h", "nscc_fixed.h")


def write_integer_headers(out_dir: str) -> None:
    shutil.copyfile(os.path.join(os.path.dirname(__file__), "include", "nscc_int.h"), os.path.join(out_dir, "nscc_int.h"))
    with open(os.path.join(out_dir, "nscc_fixed.h"), "w") as f:
        f.write(fixed.header())


# Templates of generated files (the C++ host and testbench I/O, Makefiles, configs, READMEs):
# the text as it is written, with `${name}` (lower case) where a field goes. Nothing else is
# special: `$(CXX)`, `$@`, `${HOME}`, `@PKG@` and braces pass through as they are.
PLACEHOLDER = re.compile(r"\$\{([a-z_][a-z0-9_]*)\}")


@functools.cache
def _template(path: str) -> str:
    with open(path, newline="") as f:
        return f.read()


def render(template_path: str, **fields: object) -> str:
    """The template with every `${name}` replaced by str(fields[name]), in one pass (a value is
    never searched for placeholders). A placeholder without a field, or a field the template
    does not use, is an error: a template and its generator cannot drift apart silently."""
    text = _template(template_path)
    used = set(PLACEHOLDER.findall(text))
    missing, unused = used - fields.keys(), fields.keys() - used
    problems = [f"no value for {name}" for name in sorted(missing)] + [f"unused field {name}" for name in sorted(unused)]
    if problems:
        raise ValueError(f"template {os.path.basename(template_path)}: " + ", ".join(problems))
    return PLACEHOLDER.sub(lambda m: str(fields[m.group(1)]), text)


# Without -p: attention raised and made spiking, activations and norms recognised and
# made fixed point, the inputs no norm produced rotated before they spike
# (online-hadamard) and every layer's input scaled per token (token-scale), decode -> encode
# pairs requantized: integers from the embedding to the logits, the program the VCK190
# kernel needs and the other targets reproduce.
INTEGER_PIPELINE = (
    "raise-attention,fuse-gelu,fuse-silu,fuse-rms-norm,fuse-layer-norm,online-hadamard,token-scale,"
    "spike-conversion,requant-fusion,integer-islands"
)

TARGETS = ("interpreter", "cpp", "vck190")
# Targets whose programs `nscc run` can execute on this machine.
RUNNABLE = ("interpreter", "cpp")


def get_target(name: str) -> ModuleType:
    if name not in TARGETS:
        raise NsccError(f"unknown target '{name}'", "choose one of " + ", ".join(TARGETS))
    return importlib.import_module(f"nscc.targets.{name}")


def built_by(path: str) -> str | None:
    """The target that built the program in directory `path`, if any."""
    if not os.path.isdir(path):
        return None
    return next((name for name in TARGETS if get_target(name).recognizes(path)), None)
