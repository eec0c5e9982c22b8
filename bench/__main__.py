"""``python -m bench`` — start the fake OpenAI server and the app (prod mode, 127.0.0.1), run the
scenarios, print their tables, write bench/results/<scenario>-<time>.json, tear everything down.

    python -m bench                              # everything, default sizes (make bench)
    python -m bench --scenario ttft --quick      # one scenario, smaller
    python -m bench --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shlex
import shutil
import sys
import time
import traceback

import httpx

from bench import (
    scenario_bigdata,
    scenario_bytes,
    scenario_concurrency,
    scenario_failover,
    scenario_ttft,
)
from bench.common import Options, Stack
from bench.reflex_client import FrontendBuild, check_names
from bench.report import machine, write_result
from bench.seed import reset_engine, use_app_database
from bench.servers import make_workdir, start_app, start_fake

SCENARIOS = {
    "ttft": scenario_ttft,
    "bytes": scenario_bytes,
    "concurrency": scenario_concurrency,
    "bigdata": scenario_bigdata,
    "failover": scenario_failover,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--scenario",
        action="append",
        choices=[*SCENARIOS, "all"],
        help="which scenario(s) to run (repeatable); default: all",
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller sizes")
    parser.add_argument("--repeat", type=int, help="runs per scenario (default 3, quick 1)")
    parser.add_argument(
        "--database-url", default="", help="PostgreSQL URL; default: SQLite in a temp DATA_DIR"
    )
    parser.add_argument(
        "--levels", default="50,100,200", help="concurrency levels (users streaming at once)"
    )
    parser.add_argument("--ttft-ms", type=float, default=100.0, help="fake server's delay")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the server during the largest level"
    )
    parser.add_argument(
        "--shared-web-dir",
        action="store_true",
        help="build in .web instead of a private copy (faster start; races other app starts)",
    )
    parser.add_argument(
        "--app-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the app, e.g. REFLEX_STATE_MANAGER_MODE=disk (repeatable)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (logs, DB)")
    args = parser.parse_args(argv)
    args.scenario = [s for s in (args.scenario or ["all"])]
    if "all" in args.scenario:
        args.scenario = list(SCENARIOS)
    return args


async def main_async(args: argparse.Namespace, command: str) -> int:
    options = Options(
        quick=args.quick,
        repeat=args.repeat,
        database_url=args.database_url,
        ttft_ms=args.ttft_ms,
        levels=[int(n) for n in args.levels.split(",") if n.strip()],
        profile=args.profile,
        app_env=list(args.app_env),
    )
    problems = check_names()
    if problems:
        print("The client's event/var tables do not match the app:", *problems, sep="\n  ")
        return 2
    workdir = make_workdir()
    print(f"workdir: {workdir}", flush=True)
    fake = app = None
    failures = 0
    try:
        fake = start_fake(workdir)
        started = time.perf_counter()
        app = start_app(
            workdir,
            fake,
            database_url=options.database_url,
            isolate_web_dir=not args.shared_web_dir,
            extra_env=dict(item.split("=", 1) for item in args.app_env),
        )
        print(f"app: {app.base_url} (started in {time.perf_counter() - started:.0f}s)", flush=True)
        # The code the app was built from (others may commit while the benchmark runs).
        app_commit = machine()["git_commit"]
        use_app_database(app.data_dir, options.database_url)
        build = FrontendBuild.read(app.web_dir)
        async with httpx.AsyncClient(
            base_url=app.base_url,
            timeout=120,
            limits=httpx.Limits(max_connections=400, max_keepalive_connections=400),
        ) as http:
            stack = Stack(app, fake, build, workdir, options, http)
            for name in args.scenario:
                print(f"\n=== {name} ===", flush=True)
                began = time.perf_counter()
                try:
                    result = await SCENARIOS[name].run(stack)
                except Exception:
                    failures += 1
                    traceback.print_exc()
                    print(f"scenario {name} failed; app log tail:\n{app.log_tail(30)}")
                    continue
                result["seconds"] = round(time.perf_counter() - began, 1)
                result["options"] = vars(options)
                result["app_git_commit"] = app_commit
                path = write_result(name, result, command)
                print(result["table"])
                print(f"({result['seconds']:.0f}s; results: {path})", flush=True)
        await reset_engine()
    finally:
        if app is not None:
            app.stop()
        if fake is not None:
            fake.stop()
        if args.keep:
            print(f"kept {workdir}")
        else:
            with contextlib.suppress(OSError):
                shutil.rmtree(workdir)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:])
    return asyncio.run(main_async(args, command.strip()))


if __name__ == "__main__":
    raise SystemExit(main())
