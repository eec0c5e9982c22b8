"""core/metrics.py on its own: several worker processes added up, and the settings it needs.

Multiprocess mode is decided by prometheus_client when it is imported, so each "worker" here is
a real subprocess started with PROMETHEUS_MULTIPROC_DIR in its environment, as the launcher
starts them; a third one renders what a scrape reaching any worker would answer.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from chat_app.core import metrics
from chat_app.core.settings import Settings, get_settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]

WORKER = """
import sys
from chat_app.core import metrics
tabs = int(sys.argv[1])
metrics.reply_started()
metrics.reply_started()
metrics.reply_finished("complete", 0.2, 3.0)
metrics.provider_error("timeout")
metrics.set_connected_tabs(tabs)
metrics.count_redis_reconnect()
print("ready", flush=True)
sys.stdin.readline()  # stay alive (a live worker) until the test says
"""

RENDER = """
import sys
from chat_app.core import metrics
if len(sys.argv) > 1:
    metrics.mark_process_dead(int(sys.argv[1]))
sys.stdout.write(metrics.render().decode())
"""


def _env(directory: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.upper() != "PROMETHEUS_MULTIPROC_DIR"}
    return {**env, "PROMETHEUS_MULTIPROC_DIR": str(directory), "PYTHONPATH": str(PROJECT_ROOT)}


def _render(directory: Path, *args: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    done = subprocess.run(
        [sys.executable, "-c", RENDER, *args],
        env=_env(directory),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    values = {}
    for family in text_string_to_metric_families(done.stdout):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def test_two_workers_values_are_added_up(tmp_path: Path) -> None:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tabs)],
            env=_env(directory),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for tabs in (3, 4)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready"
        both = _render(directory)
        assert both[("chat_live_replies", ())] == 2  # one still running in each worker
        assert both[("chat_connected_tabs", ())] == 7
        assert both[("chat_replies_finished_total", (("status", "complete"),))] == 2
        assert both[("chat_provider_errors_total", (("kind", "timeout"),))] == 2
        assert both[("chat_redis_reconnects_total", ())] == 2
        assert both[("chat_reply_time_to_first_token_seconds_count", ())] == 2
        assert both[("chat_reply_duration_seconds_sum", ())] == pytest.approx(6.0)
        assert both[("chat_reply_duration_seconds_bucket", (("le", "5.0"),))] == 2

        first = workers[0]
        assert first.stdin is not None
        first.stdin.write("\n")
        first.stdin.close()
        assert first.wait(timeout=30) == 0
        # What the launcher does when a worker exits: its live gauges stop counting, the
        # counters it added keep their totals (a counter never goes down).
        after = _render(directory, str(first.pid))
        assert after[("chat_live_replies", ())] == 1
        assert after[("chat_connected_tabs", ())] == 4
        assert after[("chat_replies_finished_total", (("status", "complete"),))] == 2
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait(timeout=30)
            for stream in (worker.stdin, worker.stdout):
                if stream is not None and not stream.closed:
                    stream.close()


def test_one_process_renders_its_own_registry() -> None:
    before = _value("chat_provider_errors_total", kind="stream_cut")
    metrics.provider_error("stream_cut")
    assert _value("chat_provider_errors_total", kind="stream_cut") == before + 1
    text = metrics.render().decode()
    assert "# TYPE chat_reply_duration_seconds histogram" in text
    assert "python_gc" not in text and "process_" not in text  # only this app's metrics


def test_a_multiproc_dir_only_in_dotenv_is_refused_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settings see the folder, but prometheus_client was imported without the variable."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    get_settings.cache_clear()
    with pytest.raises(RuntimeError, match="in the environment of every worker"):
        metrics.render()


def test_a_missing_multiproc_dir_is_a_clear_settings_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"is not a directory\. Create it"):
        Settings(prometheus_multiproc_dir=str(tmp_path / "nowhere"))
    assert Settings(prometheus_multiproc_dir="").prometheus_multiproc_dir is None


def test_a_short_metrics_token_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(metrics_token="short-secret")
    assert "METRICS_TOKEN is shorter than 16" in str(caught.value)
    assert "short-secret" not in str(caught.value)


def test_no_refused_setting_echoes_the_other_secrets() -> None:
    """A cross-field check (the production SECRET_KEY rule) sees the whole input: the error
    must not print it, API key included."""
    with pytest.raises(ValidationError) as caught:
        Settings(app_env="production", secret_key="short", openai_api_key="sk-do-not-print")
    assert "SECRET_KEY is a placeholder" in str(caught.value)
    assert "sk-do-not-print" not in str(caught.value) and "short'" not in str(caught.value)
    assert Settings(metrics_token="").metrics_token == ""


def _value(name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0
