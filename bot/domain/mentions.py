"""Posts that mention the bot, as the domain sees them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from bot.domain.optout import is_opt_out


class Command(StrEnum):
    """What a mention asks of the bot."""

    ENROL = "enrol"
    STOP = "stop"
    NONE = "none"


@dataclass(frozen=True)
class Mention:
    """A post that @mentions the bot."""

    post_id: str
    author_id: str
    text: str
    hashtags: tuple[str, ...]  # comparison keys, first-seen order
    created_at: datetime | None = None
    author_handle: str | None = None
    is_retweet: bool = False
    typed_hashtags: tuple[str, ...] = ()  # each hashtag as the member typed it, by ``hashtags``
    # X gives an edit a new id; its edit history starts with the original's: the interaction.
    interaction_id: str | None = None

    @property
    def interaction(self) -> str:
        """Return the id of the interaction this post belongs to: its original's id (or its own)."""
        return self.interaction_id or self.post_id

    def typed(self, key: str) -> str:
        """Return hashtag ``key`` as the member typed it (without '#'), or the key itself."""
        if len(self.typed_hashtags) == len(self.hashtags) and key in self.hashtags:
            return self.typed_hashtags[self.hashtags.index(key)]
        return key

    def command(self) -> Command:
        """Return what the post asks: STOP (it wins over any hashtag), ENROL (hashtags) or NONE."""
        if is_opt_out(self.text):
            return Command.STOP
        return Command.ENROL if self.hashtags else Command.NONE

    def acted_at(self, now: datetime) -> datetime:
        """Return when the member acted: the post's time, never later than ``now``."""
        if self.created_at is None:
            return now
        return min(self.created_at, now)


@dataclass(frozen=True)
class MentionPage:
    """One page of the mentions timeline, newest first as X returns it."""

    mentions: tuple[Mention, ...]
    newest_id: str | None


class HandledPost(NamedTuple):
    """A mention the bot has handled, as it is kept: the once-only guard of polling.

    ``interaction_id`` is the original's id (the post's own unless it is an edit); ``hashtags``
    the hashtag keys it named, space-separated.
    """

    post_id: str
    author_id: str
    created_at: datetime | None
    processed_at: datetime
    outcome: str
    interaction_id: str | None = None
    hashtags: str = ""
