"""The OpenAI adapter against a real HTTP server through the real SDK: success and every fault."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from chat_app.core.settings import Settings
from chat_app.providers import (
    ChatTurn,
    DemoProvider,
    OpenAIProvider,
    ProviderError,
    StreamEnd,
    TextDelta,
    get_provider,
    reset_provider_cache,
)
from chat_app.providers.openai_errors import retry_after_seconds
from chat_app.providers.openai_provider import MAX_MALFORMED_CHUNKS
from tests.support.fake_openai import MALFORMED_EVENTS, FakeOpenAI

from .conftest import ProviderFactory

HELLO = [ChatTurn("system", "Be brief."), ChatTurn("user", "Hello there")]


async def collect(
    provider: OpenAIProvider, max_tokens: int = 100
) -> tuple[list[TextDelta], StreamEnd]:
    events = [
        e
        async for e in provider.stream_chat(
            model="fake-small", messages=HELLO, max_tokens=max_tokens
        )
    ]
    *deltas, end = events
    assert isinstance(end, StreamEnd)
    assert all(isinstance(d, TextDelta) for d in deltas)
    return deltas, end  # type: ignore[return-value]


async def stream_until_error(provider: OpenAIProvider) -> tuple[list[TextDelta], ProviderError]:
    deltas: list[TextDelta] = []
    with pytest.raises(ProviderError) as caught:
        async for event in provider.stream_chat(model="fake-small", messages=HELLO, max_tokens=100):
            assert isinstance(event, TextDelta), "no StreamEnd after a failure"
            deltas.append(event)
    return deltas, caught.value


# ---- success --------------------------------------------------------------------------------


async def test_stream_concatenates_deltas_and_reads_usage(
    fake: FakeOpenAI, make_provider: ProviderFactory
) -> None:
    fake.configure(reply_tokens=5)
    deltas, end = await collect(make_provider())

    assert "".join(d.text for d in deltas) == "tok0 tok1 tok2 tok3 tok4 "
    assert len(deltas) == 5
    assert end.finish_reason == "stop"
    assert end.completion_tokens == 5
    assert end.prompt_tokens is not None and end.prompt_tokens > 0


async def test_stream_request_shape(fake: FakeOpenAI, make_provider: ProviderFactory) -> None:
    await collect(make_provider(), max_tokens=42)

    (body,) = fake.requests
    assert body["model"] == "fake-small"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello there"},
    ]
    # A non-OpenAI base URL gets the classic name local servers understand.
    assert body["max_tokens"] == 42
    assert "max_completion_tokens" not in body


async def test_max_completion_tokens_can_be_chosen(
    fake: FakeOpenAI, make_provider: ProviderFactory
) -> None:
    await collect(make_provider(max_tokens_param="max_completion_tokens"), max_tokens=7)

    (body,) = fake.requests
    assert body["max_completion_tokens"] == 7
    assert "max_tokens" not in body


async def test_explicit_reply_text_round_trips(
    fake: FakeOpenAI, make_provider: ProviderFactory
) -> None:
    text = "Hello, **world**! ünïcode ✓ and `code`."
    fake.configure(reply_text=text)
    deltas, end = await collect(make_provider())

    assert "".join(d.text for d in deltas) == text
    assert len(deltas) > 3
    assert end.finish_reason == "stop"


async def test_max_tokens_stops_with_length(
    fake: FakeOpenAI, make_provider: ProviderFactory
) -> None:
    fake.configure(reply_tokens=10)
    deltas, end = await collect(make_provider(), max_tokens=3)

    assert "".join(d.text for d in deltas) == "tok0 tok1 tok2 "
    assert end.finish_reason == "length"
    assert end.completion_tokens == 3


async def test_time_to_first_token_is_waited_for(
    fake: FakeOpenAI, make_provider: ProviderFactory
) -> None:
    fake.configure(ttft_ms=200, reply_tokens=2)
    provider = make_provider()
    started = time.monotonic()
    async for event in provider.stream_chat(model="fake-small", messages=HELLO, max_tokens=10):
        assert isinstance(event, TextDelta)
        assert time.monotonic() - started >= 0.18
        break


async def test_consumer_can_stop_early(fake: FakeOpenAI, make_provider: ProviderFactory) -> None:
    """Closing the generator closes the HTTP response; the provider stays usable."""
    fake.configure(reply_tokens=10_000, tokens_per_second=200)
    provider = make_provider()
    stream = provider.stream_chat(model="fake-small", messages=HELLO, max_tokens=20_000)
    received = [await anext(stream), await anext(stream)]
    await asyncio.wait_for(stream.aclose(), timeout=2)
    assert all(isinstance(e, TextDelta) for e in received)

    fake.configure(reply_tokens=2, tokens_per_second=None)
    _, end = await asyncio.wait_for(collect(provider), timeout=5)
    assert end.finish_reason == "stop"


async def test_complete_returns_the_text(fake: FakeOpenAI, make_provider: ProviderFactory) -> None:
    fake.configure(reply_text="  A short title  ")
    title = await make_provider().complete(model="fake-small", messages=HELLO, max_tokens=20)

    assert title == "A short title"
    (body,) = fake.requests
    assert not body.get("stream")
    assert body["max_tokens"] == 20


# ---- models ---------------------------------------------------------------------------------


async def test_list_models_from_server_default_first(
    fake: FakeOpenAI, make_provider: ProviderFactory
) -> None:
    fake.configure(models=["zeta", "fake-small", "alpha", "text-embedding-3-small"])
    models = await make_provider(default_model="fake-small").list_models()

    assert [m.id for m in models] == ["fake-small", "alpha", "zeta"]
    assert not any(m.is_demo for m in models)


async def test_list_models_falls_back_when_unreachable(
    make_provider: ProviderFactory, unreachable_base_url: str
) -> None:
    provider = make_provider(
        base_url=unreachable_base_url, fallback_models=["m-b", "m-a"], default_model="m-b"
    )
    models = await asyncio.wait_for(provider.list_models(), timeout=5)

    assert [m.id for m in models] == ["m-b", "m-a"]


# ---- faults ---------------------------------------------------------------------------------


async def test_401_is_auth_without_retry(fake: FakeOpenAI, make_provider: ProviderFactory) -> None:
    fake.configure(fault="401")
    deltas, error = await stream_until_error(make_provider())

    assert error.kind == "auth"
    assert "API key" in error.user_message
    assert "sk-" not in error.user_message  # OpenAI's body echoes part of the key
    assert deltas == []
    assert len(fake.requests) == 1


async def test_429_reports_retry_after_too_long_to_wait(
    fake: FakeOpenAI, make_provider: ProviderFactory
) -> None:
    fake.configure(fault="429", retry_after=7)
    started = time.monotonic()
    _, error = await stream_until_error(make_provider(max_retry_wait=1.0))

    assert error.kind == "rate_limited"
    assert error.retry_after == 7
    assert "7 seconds" in error.user_message
    assert len(fake.requests) == 1  # a wait beyond the cap is reported, not slept through
    assert time.monotonic() - started < 2


async def test_429_honours_short_retry_after_then_succeeds(
    fake: FakeOpenAI, make_provider: ProviderFactory
) -> None:
    fake.configure(fault="429", retry_after=0.2, fault_times=1, reply_tokens=3)
    started = time.monotonic()
    deltas, end = await collect(make_provider())

    assert time.monotonic() - started >= 0.18
    assert len(deltas) == 3 and end.finish_reason == "stop"
    assert len(fake.requests) == 2


async def test_persistent_429_gives_up_after_retries(
    fake: FakeOpenAI, make_provider: ProviderFactory
) -> None:
    fake.configure(fault="429", retry_after=0.01)
    _, error = await stream_until_error(make_provider(max_retries=2))

    assert error.kind == "rate_limited"
    assert len(fake.requests) == 3


async def test_500_once_is_retried_and_succeeds(
    fake: FakeOpenAI, make_provider: ProviderFactory
) -> None:
    fake.configure(fault="500", fault_times=1, reply_tokens=4)
    deltas, end = await collect(make_provider())

    assert "".join(d.text for d in deltas) == "tok0 tok1 tok2 tok3 "
    assert end.finish_reason == "stop"
    assert len(fake.requests) == 2


async def test_persistent_500_is_server_error_after_retries(
    fake: FakeOpenAI, make_provider: ProviderFactory
) -> None:
    fake.configure(fault="500")
    _, error = await stream_until_error(make_provider(max_retries=2))

    assert error.kind == "server"
    assert len(fake.requests) == 3


async def test_no_retries_when_configured_off(
    fake: FakeOpenAI, make_provider: ProviderFactory
) -> None:
    fake.configure(fault="500", fault_times=1)
    _, error = await stream_until_error(make_provider(max_retries=0))

    assert error.kind == "server"
    assert len(fake.requests) == 1


async def test_unreachable_port(make_provider: ProviderFactory, unreachable_base_url: str) -> None:
    provider = make_provider(base_url=unreachable_base_url, max_retries=1)
    _, error = await asyncio.wait_for(stream_until_error(provider), timeout=5)

    assert error.kind == "unreachable"
    assert "OPENAI_BASE_URL" in error.user_message


async def test_hang_times_out_without_retry(
    fake: FakeOpenAI, make_provider: ProviderFactory
) -> None:
    fake.configure(fault="hang")
    started = time.monotonic()
    _, error = await stream_until_error(make_provider(timeout_seconds=0.3))

    assert error.kind == "timeout"
    assert time.monotonic() - started < 2
    assert len(fake.requests) == 1  # waiting the full timeout again would only double it


async def test_drop_mid_stream_keeps_partial_and_is_stream_cut(
    fake: FakeOpenAI, make_provider: ProviderFactory
) -> None:
    fake.configure(fault="drop", reply_tokens=10, drop_after_tokens=3)
    deltas, error = await stream_until_error(make_provider())

    assert "".join(d.text for d in deltas) == "tok0 tok1 tok2 "
    assert error.kind == "stream_cut"
    assert len(fake.requests) == 1  # never retried once text was shown


async def test_drop_before_first_token_is_retried(
    fake: FakeOpenAI, make_provider: ProviderFactory
) -> None:
    fake.configure(fault="drop", drop_after_tokens=0, fault_times=1, reply_tokens=3)
    deltas, end = await collect(make_provider())

    assert "".join(d.text for d in deltas) == "tok0 tok1 tok2 "
    assert end.finish_reason == "stop"
    assert len(fake.requests) == 2


async def test_stall_mid_stream_is_stream_cut(
    fake: FakeOpenAI, make_provider: ProviderFactory
) -> None:
    """A read timeout after some text: same outcome for the user as a dropped connection."""
    fake.configure(reply_tokens=5, tokens_per_second=2)
    deltas, error = await stream_until_error(make_provider(timeout_seconds=0.2))

    assert len(deltas) >= 1
    assert error.kind == "stream_cut"


async def test_context_too_long(fake: FakeOpenAI, make_provider: ProviderFactory) -> None:
    fake.configure(fault="context_too_long")
    _, error = await stream_until_error(make_provider())

    assert error.kind == "context_too_long"
    assert "too long" in error.user_message
    assert len(fake.requests) == 1


async def test_complete_maps_errors_and_retries(
    fake: FakeOpenAI, make_provider: ProviderFactory
) -> None:
    provider = make_provider()
    fake.configure(fault="401")
    with pytest.raises(ProviderError) as caught:
        await provider.complete(model="fake-small", messages=HELLO, max_tokens=10)
    assert caught.value.kind == "auth"

    fake.reset()
    fake.configure(fault="500", fault_times=1, reply_text="Title")
    assert await provider.complete(model="fake-small", messages=HELLO, max_tokens=10) == "Title"
    assert len(fake.requests) == 2


# ---- pieces ---------------------------------------------------------------------------------


def test_retry_after_header_forms() -> None:
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_seconds({}) is None
    assert retry_after_seconds({"retry-after": "soon"}) is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    parsed = retry_after_seconds({"retry-after": later})
    assert parsed is not None and 25 <= parsed <= 31


def test_factory_picks_and_shares_providers() -> None:
    reset_provider_cache()
    try:
        demo = Settings(app_env="test", openai_api_key="", openai_base_url="")
        assert isinstance(get_provider(demo), DemoProvider)

        local = Settings(app_env="test", openai_api_key="", openai_base_url="http://x/v1")
        first = get_provider(local)
        assert isinstance(first, OpenAIProvider)
        assert get_provider(local) is first
        assert get_provider(local.model_copy()) is first

        keyed = Settings(app_env="test", openai_api_key="sk-test")
        assert get_provider(keyed) is not first

        reset_provider_cache()
        assert get_provider(local) is not first
    finally:
        reset_provider_cache()


def test_fake_server_http_controls(fake: FakeOpenAI) -> None:
    """Benchmarks drive the fake over HTTP; the control API must mirror configure()."""
    with httpx.Client(base_url=fake.url, timeout=5) as http:
        changed = http.post("/_control", json={"fault": "429", "fault_times": 2})
        assert changed.status_code == 200
        assert changed.json()["fault_remaining"] == 2
        assert http.post("/_control", json={"nope": 1}).status_code == 400
        assert http.post("/_control", json={"fault": "boom"}).status_code == 400

        body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
        assert http.post("/v1/chat/completions", json=body).status_code == 429
        assert http.get("/_control/requests").json() == [body]
        assert http.get("/v1/models").json()["data"][0]["id"] == "fake-large"

        assert http.post("/_control/reset").json()["request_count"] == 0
        assert http.get("/_control").json()["fault"] is None


# ---- hostile or broken streams --------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(MALFORMED_EVENTS))
async def test_malformed_chunks_are_skipped_and_the_reply_goes_on(
    fake: FakeOpenAI, make_provider: ProviderFactory, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Up to the bound, every kind of unreadable chunk is logged and skipped, anywhere."""
    fake.configure(reply_tokens=6, inject=[kind] * 3, inject_after_tokens=2)
    deltas, end = await collect(make_provider(max_malformed_chunks=3))

    assert "".join(d.text for d in deltas) == "".join(f"tok{i} " for i in range(6))
    assert end.finish_reason == "stop" and end.completion_tokens == 6
    assert caplog.text.count("Skipped malformed chunk") == 3


@pytest.mark.parametrize("kind", sorted(MALFORMED_EVENTS))
async def test_past_the_bound_the_reply_ends_with_the_text_kept(
    fake: FakeOpenAI, make_provider: ProviderFactory, kind: str
) -> None:
    fake.configure(reply_tokens=6, inject=[kind] * 4, inject_after_tokens=2)
    deltas, error = await stream_until_error(make_provider(max_malformed_chunks=3))

    assert "".join(d.text for d in deltas) == "tok0 tok1 "
    assert error.kind == "bad_stream"
    assert "kept" in error.user_message
    assert len(fake.requests) == 1  # text was shown: never retried


async def test_malformed_chunks_before_any_text_are_not_retried(
    fake: FakeOpenAI, make_provider: ProviderFactory
) -> None:
    fake.configure(reply_tokens=3, inject=["not_json"] * 2, inject_after_tokens=0)
    _, error = await stream_until_error(make_provider(max_malformed_chunks=1))

    assert error.kind == "bad_stream"
    assert len(fake.requests) == 1  # the same server would only send the same again


async def test_the_default_bound_is_the_documented_constant(
    fake: FakeOpenAI, make_provider: ProviderFactory
) -> None:
    fake.configure(reply_tokens=3, inject=["not_json"] * MAX_MALFORMED_CHUNKS)
    deltas, end = await collect(make_provider())
    assert len(deltas) == 3 and end.finish_reason == "stop"

    fake.configure(inject=["not_json"] * (MAX_MALFORMED_CHUNKS + 1))
    _, error = await stream_until_error(make_provider())
    assert error.kind == "bad_stream"


async def test_non_utf8_bytes_become_replacement_characters(
    fake: FakeOpenAI, make_provider: ProviderFactory
) -> None:
    fake.configure(reply_tokens=2, inject=["non_utf8_text", "comment"], inject_after_tokens=1)
    deltas, end = await collect(make_provider(max_malformed_chunks=0))

    assert "".join(d.text for d in deltas) == "tok0 caf\ufffd tok1 "
    assert end.finish_reason == "stop"


async def test_an_oversized_line_is_dropped_not_buffered(
    fake: FakeOpenAI, make_provider: ProviderFactory
) -> None:
    """A chunk past the line cap counts as malformed; the chunks around it still arrive."""
    text = "ab" + "x" * 5_000 + "cd"
    fake.configure(reply_text=text, chunk_chars=2)  # tiny chunks…
    deltas, _ = await collect(make_provider(max_event_bytes=1_000), max_tokens=10_000)
    assert "".join(d.text for d in deltas) == text

    fake.configure(chunk_chars=5_002)
    deltas, end = await collect(make_provider(max_event_bytes=1_000, max_malformed_chunks=1))
    # …then one chunk of 5,002 characters: skipped; the 2-character tail is kept.
    assert "".join(d.text for d in deltas) == "cd"
    assert end.finish_reason == "stop"


async def test_an_error_event_mid_stream_keeps_its_meaning(
    fake: FakeOpenAI, make_provider: ProviderFactory
) -> None:
    """{"error": …} inside the stream is the server giving up, not a malformed chunk."""
    fake.configure(reply_tokens=5, inject=["error_event"], inject_after_tokens=2)
    deltas, error = await stream_until_error(make_provider(max_malformed_chunks=100))

    assert "".join(d.text for d in deltas) == "tok0 tok1 "
    assert error.kind == "context_too_long"


async def test_hostile_text_reaches_the_caller_unchanged(
    fake: FakeOpenAI, make_provider: ProviderFactory
) -> None:
    """Lone surrogates and NUL are legal JSON escapes: the adapter passes them on as they came
    (the generation service makes text storable, for every provider alike)."""
    text = "a\ud800b\x00c\udfff"
    fake.configure(reply_text=text, chunk_chars=2)
    deltas, end = await collect(make_provider())

    assert "".join(d.text for d in deltas) == text
    assert end.finish_reason == "stop"


# ---- paced reads ----------------------------------------------------------------------------


async def test_paced_reads_take_several_events_per_read_and_lose_nothing(
    fake: FakeOpenAI, make_provider: ProviderFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chat_app.providers import openai_provider

    paces: list[openai_provider._PacedRead] = []
    real_init = openai_provider._PacedRead.__init__

    def keep(self: openai_provider._PacedRead, *args: object, **kwargs: object) -> None:
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]
        paces.append(self)

    monkeypatch.setattr(openai_provider._PacedRead, "__init__", keep)
    fake.configure(reply_tokens=60, tokens_per_second=200)  # 0.3 s of events, 5 ms apart
    started = time.perf_counter()
    paced, _ = await collect(make_provider(read_interval_seconds=0.1))
    elapsed = time.perf_counter() - started
    assert "".join(d.text for d in paced) == "".join(f"tok{i} " for i in range(60))
    [pace] = paces
    # ~0.3 s at one socket read per 0.1 s: a few pauses, not one per event; and the events
    # collected meanwhile were taken without pausing again for each.
    assert 1 <= pace.pauses <= 10
    assert elapsed < 0.3 + 0.1 * pace.pauses + 2.0

    unpaced, _ = await collect(make_provider())
    assert "".join(d.text for d in unpaced) == "".join(d.text for d in paced)
    assert paces[1].pauses == 0


async def test_paced_reads_never_delay_the_first_text(
    fake: FakeOpenAI, make_provider: ProviderFactory
) -> None:
    fake.configure(reply_tokens=3, ttft_ms=0, tokens_per_second=10)
    provider = make_provider(read_interval_seconds=5.0)
    first_text_at = None
    began = time.perf_counter()
    async for event in provider.stream_chat(model="fake-small", messages=HELLO, max_tokens=10):
        if isinstance(event, TextDelta) and first_text_at is None:
            first_text_at = time.perf_counter() - began
        break
    assert first_text_at is not None and first_text_at < 4.0
