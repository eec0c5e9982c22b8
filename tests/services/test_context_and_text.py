from chat_app.models.message import Message, MessageStatus
from chat_app.services.context import build_turns, estimate_tokens
from chat_app.services.live import LiveReply
from chat_app.services.text_rules import storable, title_from_text


def msg(role: str, content: str, status: str = MessageStatus.COMPLETE) -> Message:
    return Message(role=role, content=content, status=status)


def test_budget_keeps_newest_and_the_system_prompt():
    history = [msg("user", "a" * 400), msg("assistant", "b" * 400), msg("user", "c" * 40)]
    turns = build_turns("sys", history, budget_tokens=125)
    assert [t.role for t in turns] == ["system", "assistant", "user"]
    assert turns[0].content == "sys"


def test_latest_message_is_kept_even_over_budget():
    turns = build_turns("", [msg("user", "z" * 10_000)], budget_tokens=256)
    assert len(turns) == 1 and turns[0].content == "z" * 10_000


def test_empty_and_streaming_replies_are_not_sent():
    history = [
        msg("user", "q"),
        msg("assistant", "", MessageStatus.ERROR),
        msg("assistant", "partial", MessageStatus.STREAMING),
        msg("assistant", "kept", MessageStatus.STOPPED),
    ]
    assert [t.content for t in build_turns("", history, 1000)] == ["q", "kept"]


def test_estimate_is_conservative():
    assert estimate_tokens("") == 4
    assert estimate_tokens("abcd" * 100) == 104


def test_nul_is_the_only_character_replaced():
    assert storable("a\x00b") == "a\ufffdb"
    text = "\x01\x1f\x7f\u2028 עברית 👍"
    assert storable(text) is text


def test_fallback_titles():
    assert title_from_text("  hello   world ") == "hello world"
    assert title_from_text("one two three four five six seven") == "one two three four five six…"
    assert len(title_from_text("x" * 500)) == 60


async def test_followers_get_every_character_once_in_order():
    import asyncio
    import uuid

    reply = LiveReply(owner_id=uuid.uuid4(), conversation_id=uuid.uuid4(), message_id=uuid.uuid4())
    received: list[str] = []

    async def follow(offset: int) -> str:
        text = ""
        async for update in reply.follow(offset, min_interval=0.001):
            assert update.offset == offset + len(text)
            text += update.text
        return text

    early = asyncio.create_task(follow(0))
    for i in range(50):
        reply.append(f"{i},")
        if i == 25:
            late = asyncio.create_task(follow(reply.length))  # joins mid-way
            snapshot = reply.text()
        await asyncio.sleep(0)
    reply.finish("complete")
    reply.close()
    received.append(await early)
    assert received[0] == "".join(f"{i}," for i in range(50))
    assert snapshot + await late == received[0]
