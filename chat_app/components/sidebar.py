"""The conversation list. A column on wide screens; a slide-in drawer on phones.

One sidebar element serves both layouts (responsive styles), so the list is rendered once.
"""

from __future__ import annotations

import reflex as rx

from chat_app.state.conversation import ConversationState
from chat_app.state.sidebar import ConversationItem, SidebarState

SIDEBAR_WIDTH = "272px"


def _responsive(phone, desktop) -> rx.breakpoints:
    """Phone value below the "md" breakpoint (48em), where the sidebar becomes a drawer."""
    return rx.breakpoints(initial=phone, md=desktop)


def _item(item: ConversationItem) -> rx.Component:
    current = item.id == ConversationState.cid
    return rx.hstack(
        rx.link(
            rx.text(
                item.title,
                size="2",
                white_space="nowrap",
                overflow="hidden",
                text_overflow="ellipsis",
                title=item.title,
            ),
            href="/c/" + item.id,
            underline="none",
            color="inherit",
            flex="1",
            min_width="0",
            padding_y="0.45em",
            padding_left="0.75em",
            on_click=SidebarState.close_drawer,
            data_testid="sidebar-link",
        ),
        rx.menu.root(
            rx.menu.trigger(
                rx.icon_button(
                    rx.icon("ellipsis", size=15),
                    variant="ghost",
                    color_scheme="gray",
                    size="1",
                    aria_label="Conversation actions",
                    class_name="sidebar-item-menu",
                    data_testid="sidebar-item-menu",
                ),
            ),
            rx.menu.content(
                rx.menu.item(
                    rx.icon("pencil", size=14),
                    "Rename",
                    on_select=SidebarState.open_rename(item.id),  # type: ignore[operator]
                    data_testid="rename",
                ),
                rx.menu.item(
                    rx.icon("trash-2", size=14),
                    "Delete",
                    color="red",
                    on_select=SidebarState.open_delete(item.id),  # type: ignore[operator]
                    data_testid="delete",
                ),
                size="1",
            ),
        ),
        align="center",
        spacing="1",
        padding_right="0.4em",
        width="100%",
        border_radius="var(--radius-3)",
        background=rx.cond(current, "var(--accent-a4)", "transparent"),
        font_weight=rx.cond(current, "500", "normal"),
        _hover={"background": rx.cond(current, "var(--accent-a4)", "var(--gray-a3)")},
        data_testid="sidebar-item",
        data_current=rx.cond(current, "true", "false"),
        key=item.id,
    )


def _list() -> rx.Component:
    return rx.vstack(
        rx.foreach(SidebarState.items, _item),
        rx.cond(
            SidebarState.items.length() == 0,  # type: ignore[attr-defined]
            rx.text(
                rx.cond(SidebarState.search != "", "No matching conversations.", "No chats yet."),
                size="2",
                color_scheme="gray",
                padding="0.75em",
            ),
        ),
        rx.cond(
            SidebarState.has_more,
            rx.button(
                "Load more",
                variant="ghost",
                size="1",
                width="100%",
                on_click=SidebarState.load_more,
                data_testid="load-more",
            ),
        ),
        rx.cond(
            SidebarState.error != "",
            rx.text(SidebarState.error, color_scheme="red", size="1", padding="0.5em"),
        ),
        spacing="1",
        width="100%",
    )


def sidebar() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.hstack(
                rx.icon("message-square-text", size=20),
                rx.heading("Chat", size="4"),
                align="center",
                spacing="2",
            ),
            rx.spacer(),
            rx.icon_button(
                rx.icon("x", size=18),
                variant="ghost",
                color_scheme="gray",
                display=_responsive("inline-flex", "none"),
                on_click=SidebarState.close_drawer,
                aria_label="Close the chat list",
            ),
            align="center",
            width="100%",
            padding_x="0.5em",
        ),
        rx.link(
            rx.button(
                rx.icon("square-pen", size=16),
                "New chat",
                variant="soft",
                width="100%",
                justify_content="start",
            ),
            href="/",
            width="100%",
            on_click=SidebarState.close_drawer,
            data_testid="new-chat",
        ),
        rx.input(
            rx.input.slot(rx.icon("search", size=14)),
            placeholder="Search chats",
            type="search",
            # Uncontrolled and debounced: the server hears a pause in typing, not each key.
            default_value=SidebarState.search,
            on_change=SidebarState.search_changed.debounce(300),  # type: ignore[attr-defined]
            width="100%",
            aria_label="Search chats",
            data_testid="search",
        ),
        # A plain scrolling box: Radix's scroll area lets wide content (long titles) widen the
        # list past the sidebar instead of truncating it.
        rx.box(_list(), overflow_y="auto", flex="1", min_height="0", width="100%"),
        spacing="3",
        padding="0.75em",
        height="100dvh",
        width=SIDEBAR_WIDTH,
        max_width="85vw",
        flex_shrink="0",
        background="var(--gray-2)",
        border_right="1px solid var(--gray-a5)",
        # Phone: fixed and slid out of view unless open. Desktop: an ordinary column.
        position=_responsive("fixed", "static"),
        top="0",
        left="0",
        z_index=_responsive("30", "auto"),
        transform=_responsive(
            rx.cond(SidebarState.drawer_open, "none", "translateX(-105%)"), "none"
        ),
        transition="transform 0.2s ease",
        data_testid="sidebar",
    )


def drawer_backdrop() -> rx.Component:
    return rx.cond(
        SidebarState.drawer_open,
        rx.box(
            position="fixed",
            inset="0",
            background="var(--black-a8)",
            z_index="20",
            display=_responsive("block", "none"),
            on_click=SidebarState.close_drawer,
        ),
    )


def drawer_button() -> rx.Component:
    return rx.icon_button(
        rx.icon("menu", size=20),
        variant="ghost",
        color_scheme="gray",
        display=_responsive("inline-flex", "none"),
        on_click=SidebarState.set_drawer(True),  # type: ignore[operator]
        aria_label="Open the chat list",
        data_testid="open-sidebar",
    )
