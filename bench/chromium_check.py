"""Check the load client against a real browser: the same reply, counted both ways.

    python -m bench.chromium_check [--reply-tokens 500]

Starts the stack, then for one 500-token reply measures what real Chromium receives (TCP
payload bytes from the kernel's counters, ``ss -ti``, and uncompressed websocket payload from
the DevTools protocol) and what ``bench.reflex_client`` receives for the same reply. Needs
Playwright for Python and Debian's chromium (no browser download).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import time

import httpx

from bench.common import Options, Stack, expected_reply, send_and_follow
from bench.reflex_client import FrontendBuild
from bench.seed import reset_engine, use_app_database
from bench.servers import make_workdir, start_app, start_fake
from bench.users import create_conversation, create_users

CHROMIUM = "/usr/lib/chromium/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
]


def tcp_bytes_received(port: int) -> dict[str, int]:
    """Bytes received so far by each established client socket to ``port``, by local address."""
    out = subprocess.run(
        ["ss", "-tinH", "state", "established", f"( dport = :{port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    sockets: dict[str, int] = {}
    local = ""
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 4 and ":" in fields[2] and not line.startswith(("\t", " ")):
            local = fields[2]
        received = re.search(r"bytes_received:(\d+)", line)
        if received and local:
            sockets[local] = int(received.group(1))
    return sockets


def received_since(port: int, before: dict[str, int]) -> int:
    """Bytes received since ``before`` on sockets still open (closed ones drop out of ss)."""
    return sum(n - before.get(local, 0) for local, n in tcp_bytes_received(port).items())


async def chromium_reply(stack: Stack, user, cid: str, tokens: int) -> dict:
    from playwright.async_api import async_playwright

    port = int(stack.app.base_url.rsplit(":", 1)[1])
    cookie_value = user.cookie.split("=", 1)[1]
    frames: list[tuple[float, int]] = []
    extensions: list[str] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context()
        await context.add_cookies(
            [{"name": "chat_session", "value": cookie_value, "url": stack.app.base_url}]
        )
        page = await context.new_page()
        cdp = await context.new_cdp_session(page)
        await cdp.send("Network.enable")
        cdp.on(
            "Network.webSocketFrameReceived",
            lambda e: frames.append(
                (time.perf_counter(), len(e["response"]["payloadData"].encode()))
            ),
        )
        cdp.on(
            "Network.webSocketHandshakeResponseReceived",
            lambda e: extensions.append(
                e["response"]["headers"].get("Sec-WebSocket-Extensions", "")
            ),
        )
        await page.goto(f"{stack.app.base_url}/c/{cid}")
        await page.wait_for_selector("textarea[name=message]", timeout=60_000)
        await page.wait_for_timeout(1000)
        before_tcp = tcp_bytes_received(port)
        before_frames = len(frames)
        await page.fill("textarea[name=message]", "Count my bytes, please.")
        await page.keyboard.press("Enter")
        last = f"tok{tokens - 1}"
        await page.wait_for_function(
            f"document.body.innerText.includes({last!r})", timeout=tokens * 1000
        )
        # Quiet: the commit and sidebar deltas follow the last token.
        for _ in range(50):
            count = len(frames)
            await page.wait_for_timeout(300)
            if len(frames) == count:
                break
        tcp = received_since(port, before_tcp)
        payload = sum(size for _, size in frames[before_frames:])
        await browser.close()
    return {
        "tcp_bytes": tcp,
        "payload_bytes": payload,
        "frames": len(frames) - before_frames,
        "extension": extensions[-1] if extensions else "",
    }


async def main_async(tokens: int) -> None:
    workdir = make_workdir()
    fake = app = None
    try:
        fake = start_fake(workdir)
        app = start_app(workdir, fake)
        use_app_database(app.data_dir, "")
        fake.configure(ttft_ms=100, tokens_per_second=50, reply_tokens=tokens)
        async with httpx.AsyncClient(base_url=app.base_url, timeout=60) as http:
            stack = Stack(app, fake, FrontendBuild.read(app.web_dir), workdir, Options(), http)
            browser_user, client_user = await create_users(app.base_url, 2, "chromium")
            browser_cid = await create_conversation(http, browser_user, "Chromium check")
            client_cid = await create_conversation(http, client_user, "Client check")
            browser = await chromium_reply(stack, browser_user, browser_cid, tokens)
            tab = stack.tab(client_user)
            await tab.open(f"/c/{client_cid}", {"conversation_id": client_cid})
            assert tab.ws is not None
            extension = tab.ws.response_headers.get("sec-websocket-extensions", "")
            trace = await send_and_follow(tab, "Count my bytes, please.", tokens + 60, quiet=1.5)
            await tab.close()
        reply = len(expected_reply(tokens).encode())
        print(f"reply text: {reply:,} B ({tokens} tokens)")
        print(f"{'':22}{'TCP/wire B':>12}{'uncompressed B':>16}{'frames':>8}  extension")
        print(
            f"{'Chromium':22}{browser['tcp_bytes']:>12,}{browser['payload_bytes']:>16,}"
            f"{browser['frames']:>8}  {browser['extension']}"
        )
        print(
            f"{'bench.reflex_client':22}{trace.wire_in:>12,}{trace.payload_in:>16,}"
            f"{len([u for u in tab.updates if u.t >= trace.sent]):>8}  {extension}"
        )
        await reset_engine()
    finally:
        if app is not None:
            app.stop()
        if fake is not None:
            fake.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chromium_check", description=__doc__)
    parser.add_argument("--reply-tokens", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(main_async(args.reply_tokens))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
