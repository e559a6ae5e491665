"""Reply intents: decisions grouped into one reply per mention, or none when nothing is worth saying."""

import json
import re

import pytest

from bot.domain.campaigns import Campaign
from bot.domain.enrolment import Decision, Outcome
from bot.domain.replies import REPLY_TEMPLATE, ReplyIntent, enrolment_reply, ref_code, suggest_campaign
from tests.fakes import campaign

MCDONALDS = campaign()
ZAPPOS = campaign(id="amex-zappos", hashtag="#AmexZappos", merchant="Zappos.com")
CAMPAIGNS = {c.key: c for c in (MCDONALDS, ZAPPOS)}
GROUPS = ("enrolled", "already_enrolled", "sold_out", "not_started", "ended", "budget_spent", "retired",
          "suggestions")


def suggest(hashtag: str) -> Campaign | None:
    """Suggest among the two test campaigns, as the catalog does among its own."""
    return suggest_campaign(hashtag, CAMPAIGNS)


def reply_to(*decisions: Decision, post_id: str = "1900000000000000042") -> ReplyIntent | None:
    """Build the reply for decisions on one post by member 1001."""
    return enrolment_reply(post_id, "1001", decisions, suggest)


@pytest.mark.parametrize(
    ("outcome", "group"),
    [
        (Outcome.ENROLLED, "enrolled"),
        (Outcome.ALREADY_ENROLLED, "already_enrolled"),
        (Outcome.SOLD_OUT, "sold_out"),
        (Outcome.NOT_STARTED, "not_started"),
        (Outcome.ENDED, "ended"),
        (Outcome.BUDGET_SPENT, "budget_spent"),
        (Outcome.RETIRED, "retired"),
    ],
)
def test_each_outcome_lands_in_its_group(outcome: Outcome, group: str) -> None:
    """Each reply-worthy outcome puts the campaign summary in its own context list."""
    intent = reply_to(Decision("amexmcdonalds", outcome, MCDONALDS))
    assert intent is not None
    assert intent.context[group] == [MCDONALDS.summary()]
    assert all(intent.context[other] == [] for other in GROUPS if other != group)


def test_outcomes_are_grouped_in_order() -> None:
    """Several decisions fill several groups, each keeping the order written."""
    intent = reply_to(
        Decision("amexzappos", Outcome.ENROLLED, ZAPPOS),
        Decision("amexmcdonalds", Outcome.ENROLLED, MCDONALDS),
        Decision("amexmcdonalds", Outcome.ALREADY_ENROLLED, MCDONALDS),
    )
    assert intent is not None
    assert intent.context["enrolled"] == [ZAPPOS.summary(), MCDONALDS.summary()]
    assert intent.context["already_enrolled"] == [MCDONALDS.summary()]


def test_reply_addresses_the_post() -> None:
    """The intent is keyed by the post, replies to it and uses the reply template."""
    intent = reply_to(Decision("amexmcdonalds", Outcome.ENROLLED, MCDONALDS), post_id="42")
    assert intent is not None
    assert intent.dedupe_key == "post:42"
    assert intent.in_reply_to == "42"
    assert intent.member_id == "1001"
    assert intent.template == REPLY_TEMPLATE == "reply.j2"
    assert intent.context["ref"] == ref_code("42")


def test_context_is_json_safe() -> None:
    """The context survives a JSON round trip unchanged (it is stored in the outbox)."""
    intent = reply_to(Decision("amexmcdonalds", Outcome.ENROLLED, MCDONALDS),
                      Decision("amexmcdonals", Outcome.UNKNOWN_HASHTAG))
    assert intent is not None
    assert json.loads(json.dumps(intent.context)) == intent.context


@pytest.mark.parametrize(
    "decisions",
    [
        [],
        [Decision("fridayvibes", Outcome.UNKNOWN_HASHTAG)],
        [Decision("fridayvibes", Outcome.UNKNOWN_HASHTAG), Decision("yum", Outcome.UNKNOWN_HASHTAG)],
        [Decision("amexmcdonalds", Outcome.NOT_LINKED, MCDONALDS)],
        [Decision("amexmcdonalds", Outcome.NOT_LINKED, MCDONALDS),
         Decision("fridayvibes", Outcome.UNKNOWN_HASHTAG)],
    ],
    ids=["nothing", "banter", "more-banter", "not-linked", "not-linked-and-banter"],
)
def test_nothing_to_say_gives_no_reply(decisions: list[Decision]) -> None:
    """Unrelated unknown hashtags and not-linked decisions draw no reply."""
    assert reply_to(*decisions) is None


@pytest.mark.parametrize("typed", ["amexmcdonals", "amexmcdonald", "amexmcdonaldss", "amexmacdonalds"])
def test_typo_of_campaign_hashtag_gets_suggestion(typed: str) -> None:
    """An unknown hashtag close to a campaign's suggests that campaign."""
    intent = reply_to(Decision(typed, Outcome.UNKNOWN_HASHTAG))
    assert intent is not None
    assert intent.context["suggestions"] == [{"typed": f"#{typed}", **MCDONALDS.summary()}]
    assert intent.context["suggestions"][0]["hashtag"] == "#AmexMcDonalds"


def test_suggestion_sits_beside_enrolment() -> None:
    """A typo next to a valid hashtag adds a suggestion to the enrolment reply."""
    intent = reply_to(Decision("amexzappos", Outcome.ENROLLED, ZAPPOS),
                      Decision("amexmcdonals", Outcome.UNKNOWN_HASHTAG))
    assert intent is not None
    assert intent.context["enrolled"] == [ZAPPOS.summary()]
    assert [s["hashtag"] for s in intent.context["suggestions"]] == ["#AmexMcDonalds"]


def test_ref_code_is_stable_and_six_characters() -> None:
    """ref_code gives the same six base32 characters for the same seed, others for others."""
    code = ref_code("1900000000000000042")
    assert code == ref_code("1900000000000000042")
    assert re.fullmatch(r"[A-Z2-7]{6}", code)
    assert code != ref_code("1900000000000000043")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("amexmcdonals", "amex-mcdonalds"), ("amexzapos", "amex-zappos"), ("amexzappo", "amex-zappos"),
     ("fridayvibes", None), ("amex", None), ("", None)],
)
def test_suggest_campaign_finds_close_hashtags_only(typed: str, expected: str | None) -> None:
    """suggest_campaign returns the campaign a hashtag key is a near miss of, else None."""
    found = suggest_campaign(typed, CAMPAIGNS)
    assert (found.id if found else None) == expected


def test_suggest_campaign_without_campaigns_is_none() -> None:
    """With no campaigns there is nothing to suggest."""
    assert suggest_campaign("amexmcdonals", {}) is None


def test_suggest_is_asked_only_about_unknown_hashtags() -> None:
    """The suggest callable is consulted for unknown hashtags, never for known campaigns."""
    asked: list[str] = []

    def recording_suggest(hashtag: str) -> Campaign | None:
        asked.append(hashtag)
        return None

    intent = enrolment_reply("42", "1001", [Decision("amexmcdonalds", Outcome.ENROLLED, MCDONALDS),
                                            Decision("fridayvibes", Outcome.UNKNOWN_HASHTAG)],
                             recording_suggest)
    assert asked == ["fridayvibes"]
    assert intent is not None
    assert intent.context["suggestions"] == []
