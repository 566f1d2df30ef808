"""sazinkactl against a running daemon: JSON shapes and exit codes of the contract."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from .conftest import ALICE, BOB, Daemon, processed_at_least, watch_until

pytestmark = pytest.mark.integration


def _json(out: Any) -> Any:
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1, out.stdout + out.stderr
    return json.loads(lines[0])


def test_submit_status_wait_jobs_history_json(daemon: Daemon) -> None:
    token = daemon.token(ALICE)
    r = daemon.ctl("--json", "submit", "diag.spin", "--payload", '{"iterations": 100}', token=token)
    assert r.returncode == 0, r.stderr
    sub = _json(r)
    assert set(sub) == {"jobId", "jobType", "state"}
    assert sub["jobType"] == "diag.spin" and sub["state"] == "queued"
    r = daemon.ctl("--json", "wait", sub["jobId"], "--timeout", "60", token=token)
    doc = _json(r)
    assert set(doc) == {
        "jobId",
        "jobType",
        "state",
        "status",
        "submittedAt",
        "startedAt",
        "finishedAt",
    }
    assert doc["state"] == "completed"
    assert doc["submittedAt"].endswith("Z")
    assert _json(daemon.ctl("--json", "status", sub["jobId"], token=token)) == doc
    assert _json(daemon.ctl("--json", "jobs", token=token)) == {"jobs": []}
    hist = _json(daemon.ctl("--json", "history", "--limit", "5", token=token))
    assert hist["total"] == 1
    assert set(hist["jobs"][0]) == {
        "id",
        "userId",
        "jobType",
        "status",
        "startedAt",
        "completedAt",
        "durationMs",
        "error",
        "details",
    }


def test_submit_count(daemon: Daemon) -> None:
    r = daemon.ctl(
        "--json",
        "submit",
        "diag.spin",
        "--payload",
        '{"iterations": 1}',
        "--count",
        "5",
        token=daemon.token(ALICE),
    )
    doc = _json(r)
    assert len(doc["jobIds"]) == 5 and doc["jobType"] == "diag.spin" and doc["state"] == "queued"


@pytest.mark.parametrize(
    ("args", "exit_code", "code"),
    [
        (["submit", "no.such.type"], 2, "UNKNOWN_JOB_TYPE"),
        (["submit", "diag.spin", "--payload", "{bad json"], 2, "INVALID_ARGUMENT"),
        (["submit", "diag.spin", "--payload", '{"iterations": -1}'], 2, "INVALID_ARGUMENT"),
        (["submit", "import.customer"], 2, "INVALID_ARGUMENT"),
        (["status", "00000000-0000-4000-8000-000000000000"], 5, "NOT_FOUND"),
        (["stats"], 4, "FORBIDDEN"),
    ],
)
def test_exit_codes(daemon: Daemon, args: list[str], exit_code: int, code: str) -> None:
    r = daemon.ctl("--json", *args, token=daemon.token(ALICE))
    assert r.returncode == exit_code, r.stdout + r.stderr
    err = _json(r)["error"]
    assert err["code"] == code and err["message"] and err["key"]


def test_exit_code_unauthorized_and_unavailable(daemon: Daemon, tmp_path: Path) -> None:
    r = daemon.ctl("--json", "jobs", token="garbage")
    assert r.returncode == 4 and _json(r)["error"]["code"] == "UNAUTHORIZED"
    r = daemon.ctl("--json", "--socket", str(tmp_path / "nothing.sock"), "jobs", token="x")
    assert r.returncode == 3 and _json(r)["error"]["code"] == "UNAVAILABLE"


def test_cancel_of_someone_elses_job_is_forbidden_exit_4(daemon: Daemon) -> None:
    with daemon.client(ALICE) as a:
        job = a.submit("diag.spin", {"iterations": 10**9})["jobId"]
    r = daemon.ctl("--json", "cancel", job, token=daemon.token(BOB))
    assert r.returncode == 4
    assert _json(r)["error"] == {
        "code": "FORBIDDEN",
        "message": "you can only cancel your own jobs",
        "key": "jobs:cancel_forbidden",
    }
    r = daemon.ctl("--json", "cancel", job, token=daemon.token(ALICE))
    assert r.returncode == 0 and _json(r)["outcome"] in ("cancelled", "cancel_requested")


def test_cancel_asks_on_a_terminal_unless_yes(daemon: Daemon) -> None:
    with daemon.client(ALICE) as a:
        job = a.submit("diag.spin", {"iterations": 10**9})["jobId"]
    # stdin is not a terminal here, so no question is asked; --lang picks the text
    r = daemon.ctl("--lang", "cs", "cancel", job, token=daemon.token(ALICE))
    assert r.returncode == 0
    assert "Zastavení vyžádáno" in r.stdout or "Zrušeno uživatelem" in r.stdout


def test_human_output_is_a_table(daemon: Daemon) -> None:
    with daemon.client(ALICE) as a:
        job = a.submit("diag.spin", {"iterations": 10})["jobId"]
        a.wait(job, timeout=60)
    r = daemon.ctl("--lang", "en", "history", token=daemon.token(ALICE))
    assert r.returncode == 0
    header, row, total = r.stdout.strip().splitlines()
    assert header.split()[:3] == ["JOB", "TYPE", "STATUS"]
    assert row.startswith(job) and "completed" in row
    assert total == "(1 / 1)"


def test_watch_json_prints_one_document_per_line_until_the_end(daemon: Daemon) -> None:
    with daemon.client(ALICE) as a:
        job = a.submit("diag.spin", {"iterations": 200_000, "checkEvery": 1000})["jobId"]
    r = daemon.ctl("--json", "watch", job, token=daemon.token(ALICE))
    assert r.returncode == 0, r.stderr
    docs = [json.loads(line) for line in r.stdout.splitlines()]
    assert docs[-1]["state"] == "completed"
    assert all(d["jobId"] == job for d in docs)


CSV_ROWS = 20_000


def _customers_csv(path: Path, rows: int) -> Path:
    lines = ["name;email;city;postal_code;lat;lng"]
    lines += [f"Zákazník {i};z{i}@example.cz;Brno;602 00;49,19;16,60" for i in range(rows)]
    path.write_bytes(("\n".join(lines) + "\n").encode("cp1250"))
    return path


def test_import_customer_end_to_end_with_the_cli(daemon: Daemon, tmp_path: Path) -> None:
    token = daemon.token(ALICE)
    csv = _customers_csv(tmp_path / "customers.csv", 500)
    r = daemon.ctl("--json", "submit", "import.customer", "--file", str(csv), token=token)
    job = _json(r)["jobId"]
    doc = _json(daemon.ctl("--json", "wait", job, token=token))
    assert doc["status"] == {
        "type": "completed",
        "total": 500,
        "succeeded": 500,
        "failed": 0,
        "errors": [],
        "errorsOmitted": 0,
    }
    with sqlite3.connect(daemon.state_dir / "domain.sqlite") as db:
        assert db.execute(
            "SELECT count(*) FROM customers WHERE owner_id=?", (ALICE,)
        ).fetchone() == (500,)
        assert db.execute("SELECT name, lat FROM customers LIMIT 1").fetchone() == (
            "Zákazník 0",
            49.19,
        )


def test_a_cancelled_import_keeps_exactly_the_rows_it_reported(
    daemon: Daemon, tmp_path: Path
) -> None:
    csv = _customers_csv(tmp_path / "big.csv", CSV_ROWS)
    with daemon.client(ALICE) as c:
        job = c.submit("import.customer", file=csv.read_bytes())["jobId"]
        with daemon.client(ALICE) as w:
            watch_until(w, job, processed_at_least(2000))
        assert c.cancel(job)["outcome"] in ("cancel_requested", "already_finished")
        doc = c.wait(job, timeout=60)
    assert doc["state"] == "cancelled", doc
    processed = doc["status"]["processed"]
    assert doc["status"] == {
        "type": "cancelled",
        "processed": processed,
        "total": CSV_ROWS,
        "succeeded": processed,
        "failed": 0,
    }
    assert 2000 <= processed < CSV_ROWS and processed % 50 == 0
    with sqlite3.connect(daemon.state_dir / "domain.sqlite") as db:
        (kept,) = db.execute("SELECT count(*) FROM customers WHERE owner_id=?", (ALICE,)).fetchone()
    assert kept == processed
    assert os.stat(daemon.state_dir / "domain.sqlite").st_mode & 0o777 == 0o600
    assert not list((daemon.state_dir / "spool").iterdir())  # the upload is gone with the job


def test_fairness_one_owners_flood_does_not_starve_another(make_daemon: Any) -> None:
    d = make_daemon(processes=1, threads=4)
    with d.client(ALICE) as a, d.client(BOB) as b:
        flood = a.submit("diag.spin", {"iterations": 20_000}, count=60)["jobIds"]
        single = b.submit("diag.spin", {"iterations": 20_000})["jobId"]
        bob_started = b.wait(single, timeout=120)["startedAt"]
        starts = [a.wait(j, timeout=120)["startedAt"] for j in flood]
    before_bob = sum(1 for s in starts if s < bob_started)
    assert before_bob <= 3, f"{before_bob} of Alice's jobs started before Bob's one"


def test_submit_count_one_still_lists_job_ids(daemon: Daemon) -> None:
    token = daemon.token(ALICE)
    with_count = _json(
        daemon.ctl(
            "--json",
            "submit",
            "diag.spin",
            "--payload",
            '{"iterations": 1}',
            "--count",
            "1",
            token=token,
        )
    )
    without = _json(
        daemon.ctl("--json", "submit", "diag.spin", "--payload", '{"iterations": 1}', token=token)
    )
    assert len(with_count["jobIds"]) == 1 and "jobId" not in with_count
    assert "jobId" in without and "jobIds" not in without
