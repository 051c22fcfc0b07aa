"""Look a caller's number up through the REST API with a Bearer token, and print the JSON
answer's essentials: the score and its band, the caller's name, what it cost.

    SIPSTACK_API=https://portal.example.com/api SIPSTACK_KEY=ssk_live_… SIPSTACK_SECRET=… \
        python examples/lookup.py +14169671111 [--type cnam]

Needs ``httpx``. Exits 1 with the problem's detail when the API refuses (a wrong token, a
number that is none, funds that cannot cover the lookup, a rate limit: its Retry-After).
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid

import httpx

TYPES = ("cnam", "risk", "regional", "telco", "profile")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("number", help="the caller's number, +14169671111 or as dialled")
    parser.add_argument("destination", nargs="?", default="", help="the called number (risk)")
    parser.add_argument("--type", choices=TYPES, default="cnam")
    args = parser.parse_args(argv)
    api = os.environ["SIPSTACK_API"].rstrip("/")
    token = f"{os.environ['SIPSTACK_KEY']}.{os.environ['SIPSTACK_SECRET']}"
    path = "/".join(part for part in (args.number, args.destination) if part)
    response = httpx.get(
        f"{api}/v1/smart-cnam/{path}",
        params={"type": args.type},
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            # A retry with the same key is answered again and never charged twice.
            "Idempotency-Key": str(uuid.uuid4()),
        },
        timeout=10,
    )
    if response.status_code != 200:
        problem = response.json()
        retry = response.headers.get("Retry-After")
        later = f" (retry after {retry} s)" if retry else ""
        print(
            f"{response.status_code} {problem['title']}: {problem['detail']}{later}",
            file=sys.stderr,
        )
        return 1
    answer = response.json()
    print(f"{answer['source']['shown']}: {answer['score']} {answer['band']}")
    print(f"Caller name: {answer['caller_name'] or '(none)'}")
    print(f"Text answer: {answer['text']}")
    cost = answer["cost_micros"] / 1_000_000
    print(f"Cost: {cost:.4f} {answer['currency']}{' (test token)' if answer['test'] else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
