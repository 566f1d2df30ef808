"""``python -m bench [--quick] [--only NAME ...]``"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import check, flatness, importspeed, latency, memory, throughput
from ._common import Progress, machine
from .report import write

SUITES = {
    "check": check.run,
    "flatness": flatness.run,
    "latency": latency.run,
    "throughput": throughput.run,
    "memory": memory.run,
    "importspeed": importspeed.run,
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="smaller runs, under 2 minutes")
    p.add_argument(
        "--only", action="append", choices=sorted(SUITES), help="run only this suite (repeatable)"
    )
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = p.parse_args(argv)
    chosen = args.only or list(SUITES)
    progress = Progress()
    results: dict[str, Any] = {
        "startedAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "quick": args.quick,
        "suites": chosen,
        "machine": machine(),
    }
    t0 = time.monotonic()
    for name in chosen:
        progress(name, "starting")
        try:
            results[name] = SUITES[name](args.quick, progress)
        except Exception as exc:  # noqa: BLE001 - one broken suite must not lose the others' figures
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"\n{name} failed: {exc}", file=sys.stderr)
    results["seconds"] = time.monotonic() - t0
    progress.done()
    json_path, md_path = write(results, args.out)
    print(md_path.read_text())
    print(f"raw figures: {json_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
