"""``sazinka-worker``: ``serve`` and ``token``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._auth import ROLES, ensure_secret, mint
from ._config import load_settings
from ._errors import WorkerError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sazinka-worker", description="sazinka-worker supervisor")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the supervisor and its workers in the foreground")
    s.add_argument("--config", type=Path, help="TOML configuration file")
    t = sub.add_parser("token", help="print a JWT signed with the configured secret")
    t.add_argument("--config", type=Path, help="TOML configuration file")
    t.add_argument("--sub", required=True, help="user id (UUID)")
    t.add_argument("--role", choices=ROLES, default="user")
    t.add_argument("--owner", help="employer's user id (UUID); required for role worker")
    t.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
        if args.command == "serve":
            from ._daemon import serve

            return serve(settings)
        settings.state_dir.mkdir(mode=0o750, parents=True, exist_ok=True)
        secret = ensure_secret(settings.secret_path)
        print(mint(secret, sub=args.sub, role=args.role, owner_id=args.owner, ttl_s=args.ttl))
        return 0
    except WorkerError as exc:
        print(f"sazinka-worker: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
