from chat_app.models.message import Message, MessageStatus
from chat_app.services.context import build_turns, estimate_tokens
from chat_app.services.text_rules import StorableStream, storable, title_from_text


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


def test_nul_and_lone_surrogates_are_the_only_characters_replaced():
    assert storable("a\x00b") == "a\ufffdb"
    text = "\x01\x1f\x7f\u2028 עברית 👍 \ufffd \U0010ffff"
    assert storable(text) is text


def test_every_lone_surrogate_becomes_one_replacement_character():
    for code in range(0xD800, 0xE000):
        assert storable(f"a{chr(code)}b") == "a\ufffdb", hex(code)
    assert storable("\udfff\ud800") == "\ufffd\ufffd"  # low before high is no pair


def test_a_surrogate_pair_written_as_two_code_points_is_the_character_it_stands_for():
    for char in ("😀", "𝄞", "\U00010000", "\U0010ffff"):
        units = char.encode("utf-16-le")
        high = units[:2].decode("utf-16-le", "surrogatepass")
        low = units[2:].decode("utf-16-le", "surrogatepass")
        assert storable(f"x{high}{low}y") == f"x{char}y"
        assert storable(f"x{high}{low}y").encode("utf-8")


def test_streamed_text_is_storable_however_it_is_split():
    """Every split of a text with pairs, lone surrogates and NUL gives the same stored text."""
    pair = "😀".encode("utf-16-le")
    high, low = (pair[i : i + 2].decode("utf-16-le", "surrogatepass") for i in (0, 2))
    text = f"a{high}{low}b{high}c{low}\x00{high}{low}{high}"
    expected = "a😀b\ufffdc\ufffd\ufffd😀\ufffd"
    assert storable(text) == expected
    for size in range(1, len(text) + 1):
        stream = StorableStream()
        pieces = [stream.feed(text[i : i + size]) for i in range(0, len(text), size)]
        pieces.append(stream.flush())
        assert "".join(pieces) == expected, size
        for piece in pieces:
            piece.encode("utf-8")  # each piece is storable on its own, not just the whole


def test_fallback_titles():
    assert title_from_text("  hello   world ") == "hello world"
    assert title_from_text("one two three four five six seven") == "one two three four five six…"
    assert len(title_from_text("x" * 500)) == 60
