"""What the model sees: the system prompt plus as much recent history as the budget allows."""

from __future__ import annotations

from collections.abc import Sequence

from chat_app.models.message import Message, MessageStatus, Role
from chat_app.providers import ChatTurn

# No tokenizer that ships its data offline covers every model, so we estimate: ~4 characters
# per token for English-like text, plus a few tokens of per-message overhead. Erring high keeps
# us under the provider's real limit.
CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4


def estimate_tokens(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN) + MESSAGE_OVERHEAD_TOKENS


def _usable(message: Message) -> bool:
    if message.role == Role.SYSTEM:
        return False
    if message.role == Role.ASSISTANT and message.status == MessageStatus.STREAMING:
        return False
    return bool(message.content.strip())


def build_turns(
    system_prompt: str, history: Sequence[Message], budget_tokens: int
) -> list[ChatTurn]:
    """Newest messages first until the budget is spent; the system prompt is always kept, and so
    is the latest message even when it alone is over budget (the provider then says so)."""
    turns: list[ChatTurn] = []
    remaining = budget_tokens
    if system_prompt.strip():
        remaining -= estimate_tokens(system_prompt)
    for message in reversed([m for m in history if _usable(m)]):
        cost = estimate_tokens(message.content)
        if turns and cost > remaining:
            break
        turns.append(ChatTurn(role=message.role, content=message.content))  # type: ignore[arg-type]
        remaining -= cost
    turns.reverse()
    if system_prompt.strip():
        turns.insert(0, ChatTurn(role="system", content=system_prompt))
    return turns
