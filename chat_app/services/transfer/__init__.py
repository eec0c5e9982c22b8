"""Moving conversations in and out: JSON export and re-import, Markdown export, ChatGPT import.

JSON export (``chat-app-export`` version 1) is lossless for everything a user can see::

    {"format": "chat-app-export", "version": 1, "exported_at": "<ISO 8601 UTC>",
     "conversations": [{"title", "model", "system_prompt", "created_at", "updated_at",
                        "messages": [{"role", "content", "status", "error_detail", "model",
                                      "prompt_tokens", "completion_tokens", "ttft_ms",
                                      "created_at"}]}]}

Timestamps are ISO 8601 in UTC with microseconds (``2025-01-31T12:00:00.123456Z``); messages
are in conversation order. Ids are not exported: an import always creates new ones.

Imports are all-or-nothing per file for our own format (the whole file is validated before a
single row is written, then everything is written in one transaction) and per conversation for
ChatGPT exports (a malformed conversation is skipped with a reason, the others are written in
one transaction). Hostile files are refused with ``InvalidInput`` before anything is written:
over ``MAX_IMPORT_BYTES``, not UTF-8, not JSON, nested deeper than ``MAX_JSON_DEPTH``, more than
``MAX_IMPORT_CONVERSATIONS`` conversations or ``MAX_IMPORT_MESSAGES`` messages.

Text is stored verbatim (HTML and scripts included: the UI renders them inert), except for the
two things a database cannot store: NUL and unpaired surrogates (``"\\ud800"``) become U+FFFD.

One module per concern; this one only names what callers use. The names here are copies: the
file limits (``MAX_IMPORT_*``, ``MAX_JSON_DEPTH``) are read at call time from
``untrusted_json``, so a test that lowers one patches it there.

- ``report``: what an import did (``ImportReport``) and the wording of its messages.
- ``store``: the two database touches (what an export reads, one write per import).
- ``json_export`` / ``markdown_export``: the two exports.
- ``untrusted_json``: reading an uploaded file that may be hostile.
- ``import_rules``: what both importers do to the messages they plan.
- ``native_import``: our own format's schema, and the refusal that lists its problems.
- ``chatgpt_import`` / ``chatgpt_messages``: a ChatGPT conversation, and one of its messages.
"""

from chat_app.services.transfer.chatgpt_import import import_chatgpt
from chat_app.services.transfer.import_rules import MAX_MESSAGE_CHARS, MESSAGE_MODEL_MAX
from chat_app.services.transfer.json_export import EXPORT_FORMAT, EXPORT_VERSION, export_json
from chat_app.services.transfer.markdown_export import export_markdown
from chat_app.services.transfer.native_import import (
    MAX_INT,
    Content,
    ConversationModel,
    Count,
    MessageModel,
    SystemPrompt,
    Timestamp,
    Title,
    import_json,
)
from chat_app.services.transfer.report import (
    MAX_PROBLEMS_SHOWN,
    ImportedItem,
    ImportReport,
    SkippedItem,
)
from chat_app.services.transfer.untrusted_json import (
    MAX_IMPORT_BYTES,
    MAX_IMPORT_CONVERSATIONS,
    MAX_IMPORT_MESSAGES,
    MAX_JSON_DEPTH,
)

__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "MAX_IMPORT_BYTES",
    "MAX_IMPORT_CONVERSATIONS",
    "MAX_IMPORT_MESSAGES",
    "MAX_INT",
    "MAX_JSON_DEPTH",
    "MAX_MESSAGE_CHARS",
    "MAX_PROBLEMS_SHOWN",
    "MESSAGE_MODEL_MAX",
    "Content",
    "ConversationModel",
    "Count",
    "ImportReport",
    "ImportedItem",
    "MessageModel",
    "SkippedItem",
    "SystemPrompt",
    "Timestamp",
    "Title",
    "export_json",
    "export_markdown",
    "import_chatgpt",
    "import_json",
]
