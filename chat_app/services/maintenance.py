"""Start-up housekeeping."""

from __future__ import annotations

from chat_app.core.db import session_scope
from chat_app.repositories import messages as messages_repo


async def recover_interrupted_replies() -> int:
    """Replies still marked "streaming" belong to a process that died: keep their text, mark them.

    Run before any worker starts serving (scripts/start.sh), never by a live worker: another
    worker's replies that really are streaming must not be touched.
    """
    async with session_scope() as session:
        return await messages_repo.mark_streaming_as_interrupted(session)
