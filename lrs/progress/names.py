"""Display names carried by statements, for people reading progress (never for identity).

Statements name their actor (Agent or Group `name`, Data 2.4.2.1/2.4.2.2), their teams
(`context.team`, `context.contextGroups[].group`, both Groups) and their Activities
(`definition.name`, a language map, Data 2.4.4.1 and 4.2). Progress keeps one name per thing:

* a language map gives one entry, by `LANGUAGE_PREFERENCE` (US then generic English, then any
  English, then `und`, then the smallest tag): one text per activity, the same on every
  statement that carries the same map;
* names are cut to `MAX_DISPLAY_CHARS` characters (a display name needs no more, and the
  learner's state keeps one per statement that names something);
* when statements name one thing differently, the latest statement (time, then id) wins for a
  learner; a team or an activity across several learners takes the name most of them use.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

LANGUAGE_PREFERENCE = ("en-US", "en", "en-GB")
MAX_DISPLAY_CHARS = 200


def display_text(language_map: Any) -> str | None:
    """One entry of a language map (Data 4.2), by the module's preference; None if empty."""
    if not isinstance(language_map, Mapping):
        return None
    texts = {tag: text for tag, text in language_map.items() if _text(text)}
    if not texts:
        return None
    for tag in LANGUAGE_PREFERENCE:
        if tag in texts:
            return _cut(texts[tag])
    english = sorted(tag for tag in texts if tag.lower().startswith("en-"))
    chosen = english[0] if english else "und" if "und" in texts else min(texts)
    return _cut(texts[chosen])


def person_name(actor: Any) -> str | None:
    """An Agent's or Group's `name`, if it gives one."""
    if not isinstance(actor, Mapping) or not _text(actor.get("name")):
        return None
    return _cut(str(actor["name"]))


def activity_name(activity: Any) -> str | None:
    """An Activity's `definition.name`, by the language preference."""
    if not isinstance(activity, Mapping):
        return None
    definition = activity.get("definition")
    return display_text(definition.get("name")) if isinstance(definition, Mapping) else None


def most_used(names: Iterable[str | None]) -> str | None:
    """The name given most often; ties go to the smallest (so the result is order-free)."""
    counts = Counter(n for n in names if n)
    if not counts:
        return None
    return min(counts, key=lambda n: (-counts[n], n))


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _cut(text: str) -> str:
    return text.strip()[:MAX_DISPLAY_CHARS]
