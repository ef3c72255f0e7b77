"""`lrs dlq list` and `lrs dlq replay`: the dead letters of every consumer, on
LRS_KAFKA_BOOTSTRAP with LRS_TOPIC_PREFIX (docs/decisions/0008).

A replay sends each selected dead letter back to its original topic and partition for the
consumer that failed on it; run it once the cause is fixed. A record that fails again is
dead-lettered again.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from lrs import topics
from lrs.adapters.kafka_dead_letters import KafkaDeadLetters
from lrs.ports.dead_letters import DeadLetter, Selection
from lrs.settings import LrsSettings
from lrs.wiring.doorbell import ringer
from lrs.xapi.errors import XapiError

COMMANDS = ("dlq",)


def add_parsers(sub: Any) -> None:
    dlq = sub.add_parser("dlq", help="dead letters: list them, replay them after a fix")
    d_sub = dlq.add_subparsers(dest="action", required=True)
    _selectors(d_sub.add_parser("list", help="list dead letters (oldest first)"))
    replay = d_sub.add_parser("replay", help="send dead letters back to the consumer that failed")
    _selectors(replay)
    replay.add_argument("--offset", type=int, action="append", help="this dead letter's offset")
    replay.add_argument("--all", action="store_true", help="replay every selected dead letter")


def _selectors(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--topic", choices=topics.CONSUMED, help="of this consumed topic")
    parser.add_argument("--consumer", help="of this consumer (persist, progress, ...)")
    parser.add_argument("--error-class", help="with this error class")


def run(args: argparse.Namespace, settings: LrsSettings) -> int:
    if not settings.kafka_bootstrap:
        print(
            "LRS_KAFKA_BOOTSTRAP is not set (under `lrs serve`'s embedded broker, use the admin"
            " API instead: GET /admin/dead-letters, POST /admin/dead-letters/replay)",
            file=sys.stderr,
        )
        return 2
    offsets = getattr(args, "offset", None)
    if args.action == "replay" and not (offsets or args.all):
        print("name the dead letters to replay (--offset N) or pass --all", file=sys.stderr)
        return 2
    if offsets and not args.topic:
        print("--offset needs --topic (offsets are per dead-letter topic)", file=sys.stderr)
        return 2
    selection = Selection(
        topic=args.topic,
        consumer=args.consumer,
        error_class=args.error_class,
        offsets=frozenset(offsets) if offsets else None,
    )
    letters = KafkaDeadLetters(
        settings.kafka_bootstrap,
        settings.topic_prefix,
        on_published=ringer(settings),
    )
    action = _list if args.action == "list" else _replay
    try:
        asyncio.run(action(letters, selection))
    except XapiError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 0


def describe(letter: DeadLetter) -> str:
    """One line: where, when, which consumer, which error, from where, and the message."""
    origin = f"{letter.original_topic}/{letter.original_partition}/{letter.original_offset}"
    message = (letter.error_message or "").replace("\n", " ")[:300]
    fields = [
        letter.reference,
        letter.time.isoformat(),
        letter.consumer or "-",
        letter.error_class or "-",
        origin,
        message,
    ]
    return "\t".join(fields)


async def _list(letters: KafkaDeadLetters, selection: Selection) -> None:
    for letter in await letters.all(selection):
        print(describe(letter))


async def _replay(letters: KafkaDeadLetters, selection: Selection) -> None:
    chosen = await letters.all(selection)
    for letter in chosen:
        state = "replayed" if letter.replayable else "NOT replayable (value omitted)"
        print(f"{state}\t{describe(letter)}")
    count = await letters.replay(chosen)
    print(f"{count} dead letter(s) replayed", file=sys.stderr)
