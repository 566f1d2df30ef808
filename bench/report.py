"""The report: raw JSON, a Markdown table of ratios and targets, and plots."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

Target = tuple[str, Callable[[dict[str, Any]], float | None], str, float]

LAT_256 = "256 running I/O jobs, check every ~1 ms"
LAT_IO = "1 I/O job, check every 1 ms"
LAT_CPU = "1 CPU job, ~1 ms of work between checks"
LAT_256_10 = "256 running I/O jobs, check every ~10 ms"


def _get(r: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(r, dict) or key not in r:
            return None
        r = r[key]
    return r


TARGETS: list[Target] = [
    (
        "check (ctx.cancelled) vs bare shm read",
        lambda r: _get(r, "check", "ctx.cancelled", "xFloor"),
        "<=",
        2.0,
    ),
    ("check at 512 jobs vs at 1 job", lambda r: _get(r, "flatness", "ctx512over1"), "<=", 1.25),
    (
        "Lock+dict registry vs check, at 256 jobs",
        lambda r: _get(r, "flatness", "registryOverCtxAt256"),
        ">=",
        10.0,
    ),
    (
        "cancel latency p99, 256 running I/O jobs (ms)",
        lambda r: _get(r, "latency", LAT_256, "p99"),
        "<=",
        20.0,
    ),
    (
        "cancel latency p50, 1 job checking every 1 ms (ms)",
        lambda r: _get(r, "latency", LAT_IO, "p50"),
        "<=",
        0.3,
    ),
    (
        "cancel latency p99, 1 job checking every 1 ms (ms)",
        lambda r: _get(r, "latency", LAT_IO, "p99"),
        "<=",
        1.1,
    ),
    (
        "durable dispatch vs ProcessPoolExecutor",
        lambda r: _get(r, "throughput", "ratioToPPE"),
        ">=",
        2.0,
    ),
    ("import.customer vs floor", lambda r: _get(r, "importspeed", "ratioToFloor"), ">=", 0.5),
]


def verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, get, op, bound in TARGETS:
        value = get(results)
        if value is None:
            verdict = "not measured"
        elif (value <= bound) if op == "<=" else (value >= bound):
            verdict = "met"
        else:
            verdict = "MISSED"
        out.append({"target": name, "value": value, "bound": f"{op} {bound}", "verdict": verdict})
    return out


def _ok(results: dict[str, Any], suite: str) -> dict[str, Any] | None:
    """A suite's figures, unless it did not run or failed."""
    r = results.get(suite)
    return r if isinstance(r, dict) and "error" not in r else None


def _fmt(x: Any, digits: int = 2) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        if math.isnan(x):
            return "-"
        return f"{x:,.{digits}f}"
    return str(x)


def _row(*cells: Any) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _section_check(check: dict[str, Any]) -> list[str]:
    lines = ["## 1. The check (one thread, ns per check over the same loop without it)", ""]
    lines += [_row("mechanism", "ns", "x floor"), "|---|---:|---:|"]
    for name, e in check.items():
        if name == "empty loop iteration":
            continue
        note = (
            f" ({e['skipped']})"
            if e.get("skipped")
            else (" (wall clock)" if e.get("clock") else "")
        )
        lines.append(_row(name + note, _fmt(e.get("ns"), 1), _fmt(e.get("xFloor"), 2)))
    empty = _fmt(check["empty loop iteration"]["ns"], 1)
    return [*lines, "", f"An empty loop iteration costs {empty} ns."]


def _section_flatness(flat: dict[str, Any]) -> list[str]:
    lines = ["## 2. Flatness (inside real jobs; thread CPU ns per check)", ""]
    lines.append(
        _row(
            "concurrent jobs",
            "ctx.cancelled",
            "ctx.check()",
            "Lock+dict registry",
            "registry / ctx",
        )
    )
    lines.append("|---:|---:|---:|---:|---:|")
    for n, lv in flat["levels"].items():
        ratio = lv["registryNs"] / lv["ctxNs"]
        lines.append(
            _row(
                n,
                _fmt(lv["ctxNs"], 1),
                _fmt(lv["checkNs"], 1),
                _fmt(lv["registryNs"], 1),
                _fmt(ratio, 1),
            )
        )
    return lines


def _section_latency(lat: dict[str, Any]) -> list[str]:
    lines = [
        "## 3. Cancel latency (ms, cancel request sent -> cancelled status at a subscriber)",
        "",
    ]
    lines += [_row("scenario", "n", "p50", "p99", "max"), "|---|---:|---:|---:|---:|"]
    for name in (LAT_256, LAT_256_10, LAT_IO, LAT_CPU):
        s = lat.get(name)
        if s:
            lines.append(
                _row(name, s["n"], _fmt(s["p50"], 3), _fmt(s["p99"], 3), _fmt(s["max"], 3))
            )
    cost = lat.get("cpuMicrosecondsPerMillisecondSleep")
    if cost:
        cores = 256_000 * cost / 1e6
        lines += [
            "",
            f"One 1 ms sleep costs this machine {_fmt(cost, 1)} us of CPU (timer and context "
            f"switches): 256 jobs each waking every ms need {_fmt(cores, 2)} cores for that alone.",
        ]
    for name, p in lat.get("peers", {}).items():
        lines += ["", f"**{name}**: " + "; ".join(f"{k} = {_fmt(v, 3)}" for k, v in p.items())]
    return lines


def _section_throughput(thr: dict[str, Any]) -> list[str]:
    lines = [f"## 4. Dispatch throughput (no-op jobs, {thr['processes']} processes)", ""]
    lines += [_row("runner", "jobs", "jobs/s", "x ProcessPoolExecutor"), "|---|---:|---:|---:|"]
    ppe = thr["ProcessPoolExecutor"]["jobsPerSecond"]
    for name, v in thr.items():
        if isinstance(v, dict) and "jobsPerSecond" in v:
            rate = v["jobsPerSecond"]
            lines.append(_row(name, v["jobs"], _fmt(rate, 0), _fmt(rate / ppe)))
    return lines


def _section_memory(mem: dict[str, Any]) -> list[str]:
    sup, wrk = mem["supervisor"], mem["worker"]
    mib = 2**20
    return [
        "## 5. Memory",
        "",
        f"- shared memory: {mem['slotBytes']} bytes per slot (the seed estimated "
        f"~{mem['seedEstimateBytesPerEntry']} B per registry entry); "
        f"{mem['segmentBytesFor512Slots']} bytes for 512 slots;",
        f"- supervisor: {_fmt(sup['bytesPerQueuedJob'], 0)} bytes RSS per queued job "
        f"({sup['queued']} queued: {_fmt(sup['rssAfterBytes'] / mib, 1)} MiB);",
        f"- worker: {_fmt(wrk['bytesPerSlot'], 0)} bytes RSS per slot "
        f"({_fmt(wrk['rssAt8SlotsBytes'] / mib, 1)} MiB at 8 slots, "
        f"{_fmt(wrk['rssAt256SlotsBytes'] / mib, 1)} MiB at 256).",
    ]


def _section_import(imp: dict[str, Any]) -> list[str]:
    return [
        "## 6. Import speed",
        "",
        f"import.customer: {_fmt(imp['importRowsPerSecond'], 0)} rows/s; "
        f"floor (csv + executemany, no validation): {_fmt(imp['floorRowsPerSecond'], 0)} rows/s; "
        f"ratio {_fmt(imp['ratioToFloor'])} ({imp['rows']} rows, {imp['bytes']} bytes).",
    ]


_SECTIONS = (
    ("check", _section_check),
    ("flatness", _section_flatness),
    ("latency", _section_latency),
    ("throughput", _section_throughput),
    ("memory", _section_memory),
    ("importspeed", _section_import),
)


def markdown(results: dict[str, Any], targets: list[dict[str, Any]]) -> str:
    m = results["machine"]
    lines = [
        f"# sazinka-worker bench, {results['startedAt']}",
        "",
        f"{m['cpu']}, {m['cores']} cores, Python {m['python']}, kernel {m['kernel']}; "
        f"mode: {'quick' if results['quick'] else 'full'}; {results['seconds']:.0f} s.",
        "All figures come from this one run, side by side; ratios are what to compare.",
        "",
        "## Targets",
        "",
        _row("target", "value", "bound", "verdict"),
        "|---|---:|---|---|",
    ]
    lines += [_row(t["target"], _fmt(t["value"]), t["bound"], t["verdict"]) for t in targets]
    for suite, section in _SECTIONS:
        r = results.get(suite)
        if isinstance(r, dict) and "error" in r:
            lines += ["", f"**{suite} failed**: {r['error']}"]
        elif isinstance(r, dict):
            lines += ["", *section(r)]
    return "\n".join(lines) + "\n"


def _save(plt: Any, fig: Any, stem: Path, what: str) -> str:
    path = stem.with_name(f"{stem.name}-{what}.png")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def plots(results: dict[str, Any], stem: Path) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    made = []
    flat = _ok(results, "flatness")
    if flat:
        levels = [int(n) for n in flat["levels"]]
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for key, label in (
            ("ctxNs", "ctx.cancelled"),
            ("checkNs", "ctx.check()"),
            ("registryNs", "Lock+dict registry (seed)"),
        ):
            ax.plot(levels, [flat["levels"][str(n)][key] for n in levels], marker="o", label=label)
        floor = _get(results, "check", "bare shm read (floor)", "ns")
        if floor:
            ax.axhline(floor, color="grey", linestyle=":", label="bare shm read, 1 thread")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("concurrent jobs")
        ax.set_ylabel("ns per check (thread CPU)")
        ax.set_title("Cancellation check cost vs concurrent jobs")
        ax.legend()
        ax.grid(True, which="both", alpha=0.3)
        made.append(_save(plt, fig, stem, "check"))
    lat = _ok(results, "latency")
    if lat:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for name in (LAT_256, LAT_256_10, LAT_IO, LAT_CPU):
            s = lat.get(name, {}).get("samples")
            if s:
                xs = sorted(s)
                ax.plot(xs, [(i + 1) / len(xs) for i in range(len(xs))], label=name)
        ax.set_xscale("log")
        ax.set_xlabel("cancel latency (ms)")
        ax.set_ylabel("fraction of cancels")
        ax.set_title("Cancel latency CDF")
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        made.append(_save(plt, fig, stem, "latency"))
    return made


def write(results: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / results["startedAt"].replace(":", "").replace("-", "")
    targets = verdicts(results)
    results["targets"] = targets
    results["plots"] = plots(results, stem)
    json_path = stem.with_suffix(".json")
    json_path.write_text(json.dumps(results, indent=1, default=str) + "\n")
    md = markdown(results, targets)
    if results["plots"]:
        md += "\n" + "\n".join(f"![{p}]({p})" for p in results["plots"]) + "\n"
    md_path = stem.with_suffix(".md")
    md_path.write_text(md)
    return json_path, md_path
