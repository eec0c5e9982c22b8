"""``python -m bench.idle_memory`` — the server's idle memory: RSS summed over its whole process
tree (psutil), after the start and one page load (the HTML, then a tab's websocket hydrating
it), once the tree has been idle for a few seconds. The issue's target: ≤ 300 MiB.

    python -m bench.idle_memory              # WORKERS=1, SQLite
    WORKERS=2 REDIS_URL=redis://127.0.0.1:6379/0 python -m bench.idle_memory
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from pathlib import Path

import httpx
import psutil

from bench.reflex_client import FrontendBuild, ReflexTab
from bench.servers import make_workdir, start_app, start_fake
from bench.users import create_user

MIB = 2**20


async def one_page_load(base_url: str, web_dir: Path) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        user = await create_user(client, f"idle-{int(time.time())}@example.com")
        page = await client.get("/", headers={"cookie": user.cookie})
        page.raise_for_status()
    tab = ReflexTab(base_url, FrontendBuild.read(web_dir), cookie=user.cookie)
    await tab.open("/")
    await tab.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.idle_memory", description=__doc__)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    args = parser.parse_args()
    workdir = make_workdir()
    fake = start_fake(workdir)
    app = None
    try:
        app = start_app(workdir, fake, isolate_web_dir=False)
        asyncio.run(one_page_load(app.base_url, app.web_dir))
        time.sleep(args.idle_seconds)
        rows = []
        for proc in app.processes():
            with contextlib.suppress(psutil.Error):
                command = " ".join(proc.cmdline())[:110]
                rows.append((proc.pid, proc.memory_info().rss, command))
        total = sum(rss for _, rss, _ in rows)
        for pid, rss, command in rows:
            print(f"{pid:>8} {rss / MIB:7.1f} MiB  {command}")
        print(f"tree: {len(rows)} process(es), {total / MIB:.1f} MiB RSS")
        with open("/proc/loadavg") as fh:
            print(f"loadavg: {fh.read().strip()}")
    finally:
        if app is not None:
            app.stop()
        fake.stop()


if __name__ == "__main__":
    main()
