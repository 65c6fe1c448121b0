"""Vitis HLS's own figures in place of the analytical estimate. Standalone (standard
library only), so the package ships a copy: `python3 scripts/hls_report.py .`, which
`make hls` runs after synthesis.

It reads the synthesis report of the top function (`nscc_top_csynth.xml`, found under
build/), and rewrites report.json: `synthesis` gets the report's clock, latency,
interval and resources against the part's; `estimate` takes the synthesized latency,
calls (tokens) per second and resources, and keeps the analytical ones under
`estimate.analytical` for comparison. A latency the report leaves undefined (a loop
with a data-dependent trip count) keeps the analytical latency, and says so.
Without a report it changes nothing and says what to run.
"""

from __future__ import annotations

import json
import os
import sys
import xml.etree.ElementTree as ET

REPORT = "nscc_top_csynth.xml"
# csynth's resource names -> the estimate's (BRAM_18K counted in 36 kb blocks)
RESOURCES = {"LUT": ("LUT", 1), "FF": ("FF", 1), "DSP": ("DSP58", 1), "BRAM_18K": ("BRAM36", 0.5), "URAM": ("URAM", 1)}


class ReportError(Exception):
    pass


def find_report(pkg: str) -> str | None:
    """The top function's csynth report under PKG/build, the newest if there are several;
    only files that really lie inside the package (no link leads out of it)."""
    root = os.path.realpath(pkg) + os.sep
    found = []
    for d, dirs, files in os.walk(os.path.join(pkg, "build")):
        dirs[:] = [x for x in dirs if not os.path.islink(os.path.join(d, x))]
        found += [os.path.join(d, f) for f in files if f == REPORT and os.path.realpath(os.path.join(d, f)).startswith(root)]
    return max(found, key=os.path.getmtime) if found else None


def _number(node: ET.Element, path: str) -> float | None:
    text = node.findtext(path)
    if text is None:
        return None
    try:
        return float(text.strip())
    except ValueError:  # "undef", "?": not known statically
        return None


def parse(path: str) -> dict:
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        raise ReportError(f"{path}: not a readable csynth report ({e})") from None
    perf, area = root.find("PerformanceEstimates"), root.find("AreaEstimates")
    if perf is None or area is None:
        raise ReportError(f"{path}: no PerformanceEstimates or AreaEstimates (is it a Vitis HLS csynth.xml?)")
    lat = perf.find("SummaryOfOverallLatency")
    out = {
        "report": os.path.basename(path),
        "target_clock_ns": _number(root, "UserAssignments/TargetClockPeriod"),
        "estimated_clock_ns": _number(perf, "SummaryOfTimingAnalysis/EstimatedClockPeriod"),
        "latency_cycles": {k: _number(lat, f"{k}-caseLatency") if lat is not None else None for k in ("Best", "Average", "Worst")},
        "interval_cycles": {k: _number(lat, f"Interval-{k}") if lat is not None else None for k in ("min", "max")},
        "resources": {},
        "available": {},
    }
    for name, (ours, scale) in RESOURCES.items():
        used, avail = _number(area, f"Resources/{name}"), _number(area, f"AvailableResources/{name}")
        if used is not None:
            out["resources"][ours] = used * scale
        if avail is not None:
            out["available"][ours] = avail * scale
    if not out["resources"]:
        raise ReportError(f"{path}: no resource figures in AreaEstimates/Resources")
    return out


def apply(report: dict, syn: dict) -> list[str]:
    """Puts the synthesized figures into report['estimate']; returns what changed, as lines."""
    est = report.setdefault("estimate", {})
    keep = ("cycles_per_call", "latency_ms", "calls_per_s", "tokens_per_s", "resources", "utilisation", "fits")
    analytical = est.get("analytical") or {k: est[k] for k in keep if k in est}
    lines = []
    clock_ns = syn["estimated_clock_ns"] or syn["target_clock_ns"]
    cycles = syn["latency_cycles"]["Worst"]
    est = {k: v for k, v in est.items() if k not in keep}
    if cycles is not None and clock_ns:
        est["cycles_per_call"] = cycles
        est["latency_ms"] = cycles * clock_ns * 1e-6
        est["calls_per_s"] = 1e3 / est["latency_ms"]
        if "tokens_per_s" in analytical and analytical.get("calls_per_s"):
            est["tokens_per_s"] = est["calls_per_s"] * analytical["tokens_per_s"] / analytical["calls_per_s"]
        est["latency_source"] = f"csynth worst case at {clock_ns} ns"
    else:
        for k in ("cycles_per_call", "latency_ms", "calls_per_s", "tokens_per_s"):
            if k in analytical:
                est[k] = analytical[k]
        est["latency_source"] = "analytical (the csynth report leaves the latency undefined: a data-dependent loop)"
    capacity = est.get("capacity") or syn["available"]
    est["resources"] = syn["resources"]
    est["utilisation"] = {k: v / capacity[k] for k, v in syn["resources"].items() if capacity.get(k)}
    est["fits"] = all(u <= 1.0 for u in est["utilisation"].values())
    est["resources_source"] = "csynth"
    est["analytical"] = analytical
    report["estimate"] = est
    report["synthesis"] = syn
    for k in ("latency_ms", "calls_per_s"):
        if k in analytical and k in est:
            lines.append(f"{k}: estimate {analytical[k]:.4g}, synthesis {est[k]:.4g}")
    for k, v in syn["resources"].items():
        before = analytical.get("resources", {}).get(k)
        lines.append(f"{k}: estimate {before if before is not None else '-'}, synthesis {v:g}")
    return lines


def main(argv: list[str]) -> int:
    pkg = argv[1] if len(argv) > 1 else "."
    target = os.path.join(pkg, "report.json")
    try:
        with open(target) as f:
            report = json.load(f)
    except (OSError, ValueError) as e:
        print(f"hls_report: {target}: cannot read the package's report ({e}); hint: run it in an nscc VCK190 package", file=sys.stderr)
        return 2
    path = find_report(pkg)
    if path is None:
        print(f"hls_report: no {REPORT} under {os.path.join(pkg, 'build')}; report.json keeps the analytical estimate (hint: make hls)")
        return 0
    try:
        syn = parse(path)
    except ReportError as e:
        print(f"hls_report: {e}; report.json unchanged", file=sys.stderr)
        return 2
    lines = apply(report, syn)
    tmp = target + ".tmp"
    with open(tmp, "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    os.replace(tmp, target)  # never a half-written report
    print(f"hls_report: report.json now holds Vitis HLS's figures from {os.path.relpath(path, pkg)}")
    for line in lines:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
