"""The list a scan reads (one `org/name[@revision]` per line), and what an earlier JSONL output holds."""

from __future__ import annotations

import json
from collections.abc import Iterable


def read_model_list(text: str) -> list[tuple[str, str | None]]:
    """`org/name` or `org/name@revision` per line; blank lines and `#` comments are skipped.

    Ids are not validated here: a bad one becomes an error row when it is scanned. A model listed
    twice (same revision) is scanned once.
    """
    models: list[tuple[str, str | None]] = []
    seen: set[tuple[str, str | None]] = set()
    for line in text.splitlines():
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        model, at, revision = entry.partition("@")
        item = (model.strip(), revision.strip() or None) if at else (entry, None)
        if item not in seen:
            seen.add(item)
            models.append(item)
    return models


def read_done(lines: Iterable[str]) -> tuple[list[str], set[tuple[str, str | None]]]:
    """The lines of an earlier JSONL output worth keeping, and the models they answered.

    Rows that succeeded are kept and their models skipped; error rows are dropped so that the
    model is tried again, and so is a line cut short (a scan killed mid-write).
    """
    kept: list[str] = []
    done: set[tuple[str, str | None]] = set()
    for line in lines:
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if not isinstance(data, dict) or not isinstance(data.get("model"), str) or data.get("error"):
            continue
        revision = data.get("revision")
        kept.append(line.rstrip("\n"))
        done.add((data["model"], revision if isinstance(revision, str) else None))
    return kept, done
