"""Edited posts: X gives an edit a new id, but it is the same interaction as the original.

An edit enrols in the campaigns it adds and is answered at most once more, only when something
new happened: a new enrolment, or news (sold out, ended, a suggestion...) about a hashtag the
edit added. Campaigns the member is in already are skipped in silence: never "already enrolled"
to one's own edit.
"""

from __future__ import annotations

from collections.abc import Iterable, Set

from bot.domain.enrolment import Decision, EnrolmentOutcome


def news_in_edit(decisions: Iterable[Decision], *, earlier: Set[str]) -> list[Decision]:
    """Return the decisions an edit's reply reports; ``earlier`` holds the hashtag keys of the
    versions handled before it."""
    return [d for d in decisions
            if d.outcome is EnrolmentOutcome.ENROLLED
            or (d.hashtag not in earlier
                and d.outcome not in (EnrolmentOutcome.ALREADY_ENROLLED, EnrolmentOutcome.NOT_LINKED))]


def edit_key(interaction_id: str) -> str:
    """Return the outbox key of the one further reply an interaction may get after an edit."""
    return f"edit:{interaction_id}"
