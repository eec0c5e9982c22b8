from chat_app.services import auth


async def test_register_and_login_round_trip(db):
    registered = await auth.register("A@Example.com", "Ann", "correct horse")
    assert registered.user.email == "a@example.com"
    assert registered.user.is_admin
    logged_in = await auth.login("a@EXAMPLE.com", "correct horse")
    assert (await auth.resolve_session(logged_in.token)).id == registered.user.id
