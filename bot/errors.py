"""The bot's own errors: adapters translate library exceptions into these, the CLI prints them."""

from __future__ import annotations

from datetime import datetime


class BotError(Exception):
    """Base of every error the bot expects and can explain."""


class ConfigError(BotError):
    """Configuration is missing or wrong: names the key and the fix."""

    def __init__(self, source: str, key: str, problem: str, fix: str) -> None:
        super().__init__(f"{source}: {key}: {problem}. Fix: {fix}")
        self.source, self.key, self.problem, self.fix = source, key, problem, fix


class MemberError(BotError):
    """A member could not be linked or unlinked (never carries a card number)."""


class ApiError(BotError):
    """The social API failed."""


class RateLimited(ApiError):
    """The API said 429: nothing more on this endpoint until ``reset_at``."""

    def __init__(self, endpoint: str, reset_at: datetime) -> None:
        super().__init__(f"{endpoint} is rate limited until {reset_at:%Y-%m-%d %H:%M:%S %Z}")
        self.endpoint, self.reset_at = endpoint, reset_at


class TransientApiError(ApiError):
    """A server error or timeout that may pass: retry later."""


class PermanentApiError(ApiError):
    """The API refused the request and will refuse it again."""


class AuthError(PermanentApiError):
    """401 or 403 on every request: credentials are wrong or lack permission."""


class DuplicateContent(PermanentApiError):
    """X refused a post because an identical one exists: it was already sent."""


class ReplyNotAllowed(PermanentApiError):
    """X refused a reply to this post (the author did not engage the bot)."""


class DmNotAllowed(PermanentApiError):
    """X refused a direct message to this member (they do not accept DMs from the bot)."""


class ReplyTooLong(BotError):
    """A rendered reply is over X's 280 weighted characters."""

    def __init__(self, template: str, weighted_length: int) -> None:
        super().__init__(
            f"{template} renders to {weighted_length} weighted characters (limit 280); "
            "shorten the template or the campaign's merchant name")
        self.template, self.weighted_length = template, weighted_length


class NotRetryable(BotError):
    """An outbox message cannot be sent again: it is not failed or undeliverable, or its member
    is no longer linked."""


class FileRejected(BotError):
    """A whole input file was refused before any row was used."""


class SensitiveFileRejected(FileRejected):
    """A file refused because it carries card security codes, track data or PINs: never kept."""


class SchemaOutdated(BotError):
    """The database is not at the schema revision this version of the bot needs."""


class Busy(BotError):
    """Another instance holds the lock this work needs; try again later."""
