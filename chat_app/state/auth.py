"""Who is using this tab. The HttpOnly cookie is the only source of truth.

Every check re-reads the cookie from the websocket handshake and asks the auth service, so a
revoked, expired or logged-out session stops working at the next event, whatever this tab's
state still remembers.
"""

from __future__ import annotations

import uuid

import reflex as rx
from reflex.event import EventSpec

from chat_app.core.client_address import client_address
from chat_app.core.session_cookie import read_session_cookie
from chat_app.core.settings import get_settings
from chat_app.models.user import UserPublic
from chat_app.services import auth as auth_service
from chat_app.services.errors import InvalidInput, ServiceError
from chat_app.state.browser import SESSION_EXPIRED_PATH, full_page_load, post_form
from chat_app.state.tab_session import clear_tab

LOGIN_NOTICES = {
    "expired": auth_service.SESSION_EXPIRED,
    "logged_out": "You have been logged out.",
    "logged_out_everywhere": "You have been logged out on every device.",
}


class AuthState(rx.State):
    user_name: str = ""
    user_email: str = ""
    is_admin: bool = False
    authenticated: bool = False

    notice: str = ""
    login_error: str = ""
    register_error: str = ""
    register_field_errors: dict[str, str] = {}
    registration_open: bool = True
    logout_everywhere_open: bool = False  # the confirmation dialog

    # Server-only (underscore vars never reach the browser).
    _user_id: str = ""
    # Which session cookie this tab's state was filled under (see state/tab_session.py).
    _session_fingerprint: str = ""

    # ---- helpers used by every other state (underscored: public methods are browser events)

    async def _session_user(self) -> UserPublic | None:
        """The user behind this tab's cookie, checked against the database now."""
        token = read_session_cookie(self.router.headers.cookie)
        user = await auth_service.resolve_session(token)
        if user is None:
            if self._user_id:
                # The session ended under this tab (expired, revoked, user disabled): nothing
                # it showed for that user may stay in the tab's state.
                await clear_tab(self)
            self._forget_user()
        else:
            self._remember_user(user)
        return user

    async def _require_user_id(self) -> uuid.UUID | None:
        user = await self._session_user()
        return user.id if user is not None else None

    def _remember_user(self, user: UserPublic) -> None:
        self._set_public(
            user_id=str(user.id),
            user_name=user.display_name,
            user_email=user.email,
            is_admin=user.is_admin,
            authenticated=True,
        )

    def _forget_user(self) -> None:
        self._set_public(
            user_id="", user_name="", user_email="", is_admin=False, authenticated=False
        )

    def _set_public(self, *, user_id: str, **values: object) -> None:
        # Every data event re-checks the session; assigning unchanged values would mark these
        # vars dirty and re-send them to the browser with every event.
        self._user_id = user_id
        for name, value in values.items():
            if getattr(self, name) != value:
                setattr(self, name, value)

    def _client_address(self) -> str:
        # Reflex's session.client_ip is the websocket's TCP peer (rxconfig keeps its
        # trusted_proxy_hops at 0, so Reflex itself never reads X-Forwarded-For); the one
        # shared rule decides whether that peer is a proxy whose headers count.
        return client_address(self.router.session.client_ip, self.router.headers.raw_headers)

    def _has_cookie(self) -> bool:
        return read_session_cookie(self.router.headers.cookie) is not None

    # ---- page guards ----------------------------------------------------------------------

    @rx.event
    async def guard_private_page(self):
        """on_load of every private page: unknown visitors go to /login, nothing is shown."""
        if await self._session_user() is not None:
            return None
        if self._has_cookie():
            # A cookie that no longer works: have the server drop it, then log in again.
            return full_page_load(SESSION_EXPIRED_PATH)
        return rx.redirect("/login", replace=True)

    @rx.event
    async def open_login_page(self):
        self.login_error = ""
        reason = self.router.url.query_parameters.get("reason", "")
        self.notice = LOGIN_NOTICES.get(reason, "")
        self.registration_open = get_settings().allow_registration
        if await self._session_user() is not None:
            return rx.redirect("/", replace=True)
        return None

    @rx.event
    async def open_register_page(self):
        self.register_error = ""
        self.register_field_errors = {}
        self.registration_open = get_settings().allow_registration
        if await self._session_user() is not None:
            return rx.redirect("/", replace=True)
        return None

    # ---- forms ----------------------------------------------------------------------------

    @rx.event
    async def submit_login(self, form: dict[str, str]):
        self.login_error = ""
        self.notice = ""
        try:
            result = await auth_service.login(
                str(form.get("email", "")),
                str(form.get("password", "")),
                client_address=self._client_address(),
            )
        except ServiceError as exc:
            self.login_error = exc.message
            return None
        self._remember_user(result.user)
        next_path = auth_service.safe_next_path(self.router.url.query_parameters.get("next", "/"))
        return post_form("/api/v1/auth/session", {"ticket": result.ticket, "next": next_path})

    @rx.event
    async def submit_register(self, form: dict[str, str]):
        self.register_error = ""
        self.register_field_errors = {}
        try:
            result = await auth_service.register(
                str(form.get("email", "")),
                str(form.get("display_name", "")),
                str(form.get("password", "")),
            )
        except InvalidInput as exc:
            self.register_field_errors = exc.fields
            self.register_error = "" if exc.fields else exc.message
            return None
        except ServiceError as exc:
            self.register_error = exc.message
            return None
        self._remember_user(result.user)
        return post_form("/api/v1/auth/session", {"ticket": result.ticket, "next": "/"})

    @rx.event
    async def logout(self):
        await clear_tab(self)
        return post_form("/api/v1/auth/logout", {})

    @rx.event
    def set_logout_everywhere_open(self, value: bool):
        self.logout_everywhere_open = bool(value)

    @rx.event
    async def logout_everywhere(self):
        user_id = await self._require_user_id()
        if user_id is not None:
            await auth_service.logout_everywhere(user_id)
        await clear_tab(self)
        return post_form("/api/v1/auth/logout", {"everywhere": "1"})


# ---- for the other states' handlers ---------------------------------------------------------
# Module functions rather than AuthState methods: every public method of a state is an event
# the browser can send.


async def acting_user_id(state: rx.State) -> uuid.UUID | None:
    """The user behind the tab that sent the current event, re-checked now (None: logged out)."""
    auth = await state.get_state(AuthState)
    return await auth._require_user_id()


async def session_ended(state: rx.State) -> EventSpec:
    """Where a data handler sends a tab whose session stopped working mid-use."""
    auth = await state.get_state(AuthState)
    if auth._has_cookie():
        return full_page_load(SESSION_EXPIRED_PATH)
    return rx.redirect("/login", replace=True)
