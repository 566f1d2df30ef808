"""Unit tests: auth, the state machine, the fair queue, config, errors, i18n, exports."""

from __future__ import annotations

import ast
import os
import time
from pathlib import Path

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ipc
import processors
import worker
from worker import (
    TERMINAL,
    TRANSITIONS,
    InvalidArgument,
    JobState,
    Unauthorized,
    ensure_secret,
    load_settings,
    mint,
    verify,
)
from worker._auth import TokenVerifier
from worker._errors import from_wire
from worker._i18n import LANGS, keys, text
from worker._queue import FairQueue
from worker._states import can_move

SECRET = b"s" * 48
ALICE = "a11ce000-0000-4000-8000-000000000001"
BOSS = "b0550000-0000-4000-8000-000000000009"

# -- auth ---------------------------------------------------------------------------


def test_a_minted_token_verifies() -> None:
    ident, exp = verify(SECRET, mint(SECRET, sub=ALICE, ttl_s=60))
    assert ident.sub == ALICE and ident.role == "user" and ident.data_user_id == ALICE
    assert exp > time.time()


def test_a_worker_acts_for_its_owner() -> None:
    ident, _ = verify(SECRET, mint(SECRET, sub=ALICE, role="worker", owner_id=BOSS))
    assert ident.data_user_id == BOSS


def test_minting_a_worker_token_needs_an_owner() -> None:
    with pytest.raises(InvalidArgument, match="owner"):
        mint(SECRET, sub=ALICE, role="worker")


@pytest.mark.parametrize(
    ("claims", "key", "alg"),
    [
        ({"exp": -10}, SECRET, "HS256"),  # expired
        ({}, b"k" * 40, "HS256"),  # foreign key
        ({"role": "god"}, SECRET, "HS256"),
        ({"sub": "not-a-uuid"}, SECRET, "HS256"),
        ({"role": "worker"}, SECRET, "HS256"),  # no owner_id
        ({"role": "worker", "owner_id": "x"}, SECRET, "HS256"),
        ({}, SECRET, "HS384"),  # algorithm not pinned
    ],
)
def test_bad_claims_are_unauthorized(claims: dict[str, object], key: bytes, alg: str) -> None:
    now = int(time.time())
    base = {"sub": ALICE, "role": "user", "iat": now, "exp": now + 60}
    if claims.get("exp") == -10:
        claims = {"exp": now - 10, "iat": now - 20}
    token = jwt.encode({**base, **claims}, key, algorithm=alg)
    with pytest.raises(Unauthorized):
        verify(SECRET, token)


@pytest.mark.parametrize("missing", ["exp", "iat", "sub", "role"])
def test_required_claims(missing: str) -> None:
    now = int(time.time())
    claims = {"sub": ALICE, "role": "user", "iat": now, "exp": now + 60}
    del claims[missing]
    with pytest.raises(Unauthorized):
        verify(SECRET, jwt.encode(claims, SECRET, algorithm="HS256"))


def test_alg_none_is_refused() -> None:
    token = jwt.encode(
        {"sub": ALICE, "role": "admin", "iat": 1, "exp": 2**40}, None, algorithm="none"
    )
    with pytest.raises(Unauthorized):
        verify(SECRET, token)


def test_the_verifier_cache_still_honours_expiry() -> None:
    now = [1000.0]
    v = TokenVerifier(SECRET, clock=lambda: now[0])
    token = mint(SECRET, sub=ALICE, ttl_s=10**9)
    assert v(token).sub == ALICE
    now[0] = 10.0**10
    with pytest.raises(Unauthorized, match="expired"):
        v(token)


def test_secret_is_created_0600_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "d" / "jwt.secret"
    s1 = ensure_secret(path)
    assert len(s1) >= 32
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert ensure_secret(path) == s1


def test_a_short_or_open_secret_is_refused(tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_bytes(b"too short")
    short.chmod(0o600)
    with pytest.raises(InvalidArgument, match="at least 32"):
        ensure_secret(short)
    open_ = tmp_path / "open"
    open_.write_bytes(b"x" * 64)
    open_.chmod(0o644)
    with pytest.raises(InvalidArgument, match="chmod 600"):
        ensure_secret(open_)


# -- the state machine ------------------------------------------------------------


def test_nothing_leaves_a_terminal_state() -> None:
    for src, _dst in TRANSITIONS:
        assert src not in TERMINAL
    for t in TERMINAL:
        for s in JobState:
            assert not can_move(t, s)


def test_cancelled_is_reached_only_from_queued_or_cancelling() -> None:
    assert {src for (src, dst) in TRANSITIONS if dst is JobState.CANCELLED} == {
        JobState.QUEUED,
        JobState.CANCELLING,
    }


def test_a_cancelling_job_never_goes_back_to_the_queue() -> None:
    assert not can_move(JobState.CANCELLING, JobState.QUEUED)
    assert not can_move(JobState.CANCELLING, JobState.RUNNING)


def test_every_transition_is_explained() -> None:
    assert all(TRANSITIONS.values())


# -- the fair queue ---------------------------------------------------------------


def test_round_robin_across_owners_fifo_within() -> None:
    q: FairQueue[str] = FairQueue()
    for i in range(5):
        q.push("a", f"a{i}")
    q.push("b", "b0")
    q.push("c", "c0")
    q.push("b", "b1")
    order = []
    while (item := q.pop(lambda _i: True)) is not None:
        order.append(item)
    assert order == ["a0", "b0", "c0", "a1", "b1", "a2", "a3", "a4"]


def test_dead_items_are_skipped_and_push_front_goes_first() -> None:
    q: FairQueue[str] = FairQueue()
    for i in range(4):
        q.push("a", f"a{i}")
    q.push_front("a", "again")
    dead = {"a1", "a2"}
    out = [q.pop(lambda i: i not in dead) for _ in range(4)]
    assert out == ["again", "a0", "a3", None]
    assert len(q) == 0


@given(st.lists(st.tuples(st.sampled_from("abcd"), st.integers()), max_size=200))
def test_no_owner_waits_more_than_one_round(items: list[tuple[str, int]]) -> None:
    q: FairQueue[tuple[str, int]] = FairQueue()
    for owner, n in items:
        q.push(owner, (owner, n))
    popped = []
    while (item := q.pop(lambda _i: True)) is not None:
        popped.append(item)
    assert sorted(popped) == sorted(items)
    owners = {o for o, _ in items}
    # In any window of len(owners) pops, every owner with work left appears.
    for start in range(len(popped)):
        left = {o for o, _ in popped[start:]}
        window = {o for o, _ in popped[start : start + len(owners)]}
        assert left <= window or len(window) == len(owners)
    for owner in owners:  # FIFO within an owner
        mine = [n for o, n in popped if o == owner]
        assert mine == [n for o, n in items if o == owner]


# -- config ------------------------------------------------------------------------


def test_environment_wins_over_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('threads = 4\nprocesses = 3\nstate_dir = "/srv/x"\n')
    s = load_settings(cfg, env={"SAZINKA_THREADS": "9"})
    assert (s.threads, s.processes) == (9, 3)
    assert s.socket_path == Path("/srv/x/control.sock")
    assert s.secret_path == Path("/srv/x/jwt.secret")


def test_defaults_follow_the_contract() -> None:
    s = load_settings(None, env={})
    assert s.threads == 32 and s.cpu_slots == 1 and s.diag_jobs is False
    assert s.cancel_grace_s == 30 and s.processes == (os.cpu_count() or 1)
    assert s.state_dir == Path.cwd() / "var"


def test_systemd_state_directory_is_the_default_state_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/sazinka-worker")
    assert load_settings(None, env={}).state_dir == Path("/var/lib/sazinka-worker")


@pytest.mark.parametrize(
    "env",
    [
        {"SAZINKA_THREADS": "0"},
        {"SAZINKA_CPU_SLOTS": "99"},
        {"SAZINKA_NO_SUCH": "1", "SAZINKA_THREADS": "x"},
    ],
)
def test_bad_configuration_is_a_clear_error(env: dict[str, str]) -> None:
    with pytest.raises(InvalidArgument, match="bad configuration"):
        load_settings(None, env=env)


# -- errors and texts -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "exit_code"),
    [
        ("INTERNAL", 1),
        ("INVALID_ARGUMENT", 2),
        ("UNKNOWN_JOB_TYPE", 2),
        ("PAYLOAD_TOO_LARGE", 2),
        ("UNAVAILABLE", 3),
        ("UNAUTHORIZED", 4),
        ("FORBIDDEN", 4),
        ("NOT_FOUND", 5),
    ],
)
def test_wire_codes_map_to_the_contracts_exit_codes(code: str, exit_code: int) -> None:
    err = from_wire({"code": code, "message": "m", "key": "k"})
    assert err.code == code and err.exit_code == exit_code and err.to_wire()["key"] == "k"


def test_every_text_exists_in_every_language() -> None:
    for key in keys():
        texts = [text(key, lang) for lang in LANGS]
        assert all(t and t != key for t in texts), key


def test_packages_export_what_they_declare() -> None:
    for pkg in (ipc, worker, processors):
        for name in pkg.__all__:
            assert hasattr(pkg, name), f"{pkg.__name__}.{name}"
        public = {n for n in vars(pkg) if not n.startswith("_") and n[0].isupper()}
        assert public <= set(pkg.__all__), public - set(pkg.__all__)


def _imported_packages(pkg_dir: Path) -> set[str]:
    found = set()
    for f in pkg_dir.glob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return found


def test_layering() -> None:
    """ipc imports nothing from worker or processors; processors never import worker."""
    assert not _imported_packages(Path(ipc.__file__).parent) & {"worker", "processors"}
    assert "worker" not in _imported_packages(Path(processors.__file__).parent)


def test_the_committed_json_schema_matches_the_models(tmp_path: Path) -> None:
    """schema/ is what clients read: regenerate it with `sazinkactl schema -o schema`."""
    from worker._schema import render, schemas

    committed = Path(__file__).resolve().parent.parent / "schema"
    fresh = {name: render(doc) for name, doc in schemas().items()}
    on_disk = {p.name: p.read_text() for p in committed.glob("*.json")}
    assert sorted(on_disk) == sorted(fresh), "schema/ lists other files than the models"
    stale = [name for name in fresh if on_disk[name] != fresh[name]]
    assert not stale, f"schema/ is stale for {stale}; run sazinkactl schema -o schema"
