"""Small typing helpers shared by the repositories."""

from __future__ import annotations

from sqlalchemy.engine import Result


def affected_rows(result: Result[object]) -> int:
    """Rows an UPDATE/DELETE touched (``rowcount`` lives on the cursor result)."""
    return int(getattr(result, "rowcount", 0) or 0)
