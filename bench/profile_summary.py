"""Summarise py-spy's collapsed stacks (``--format raw``): where the worker's CPU went.

python -m bench.profile_summary /tmp/chat-bench-…/profile-concurrency.txt
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

# Buckets by the file a frame comes from, first match wins (innermost frame decides "self").
BUCKETS = [
    (
        "Reflex disk state manager (states dir scan, pickles)",
        re.compile(r"istate/manager/disk\.py"),
    ),
    (
        "json / delta serialisation",
        re.compile(r"json/|encoder\.py|orjson|_dumps|format_state|serialize"),
    ),
    ("websocket + compression (wsproto/zlib)", re.compile(r"wsproto|permessage|zlib|deflate")),
    ("socket.io / engine.io", re.compile(r"socketio/|engineio/")),
    (
        "Reflex state machinery",
        re.compile(r"reflex/state\.py|reflex/istate|reflex_base/|reflex/app\.py|reflex/utils"),
    ),
    (
        "database (SQLAlchemy, aiosqlite, psycopg)",
        re.compile(r"sqlalchemy|aiosqlite|sqlite3|psycopg"),
    ),
    ("pickle (state manager)", re.compile(r"pickle|dill")),
    ("OpenAI SDK / httpx / pydantic", re.compile(r"openai/|httpx|httpcore|pydantic")),
    ("app code (chat_app)", re.compile(r"chat_app/")),
    ("asyncio / uvicorn", re.compile(r"asyncio/|uvicorn|h11|starlette")),
]


DISK = BUCKETS[0][1]


def load(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def bucket(frame: str) -> str:
    for name, pattern in BUCKETS:
        if pattern.search(frame):
            return name
    return "other"


def summarise(path: Path, top: int = 20) -> dict:
    stacks = load(path)
    total = sum(c for _, c in stacks) or 1
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    buckets: Counter[str] = Counter()
    for frames, count in stacks:
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        own[frames[-1]] += count
        # The innermost frame from a known library names the cost (stdlib frames such as
        # pathlib or typing are charged to their caller).
        # The disk state manager's scan runs through reflex/utils/path_ops and pathlib: any
        # sample under it is charged to it.
        if any(DISK.search(f) for f in frames):
            buckets[BUCKETS[0][0]] += count
        else:
            names = (b for b in map(bucket, reversed(frames)) if b != "other")
            buckets[next(names, "other")] += count
        for frame in set(frames):
            inclusive[frame] += count
    return {
        "samples": total,
        "buckets_percent": {k: round(100 * v / total, 1) for k, v in buckets.most_common()},
        "top_self_percent": {k: round(100 * v / total, 1) for k, v in own.most_common(top)},
        "top_inclusive_percent": {
            k: round(100 * v / total, 1)
            for k, v in inclusive.most_common(top * 3)
            if "chat_app/" in k or "reflex" in k
        },
    }


def main(argv: list[str]) -> int:
    result = summarise(Path(argv[0]))
    print(f"{result['samples']} samples")
    for title in ("buckets_percent", "top_self_percent", "top_inclusive_percent"):
        print(f"\n{title}:")
        for name, pct in result[title].items():
            print(f"  {pct:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
