"""SQLModel tables; importing this package registers them all on ``SQLModel.metadata``."""

from chat_app.models.api_token import ApiToken, ApiTokenCreate, ApiTokenPublic
from chat_app.models.conversation import (
    Conversation,
    ConversationCreate,
    ConversationPublic,
    ConversationUpdate,
)
from chat_app.models.login_records import LoginThrottleEntry, RedeemedLoginTicket
from chat_app.models.message import Message, MessagePublic, MessageStatus, Role
from chat_app.models.user import User, UserCreate, UserPublic

__all__ = [
    "ApiToken",
    "ApiTokenCreate",
    "ApiTokenPublic",
    "Conversation",
    "ConversationCreate",
    "ConversationPublic",
    "ConversationUpdate",
    "LoginThrottleEntry",
    "Message",
    "MessagePublic",
    "MessageStatus",
    "RedeemedLoginTicket",
    "Role",
    "User",
    "UserCreate",
    "UserPublic",
]
