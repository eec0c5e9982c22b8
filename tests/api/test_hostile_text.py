"""NUL and lone surrogates in every text part of every API route: a clear answer, never a 5xx.

The routes are enumerated (``tests/security/harness.api_routes``, the authorization matrix's
own list). Each text part of each route (a string body field, query, header or path parameter,
a form field of the browser-only routes, a text field inside an imported file) gets each hostile
value while the rest of the request is valid, on SQLite and PostgreSQL (which cannot store NUL
at all). A route or text part this file does not know fails ``test_every_text_part_is_known``.

Raw clients send what httpx's own encoders would refuse: JSON with ``\\ud800`` escapes, URLs and
forms with the percent-encoded UTF-8 bytes of a surrogate, header bytes.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import re
import types
import typing
import uuid
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from pydantic import BaseModel

from chat_app.models.message import MessageStatus
from chat_app.services import auth, chat, generation, replies
from tests.conftest import unique_email
from tests.security.harness import _params
from tests.security.harness import api_routes as _api_routes
from tests.services.conftest import wait_until

pytestmark = pytest.mark.usefixtures("settle")

PASSWORD = "password123"
HOSTILE = {
    "nul": "a\x00b",
    "only nul": "\x00",
    "lone high surrogate": "a\ud800b",
    "lone low surrogate": "\udfffz",
    "reversed pair": "\ude00\ud83d",
    "cut emoji": "hi \ud83d",
}


def replaced(value: str) -> str:
    """What free text must become: U+FFFD for each NUL and unpaired surrogate (none of the
    values above holds a surrogate pair in order)."""
    return "".join("\ufffd" if ch == "\x00" or 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in value)


# Unstorable characters as they would come back in a JSON body.
UNSTORABLE_ESCAPE = re.compile(r"\\u(0000|d[89a-f][0-9a-f]{2})", re.IGNORECASE)

# Routes that read a form themselves (no schema): their fields, with valid values.
FORM_ROUTES = {
    "POST /api/v1/auth/session": ("ticket", "next"),
    "POST /api/v1/auth/logout": ("everywhere",),
}
IMPORT_ROUTE = "POST /api/v1/import"
IMPORT_FIELDS = ("title", "model", "system_prompt", "content")


# Building the API for each request would dominate the run.
api_routes = functools.cache(_api_routes)


def _text_annotation(annotation: Any) -> bool:
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if annotation is str:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_text_annotation(arg) for arg in typing.get_args(annotation))
    return False


def text_parts(key: str, route: Any) -> list[tuple[str, str]]:
    """(where, name) of every free-text input of the route."""
    if key in FORM_ROUTES:
        return [("form", name) for name in FORM_ROUTES[key]]
    if key == IMPORT_ROUTE:
        return [("file", name) for name in IMPORT_FIELDS]
    dependant = getattr(route, "dependant", None)
    parts: list[tuple[str, str]] = []
    if dependant is None:
        return parts
    for kind, param in _params(dependant):
        annotation = param.field_info.annotation
        if kind == "body_params" and inspect.isclass(annotation):
            if issubclass(annotation, BaseModel):
                parts += [
                    ("body", name)
                    for name, f in annotation.model_fields.items()
                    if _text_annotation(f.annotation)
                ]
                continue
        if _text_annotation(annotation):
            parts.append((kind.removesuffix("_params"), param.alias or param.name))
    return parts


def _takes_json_body(key: str) -> bool:
    dependant = getattr(api_routes()[key], "dependant", None)
    return dependant is not None and bool(dependant.body_params)


def _raw(value: str) -> str:
    """Percent-encoded UTF-8 bytes, surrogates included (what a raw client can put on a URL)."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


@dataclasses.dataclass
class Caller:
    client: httpx.AsyncClient
    fake: Any

    async def account(self) -> tuple[uuid.UUID, str, dict[str, str]]:
        email = unique_email("hostile")
        registered = await auth.register(email, "Hostile", PASSWORD)
        return registered.user.id, email, {"Authorization": f"Bearer {registered.token}"}

    async def finished_conversation(self, user_id: uuid.UUID) -> str:
        # Titled: no automatic title may land after the reply.
        seeded = await chat.create_conversation(user_id, title="Seed")
        started = await generation.send_message(user_id, seeded.id, "hello there")

        async def done() -> bool:
            reply = await chat.get_message(user_id, started.assistant_message.id)
            return reply.status != MessageStatus.STREAMING

        await wait_until(done)
        return str(started.conversation.id)

    async def call(self, key: str, where: str, name: str, value: str) -> httpx.Response:
        """The route, valid in every part except ``name``, which carries ``value``."""
        auth.login_throttle.cache_clear()  # each call counts failures from the same address
        method, path = key.split(" ", 1)
        user_id, email, headers = await self.account()
        path_values: dict[str, str] = {}
        if "{conversation_id}" in path:
            path_values["conversation_id"] = await self.finished_conversation(user_id)
        if "{token_id}" in path:
            created = await self.client.post("/api/v1/tokens", json={"name": "t"}, headers=headers)
            path_values["token_id"] = created.json()["token"]["id"]
        for param, current in path_values.items():
            raw = _raw(value) if where == "path" and name == param else current
            path = path.replace("{" + param + "}", raw)
        query = {"stream": "false"} if key.endswith("/regenerate") else {}
        if where == "query":
            query[name] = value
        url = path + ("?" + "&".join(f"{k}={_raw(v)}" for k, v in query.items()) if query else "")
        request_headers: dict[str, Any] = dict(headers)
        if where == "header":
            request_headers[name.replace("_", "-")] = value.encode("utf-8", "surrogatepass")
        content: bytes | None = None
        if key in FORM_ROUTES:
            form = {
                "ticket": (await auth.login(email, PASSWORD)).ticket,
                "next": "/",
                "everywhere": "1",
            }
            form[name] = value
            content = "&".join(f"{k}={_raw(v)}" for k, v in form.items()).encode()
            request_headers["content-type"] = "application/x-www-form-urlencoded"
        elif key == IMPORT_ROUTE:
            await self.finished_conversation(user_id)  # something to export, then import
            document = (await self.client.get("/api/v1/export", headers=headers)).json()
            conversation = document["conversations"][0]
            if name == "content":
                conversation["messages"][0]["content"] = value
            else:
                conversation[name] = value
            content = json.dumps(document).encode()  # ensure_ascii: \u escapes, like a file
            request_headers["content-type"] = "application/json"
        elif _takes_json_body(key):
            body = self.valid_body(key, email)
            if where == "body":
                body[name] = value
            content = json.dumps(body).encode()  # ensure_ascii: \u escapes, as JSON allows
            request_headers["content-type"] = "application/json"
        return await self.client.request(method, url, content=content, headers=request_headers)

    @staticmethod
    def valid_body(key: str, email: str) -> dict[str, Any]:
        bodies: dict[str, dict[str, Any]] = {
            "POST /api/v1/auth/login": {"email": email, "password": PASSWORD},
            "POST /api/v1/auth/register": {
                "email": unique_email("new"),
                "display_name": "New",
                "password": PASSWORD,
            },
            "POST /api/v1/tokens": {"name": "script"},
            "POST /api/v1/conversations": {"title": "t", "model": "", "system_prompt": "s"},
            "PATCH /api/v1/conversations/{conversation_id}": {"title": "renamed"},
            "POST /api/v1/conversations/{conversation_id}/messages": {
                "content": "more",
                "stream": False,
            },
            "PUT /api/v1/conversations/{conversation_id}/last-user-message": {
                "content": "edited",
                "stream": False,
            },
        }
        return dict(bodies.get(key, {}))


@pytest.fixture
def caller(client, fake, monkeypatch) -> Caller:
    monkeypatch.setenv("SEND_RATE_PER_MINUTE", "0")
    fake.configure(reply_tokens=3)
    return Caller(client, fake)


def surface() -> list[tuple[str, str, str]]:
    return [
        (key, where, name)
        for key, route in sorted(api_routes().items())
        for where, name in text_parts(key, route)
    ]


def test_every_text_part_is_known():
    """The enumeration finds the text inputs this file was written for (and no fewer)."""
    found = {f"{key} {where}:{name}" for key, where, name in surface()}
    for expected in (
        "PATCH /api/v1/conversations/{conversation_id} body:system_prompt",
        "PATCH /api/v1/conversations/{conversation_id} body:model",
        "GET /api/v1/conversations query:q",
        "POST /api/v1/conversations/{conversation_id}/messages body:content",
        "POST /api/v1/auth/register body:display_name",
        "POST /api/v1/tokens body:name",
        "GET /api/v1/conversations/{conversation_id}/reply header:last-event-id",
        "POST /api/v1/import file:content",
    ):
        assert expected in found, expected
    assert len(found) >= 30, sorted(found)


async def test_no_text_part_of_any_route_gives_a_server_error(caller):
    """Every (route, text part, hostile value): below 500, nothing unstorable echoed back,
    and a refusal says what is wrong."""
    problems: list[str] = []
    calls = 0
    for key, where, name in surface():
        for label, value in HOSTILE.items():
            response = await caller.call(key, where, name, value)
            calls += 1
            what = f"{key} {where}:{name} <- {label}: {response.status_code}"
            if response.status_code >= 500:
                problems.append(f"{what} {response.text[:200]}")
                continue
            if UNSTORABLE_ESCAPE.search(response.text):
                problems.append(f"{what} echoes an unstorable character: {response.text[:200]}")
            if response.status_code in (400, 413, 422):
                message = response.json()["error"]["message"]
                if not message:
                    problems.append(f"{what} refuses without a message")
    assert calls >= 30 * len(HOSTILE)
    assert problems == []


# ---- what each kind of field does with them ------------------------------------------------


def _json(body: dict[str, Any]) -> dict[str, Any]:
    return {"content": json.dumps(body).encode(), "headers": {"content-type": "application/json"}}


async def _request(client, method, url, headers, body):  # type: ignore[no-untyped-def]
    request = _json(body)
    return await client.request(
        method, url, content=request["content"], headers={**headers, **request["headers"]}
    )


async def test_free_text_keeps_the_text_with_a_replacement_character(caller, client):
    """Titles, system prompts, messages and token names: stored, U+FFFD where the character
    was, every other character kept; a search with the same text finds what was stored."""
    user_id, _, headers = await caller.account()
    for label, value in HOSTILE.items():
        created = await _request(
            client,
            "POST",
            "/api/v1/conversations",
            headers,
            {"title": f"T {value} end", "system_prompt": f"P {value} end"},
        )
        assert created.status_code == 201, (label, created.text)
        conversation = created.json()
        assert conversation["title"] == f"T {replaced(value)} end", label
        assert conversation["system_prompt"] == f"P {replaced(value)} end", label
        found = await client.get(f"/api/v1/conversations?q={_raw(value)}", headers=headers)
        assert found.status_code == 200, (label, found.text)
        # A URL carries a surrogate only as invalid UTF-8 bytes, which the server decodes to
        # one U+FFFD per byte: only NUL arrives as typed. The services see what a tab sends.
        if "\x00" in value and replaced(value).count("\ufffd") == 1:
            assert conversation["id"] in {c["id"] for c in found.json()["items"]}, label
        page = await chat.list_conversations(user_id, search=value)
        assert conversation["id"] in {str(c.id) for c in page.items}, label

        patched = await _request(
            client,
            "PATCH",
            f"/api/v1/conversations/{conversation['id']}",
            headers,
            {"system_prompt": f"{value}!"},
        )
        assert patched.status_code == 200, (label, patched.text)
        assert patched.json()["system_prompt"] == f"{replaced(value)}!", label

        sent = await _request(
            client,
            "POST",
            f"/api/v1/conversations/{conversation['id']}/messages",
            headers,
            {"content": f"say {value} ok", "stream": False},
        )
        assert sent.status_code == 200, (label, sent.text)
        assert sent.json()["user_message"]["content"] == f"say {replaced(value)} ok", label
        await replies.stop_reply(user_id, conversation["id"])

        token = await _request(client, "POST", "/api/v1/tokens", headers, {"name": f"n{value}"})
        assert token.status_code == 201, (label, token.text)
        assert token.json()["token"]["name"] == f"n{replaced(value)}", label


async def test_identifiers_and_secrets_are_refused_with_a_message(caller, client):
    """A model name, an email, a password, a display name: 422 naming the field (a U+FFFD
    would silently change them); a login with one is refused, or just a failed login."""
    _, email, headers = await caller.account()
    conversation = (
        await _request(client, "POST", "/api/v1/conversations", headers, {"title": "t"})
    ).json()
    for label, value in HOSTILE.items():
        for method, url in (
            ("PATCH", f"/api/v1/conversations/{conversation['id']}"),
            ("POST", "/api/v1/conversations"),
        ):
            refused = await _request(client, method, url, headers, {"model": f"gpt{value}"})
            assert refused.status_code == 422, (label, refused.text)
            assert "model" in refused.json()["error"]["fields"], label
        sent = await _request(
            client,
            "POST",
            f"/api/v1/conversations/{conversation['id']}/messages",
            headers,
            {"content": "hi", "model": f"m{value}", "stream": False},
        )
        assert sent.status_code == 422 and "model" in sent.json()["error"]["fields"], label
        for field in ("email", "display_name", "password"):
            body = {"email": unique_email("r"), "display_name": "R", "password": PASSWORD}
            body[field] = f"{body[field]}{value}"
            refused = await _request(client, "POST", "/api/v1/auth/register", headers={}, body=body)
            assert refused.status_code == 422, (label, field, refused.text)
            assert refused.json()["error"]["message"], (label, field)
        auth.login_throttle.cache_clear()
        for body in (
            {"email": email, "password": PASSWORD + value},
            {"email": email + value, "password": PASSWORD},
        ):
            login = await _request(client, "POST", "/api/v1/auth/login", {}, body)
            # A surrogate cannot pass the API's length check (422 naming the field); NUL
            # reaches the service and is a failed login like any wrong password.
            error = login.json()["error"]
            if login.status_code == 422:
                assert set(error["fields"]) <= {"email", "password"}, (label, login.text)
            else:
                assert login.status_code == 403, (label, login.text)
                assert error["message"] == auth.LOGIN_FAILED, label
