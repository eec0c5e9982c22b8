"""Self-hosted LLM chat in pure Python (Reflex + SQLModel)."""
