"""Import from one running LRS into another, interrupted halfway and resumed (issue 13).

    python -m bench.transfer --source http://127.0.0.1:8081 --source-auth K:S \
        --target http://127.0.0.1:8082 --target-auth K:S [--count 5000] [--batch-size 200]

Seeds `count` statements into the source (1 in 100 voids an earlier one), runs `lrs import`'s
engine for half of the batches, then again from the checkpoint to the end, and checks that
the target holds every id once. Prints the statements per second of each run (timings on a
shared machine are noisy).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import client
from lrs.transfer.http import XapiHttp, basic_auth
from lrs.transfer.importer import Target, run_import
from lrs.transfer.progress import ProgressBar
from lrs.transfer.sources import LrsSource

VOIDED = "http://adlnet.gov/expapi/verbs/voided"


def statements(count: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for n in range(count):
        if n % 100 == 99:
            target = out[n - 50]["id"]
            verb = {"id": VOIDED, "display": {"en-US": "voided"}}
            obj: dict[str, Any] = {"objectType": "StatementRef", "id": target}
        else:
            verb = {"id": "http://adlnet.gov/expapi/verbs/completed"}
            obj = {"id": f"https://content.example.org/course/{n % 20}"}
        out.append(
            {
                "id": str(uuid.uuid4()),
                "actor": {"mbox": f"mailto:learner{n % 300}@example.org", "name": f"L {n}"},
                "verb": verb,
                "object": obj,
                "timestamp": f"2026-10-01T08:{n // 60 % 60:02d}:{n % 60:02d}Z",
            }
        )
    return out


async def seed(base: str, auth: tuple[str, str], docs: list[dict[str, Any]]) -> None:
    async with client(base, *auth) as http:
        for start in range(0, len(docs), 250):
            for _ in range(10):  # a fresh LRS may answer 503 until its persister has joined
                answer = await http.post("/xapi/statements", json=docs[start : start + 250])
                if answer.status_code != 503:
                    break
            answer.raise_for_status()


async def held_ids(base: str, auth: tuple[str, str], voided: list[str]) -> list[str]:
    """Every statement id the LRS lists, plus the voided ones it holds among `voided`."""
    ids: list[str] = []
    async with client(base, *auth) as http:
        url = "/xapi/statements?limit=500"
        while url:
            page = (await http.get(url)).json()
            ids += [s["id"] for s in page["statements"]]
            url = page["more"]
        for statement_id in voided:
            answer = await http.get("/xapi/statements", params={"voidedStatementId": statement_id})
            if answer.status_code == 200:
                ids.append(statement_id)
    return ids


def timed_import(source: LrsSource, target: Target, cp: Path, batches: int | None) -> float:
    started = time.monotonic()
    result = run_import(source, target, cp, ProgressBar(sys.stderr), batches)
    seconds = time.monotonic() - started
    print(f"  sent {result.sent_now} in {seconds:.1f} s: {result.sent_now / seconds:.0f}/s")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    for side in ("source", "target"):
        parser.add_argument(f"--{side}", required=True)
        parser.add_argument(f"--{side}-auth", required=True)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=200)
    args = parser.parse_args()
    source_auth = tuple(args.source_auth.split(":", 1))
    target_auth = tuple(args.target_auth.split(":", 1))
    docs = statements(args.count)
    asyncio.run(seed(args.source, source_auth, docs))
    source = LrsSource(f"{args.source}/xapi/", XapiHttp(basic_auth(*source_auth)), args.batch_size)
    target = Target(f"{args.target}/xapi/", XapiHttp(basic_auth(*target_auth)))
    checkpoint = Path(tempfile.mkdtemp()) / "checkpoint"
    half = args.count // args.batch_size // 2
    print(f"first run, stopped after {half} batches:")
    timed_import(source, target, checkpoint, half)
    print("resumed from the checkpoint:")
    timed_import(source, target, checkpoint, None)
    voided = [d["object"]["id"] for d in docs if d["verb"]["id"] == VOIDED]
    ids = asyncio.run(held_ids(args.target, target_auth, voided))
    print(f"target holds {len(ids)} ids, {len(set(ids))} distinct, of {args.count} sent")
    missing = {d["id"] for d in docs} - set(ids)
    print(f"missing: {len(missing)}; foreign: {len(set(ids) - {d['id'] for d in docs})}")


if __name__ == "__main__":
    main()
