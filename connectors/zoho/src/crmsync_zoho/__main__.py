"""``python -m crmsync_zoho exchange``: turn a self client's grant code into the refresh
token crmsync keeps.

Reads ``CRMSYNC_ZOHO_CLIENT_ID``, ``CRMSYNC_ZOHO_CLIENT_SECRET`` (or ``..._FILE``) and
``CRMSYNC_ZOHO_DATA_CENTRE`` / ``CRMSYNC_ZOHO_ACCOUNTS_URL`` from the environment and the
grant code from standard input (so it stays out of shell history), then writes the
refresh token to ``--out`` (owner-only) or prints it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from crmsync.authoring import write_secret_file
from crmsync.errors import CrmsyncError
from crmsync_zoho._auth import exchange_grant_code
from crmsync_zoho._settings import DATA_CENTRES

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crmsync_zoho")
    commands = parser.add_subparsers(dest="command", required=True)
    exchange = commands.add_parser("exchange", help="exchange a grant code for a refresh token")
    exchange.add_argument("--out", type=Path, help="file to write the refresh token to (0600)")
    args = parser.parse_args(argv)
    client_id = os.environ.get("CRMSYNC_ZOHO_CLIENT_ID", "")
    secret = os.environ.get("CRMSYNC_ZOHO_CLIENT_SECRET", "")
    secret_file = os.environ.get("CRMSYNC_ZOHO_CLIENT_SECRET_FILE")
    if not secret and secret_file:
        secret = Path(secret_file).read_text().strip()
    centre = os.environ.get("CRMSYNC_ZOHO_DATA_CENTRE", "us").lower()
    if centre not in DATA_CENTRES:
        print(f"CRMSYNC_ZOHO_DATA_CENTRE: {centre!r} is not one of "
              f"{', '.join(DATA_CENTRES)}", file=sys.stderr)
        return 2
    accounts = os.environ.get("CRMSYNC_ZOHO_ACCOUNTS_URL") or DATA_CENTRES[centre][0]
    if not client_id or not secret:
        print("set CRMSYNC_ZOHO_CLIENT_ID and CRMSYNC_ZOHO_CLIENT_SECRET (or _FILE) first",
              file=sys.stderr)
        return 2
    print("paste the grant code from the API console, then Enter:", file=sys.stderr)
    code = sys.stdin.readline().strip()
    if not code:
        print("no grant code given", file=sys.stderr)
        return 2
    try:
        refresh = exchange_grant_code(accounts, client_id, secret, code)
    except CrmsyncError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.out is not None:
        write_secret_file(args.out, refresh)
        print(f"refresh token written to {args.out}; set CRMSYNC_ZOHO_REFRESH_TOKEN_FILE="
              f"{args.out}", file=sys.stderr)
    else:
        print(refresh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
