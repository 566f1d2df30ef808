"""``sazinkactl``: the control client. ``--json`` prints exactly one JSON document
(``watch --json``: one per line); exit codes follow the contract."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from ._client import Client
from ._config import load_settings
from ._errors import InvalidArgument, PayloadTooLarge, WorkerError
from ._i18n import LANGS, YES, default_lang, text

FRAME_OVERHEAD = 64 * 1024  # room for the request around an uploaded file


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sazinkactl", description="control a sazinka-worker supervisor"
    )
    p.add_argument("--socket", help="control socket (env SAZINKA_SOCKET)")
    p.add_argument("--token", help="JWT (env SAZINKA_TOKEN)")
    p.add_argument("--config", type=Path, help="TOML configuration file (env SAZINKA_CONFIG)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--lang", choices=LANGS, default=None, help="language of messages")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for an answer")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("submit", help="queue a job")
    s.add_argument("type")
    s.add_argument("--file", type=Path)
    s.add_argument("--payload", default="{}", help="JSON object")
    s.add_argument("--count", type=int, default=None, help="submit N identical jobs")

    for name, helptext in (("cancel", "cancel a job"), ("status", "show a job")):
        c = sub.add_parser(name, help=helptext)
        c.add_argument("job_id")
    w = sub.add_parser("wait", help="wait until a job is finished")
    w.add_argument("job_id")
    w.add_argument("--timeout", dest="wait_timeout", type=float, default=None)
    sub.add_parser("jobs", help="your queued and running jobs")
    h = sub.add_parser("history", help="your finished jobs")
    h.add_argument("--limit", type=int, default=50)
    wa = sub.add_parser("watch", help="live progress of your jobs")
    wa.add_argument("job_ids", nargs="*")
    sub.add_parser("stats", help="pool statistics (admin)")
    f = sub.add_parser("fetch", help="download a finished export")
    f.add_argument("job_id")
    f.add_argument("-o", "--output", type=Path, help="file to write (default: JOB_ID.zip)")
    sc = sub.add_parser("schema", help="write the JSON Schema of every payload, status and reply")
    sc.add_argument("-o", "--output", type=Path, required=True, help="directory")
    return p


class _Out:
    def __init__(self, as_json: bool, lang: str, stream: TextIO) -> None:
        self.json = as_json
        self.lang = lang
        self.stream = stream

    def t(self, key: str) -> str:
        return text(key, self.lang)

    def doc(self, doc: Any) -> None:
        self.stream.write(json.dumps(doc, ensure_ascii=False) + "\n")
        self.stream.flush()

    def line(self, s: str = "") -> None:
        self.stream.write(s + "\n")
        self.stream.flush()

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        cells = [[("" if c is None else str(c)) for c in r] for r in rows]
        widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
        self.line("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
        for r in cells:
            self.line("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def _when(iso: str | None) -> str:
    if not iso:
        return "-"
    return (
        datetime.fromisoformat(iso.replace("Z", "+00:00"))
        .astimezone()
        .strftime("%Y-%m-%d %H:%M:%S")
    )


def _progress(status: dict[str, Any], out: _Out) -> str:
    kind = status.get("type")
    if "processed" in status and "total" in status:
        total = status["total"] or 0
        pct = f" ({100 * status['processed'] // total}%)" if total else ""
        return f"{status['processed']}/{total}{pct}"
    if "completedFiles" in status:
        return f"{status['completedFiles']}/{status['totalFiles']} files"
    if "progress" in status:
        msg = status.get("message")
        return f"{status['progress']}%" + (f" {out.t(msg)}" if msg else "")
    if kind == "completed" and "succeeded" in status:
        return f"{status['succeeded']} ok, {status['failed']} failed of {status['total']}"
    if kind == "failed":
        return str(status.get("error", ""))
    if kind == "cancelled" and "message" in status:
        return out.t(str(status["message"]))
    return ""


def _show_status(doc: dict[str, Any], out: _Out) -> None:
    status = doc.get("status") or {}
    out.table(
        ["FIELD", "VALUE"],
        [
            ["job", doc["jobId"]],
            ["type", doc["jobType"]],
            ["state", out.t("state:" + doc["state"])],
            ["progress", _progress(status, out)],
            ["submitted", _when(doc.get("submittedAt"))],
            ["started", _when(doc.get("startedAt"))],
            ["finished", _when(doc.get("finishedAt"))],
        ],
    )
    for err in status.get("errors", [])[:20]:
        out.line(f"  row {err['row']}: {err['message']}")
    if len(status.get("errors", [])) > 20 or status.get("errorsOmitted"):
        out.line(f"  ... {status.get('failed', 0) - 20} more")


# -- commands -------------------------------------------------------------------


def _submit(c: Client, a: argparse.Namespace, out: _Out) -> int:
    try:
        payload = json.loads(a.payload)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"--payload is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise InvalidArgument("--payload must be a JSON object")
    data = None
    if a.file is not None:
        try:
            size = a.file.stat().st_size
            if size > c._limits.max_bytes - FRAME_OVERHEAD:
                raise PayloadTooLarge(
                    f"{a.file} is {size} bytes; the limit is {c._limits.max_bytes - FRAME_OVERHEAD}"
                )
            data = a.file.read_bytes()
        except OSError as exc:
            raise InvalidArgument(f"cannot read {a.file}: {exc.strerror}") from None
    if a.count is not None and a.count < 1:
        raise InvalidArgument("--count must be at least 1")
    result = c.submit(a.type, payload, file=data, count=a.count)
    if out.json:
        out.doc(result)
    else:
        for job_id in result.get("jobIds", [result.get("jobId")]):
            out.line(f"{out.t('jobs:submitted')}: {job_id} ({a.type})")
    return 0


def _cancel(c: Client, a: argparse.Namespace, out: _Out) -> int:
    if not (a.yes or out.json) and sys.stdin.isatty():
        out.stream.write(f"{out.t('jobs:cancel_confirm')} [y/N] ")
        out.stream.flush()
        answer = sys.stdin.readline().strip().lower()
        if answer not in YES.get(out.lang, YES["en"]):
            out.line(out.t("jobs:aborted"))
            return 1
    result = c.cancel(a.job_id)
    if out.json:
        out.doc(result)
    else:
        msg = out.t(result["message"])
        if result["outcome"] == "already_finished":
            msg += f" ({out.t('state:' + result['state'])})"
        out.line(f"{result['jobId']}: {msg}")
    return 0


def _status(c: Client, a: argparse.Namespace, out: _Out) -> int:
    doc = c.status(a.job_id)
    out.doc(doc) if out.json else _show_status(doc, out)
    return 0


def _wait(c: Client, a: argparse.Namespace, out: _Out) -> int:
    doc = c.wait(a.job_id, a.wait_timeout)
    out.doc(doc) if out.json else _show_status(doc, out)
    return 0


def _jobs(c: Client, a: argparse.Namespace, out: _Out) -> int:
    result = c.call("jobs")
    if out.json:
        out.doc(result)
        return 0
    out.table(
        ["JOB", "TYPE", "STATE", "PROGRESS", "SUBMITTED"],
        [
            [
                d["jobId"],
                d["jobType"],
                out.t("state:" + d["state"]),
                _progress(d["status"], out),
                _when(d["submittedAt"]),
            ]
            for d in result["jobs"]
        ],
    )
    return 0


def _history(c: Client, a: argparse.Namespace, out: _Out) -> int:
    result = c.call("history", limit=a.limit)
    if out.json:
        out.doc(result)
        return 0
    out.table(
        ["JOB", "TYPE", "STATUS", "STARTED", "DURATION", "DETAIL"],
        [
            [
                e["id"],
                e["jobType"],
                out.t("state:" + e["status"]),
                _when(e["startedAt"]),
                f"{e['durationMs'] / 1000:.1f}s",
                e["error"] or _progress(e["details"] or {}, out),
            ]
            for e in result["jobs"]
        ],
    )
    out.line(f"({len(result['jobs'])} / {result['total']})")
    return 0


def _watch(c: Client, a: argparse.Namespace, out: _Out) -> int:
    c.timeout = max(c.timeout, 30.0)
    try:
        for doc in c.stream("watch", jobIds=a.job_ids):
            if out.json:
                out.doc(doc)
            else:
                stamp = datetime.now().strftime("%H:%M:%S")
                out.line(
                    f"{stamp}  {doc['jobId']}  {doc['jobType']:<16} "
                    f"{out.t('state:' + doc['state']):<12} {_progress(doc['status'], out)}"
                )
    except KeyboardInterrupt:
        return 0
    return 0


def _stats(c: Client, a: argparse.Namespace, out: _Out) -> int:
    result = c.call("stats")
    if out.json:
        out.doc(result)
        return 0
    out.line(f"slots {result['slots']}, busy {result['busy']}, queued {result['queued']}")
    out.table(
        ["PID", "RSS MiB", "JOBS"],
        [[p["pid"], f"{p['rssBytes'] / 2**20:.1f}", p["jobs"]] for p in result["processes"]],
    )
    return 0


def _fetch(c: Client, a: argparse.Namespace, out: _Out) -> int:
    dest = a.output or Path(f"{a.job_id}.zip")
    size = c.fetch(a.job_id, dest)
    if out.json:
        out.doc({"jobId": a.job_id, "file": str(dest), "bytes": size})
    else:
        out.line(f"{dest}: {size} bytes")
    return 0


def _schema(a: argparse.Namespace, out: _Out) -> int:
    from ._schema import write

    written = write(a.output)
    if out.json:
        out.doc({"files": [str(p) for p in written]})
    else:
        out.line(f"{len(written)} schemas written to {a.output}")
    return 0


_COMMANDS: dict[str, Callable[[Client, argparse.Namespace, _Out], int]] = {
    "submit": _submit,
    "cancel": _cancel,
    "status": _status,
    "wait": _wait,
    "jobs": _jobs,
    "history": _history,
    "watch": _watch,
    "stats": _stats,
    "fetch": _fetch,
}


def main(argv: list[str] | None = None, stdout: TextIO | None = None) -> int:
    args = _parser().parse_args(argv)
    out = _Out(args.json, args.lang or default_lang(), stdout or sys.stdout)
    try:
        if args.command == "schema":  # needs no supervisor
            return _schema(args, out)
        socket_path = args.socket or os.environ.get("SAZINKA_SOCKET")
        max_frame = 64 * 1024 * 1024
        if not socket_path:
            settings = load_settings(args.config)
            socket_path, max_frame = str(settings.socket_path), settings.max_frame_bytes
        token = args.token or os.environ.get("SAZINKA_TOKEN")
        with Client(socket_path, token, timeout=args.timeout, max_frame_bytes=max_frame) as client:
            return _COMMANDS[args.command](client, args, out)
    except WorkerError as exc:
        if out.json:
            out.doc({"error": exc.to_wire()})
        else:
            print(f"sazinkactl: {text(exc.key, out.lang)}: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `sazinkactl watch | head`: the reader left
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
