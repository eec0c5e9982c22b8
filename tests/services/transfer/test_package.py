"""The package keeps the one module's public surface, and stays in small modules."""

from __future__ import annotations

from importlib import resources

from chat_app.services import transfer

# Every public name of services/transfer.py before it became this package.
FORMER_PUBLIC_NAMES = {
    "EXPORT_FORMAT", "EXPORT_VERSION", "MAX_IMPORT_BYTES", "MAX_IMPORT_CONVERSATIONS",
    "MAX_IMPORT_MESSAGES", "MAX_JSON_DEPTH", "MAX_MESSAGE_CHARS", "MESSAGE_MODEL_MAX", "MAX_INT",
    "MAX_PROBLEMS_SHOWN", "ImportedItem", "SkippedItem", "ImportReport", "export_json",
    "export_markdown", "import_json", "import_chatgpt", "Timestamp", "Count", "Content", "Title",
    "SystemPrompt", "ConversationModel", "MessageModel",
}  # fmt: skip
MAX_MODULE_LINES = 300


def test_every_former_public_name_is_still_on_the_package():
    assert set(transfer.__all__) == FORMER_PUBLIC_NAMES
    missing = [name for name in FORMER_PUBLIC_NAMES if not hasattr(transfer, name)]
    assert missing == []
    assert (transfer.EXPORT_FORMAT, transfer.EXPORT_VERSION) == ("chat-app-export", 1)
    assert (transfer.MESSAGE_MODEL_MAX, transfer.MAX_INT, transfer.MAX_PROBLEMS_SHOWN) == (
        200,
        2**31 - 1,
        10,
    )


def test_every_module_of_the_package_stays_small():
    sizes = {
        module.name: len(module.read_text(encoding="utf-8").splitlines())
        for module in resources.files(transfer).iterdir()
        if module.name.endswith(".py")
    }
    assert len(sizes) >= 8
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}
