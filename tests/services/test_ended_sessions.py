"""What the session watchdog relies on (chat_app/state/tab_session.py): which sessions ended,
and stopping the replies of users disabled while one was being written."""

from __future__ import annotations

import uuid

from chat_app.models.message import MessageStatus
from chat_app.services import auth, chat, generation, replies
from tests.conftest import unique_email
from tests.services.conftest import wait_until

PASSWORD = "password123"


async def test_ended_sessions_finds_every_way_a_session_ends(db: str) -> None:
    ann = unique_email("ann")
    kept = await auth.register(ann, "Ann", PASSWORD)
    revoked = await auth.login(ann, PASSWORD)
    await auth.logout(revoked.token)
    everywhere_email = unique_email("eve")
    everywhere = await auth.register(everywhere_email, "Eve", PASSWORD)
    await auth.logout_everywhere(everywhere.user.id)
    disabled_email = unique_email("dan")
    disabled = await auth.register(disabled_email, "Dan", PASSWORD)
    await auth.admin_set_active(disabled_email, False)
    reset_email = unique_email("rob")
    reset = await auth.register(reset_email, "Rob", PASSWORD)
    await auth.admin_reset_password(reset_email, "another password")

    tokens = {
        "kept": kept.token,
        "revoked": revoked.token,
        "everywhere": everywhere.token,
        "disabled": disabled.token,
        "reset": reset.token,
        "garbage": "not-a-token",
        "empty": "",
        "none": None,
    }
    assert await auth.ended_sessions(tokens) == set(tokens) - {"kept"}
    assert await auth.ended_sessions({}) == set()


async def test_inactive_users(db: str) -> None:
    email = unique_email("dan")
    dan = await auth.register(email, "Dan", PASSWORD)
    ann = await auth.register(unique_email("ann"), "Ann", PASSWORD)
    await auth.admin_set_active(email, False)
    gone = uuid.uuid4()
    assert await auth.inactive_users({dan.user.id, ann.user.id, gone}) == {dan.user.id, gone}


async def test_disabling_a_user_ends_their_replies_and_no_one_elses(fake, db: str) -> None:
    alice_email = unique_email("alice")
    alice = (await auth.register(alice_email, "Alice", PASSWORD)).user.id
    bob = (await auth.register(unique_email("bob"), "Bob", PASSWORD)).user.id
    fake.configure(reply_tokens=400, tokens_per_second=40)
    a = await generation.send_message(alice, None, "long answer please")
    a2 = await generation.send_message(alice, None, "another long one")
    b = await generation.send_message(bob, None, "long answer please")
    reply = replies.live_reply(alice, a.conversation.id)
    assert reply is not None
    await wait_until(lambda: reply.length > 5)

    # (Replies other tests left behind, whose owners are gone, may be stopped here too.)
    await replies.stop_replies_of_inactive_users()
    assert {alice, bob} <= replies.live_owner_ids()  # nobody is disabled yet

    await auth.admin_set_active(alice_email, False)
    assert await replies.stop_replies_of_inactive_users() >= 2

    for started in (a, a2):
        cid = started.conversation.id
        await wait_until(lambda cid=cid: replies.live_reply(alice, cid) is None)
        [_, final] = await chat.list_messages(alice, cid)
        assert final.status == MessageStatus.STOPPED
    [_, first] = await chat.list_messages(alice, a.conversation.id)
    assert first.content.startswith("tok")  # the text so far is kept
    live = replies.live_reply(bob, b.conversation.id)
    assert live is not None and not live.finished  # Bob's reply goes on
    assert alice not in replies.live_owner_ids() and bob in replies.live_owner_ids()
    await replies.stop_reply(bob, b.conversation.id)
