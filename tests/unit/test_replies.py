"""Reply intents: decisions grouped into one reply per mention, or none when nothing is worth saying."""

import json
import re

import pytest

from bot.domain.campaigns import Campaign
from bot.domain.enrolment import Decision, EnrolmentOutcome
from bot.domain.replies import (
    REPLY_TEMPLATE,
    ReplyIntent,
    cap_lists,
    enrolment_reply,
    quote_hashtag,
    ref_code,
    suggest_campaign,
)
from tests.fakes import campaign

MCDONALDS = campaign()
ZAPPOS = campaign(id="amex-zappos", hashtag="#AmexZappos", merchant="Zappos.com")
CAMPAIGNS = {c.key: c for c in (MCDONALDS, ZAPPOS)}
GROUPS = ("enrolled", "already_enrolled", "sold_out", "not_started", "opened_after_post", "ended",
          "budget_spent", "retired", "suggestions", "unknown")


def suggest(hashtag: str) -> Campaign | None:
    """Suggest among the two test campaigns, as the catalog does among its own."""
    return suggest_campaign(hashtag, CAMPAIGNS)


def reply_to(*decisions: Decision, post_id: str = "1900000000000000042") -> ReplyIntent | None:
    """Build the reply for decisions on one post by member 1001."""
    return enrolment_reply(post_id, "1001", decisions, suggest)


@pytest.mark.parametrize(
    ("outcome", "group"),
    [
        (EnrolmentOutcome.ENROLLED, "enrolled"),
        (EnrolmentOutcome.ALREADY_ENROLLED, "already_enrolled"),
        (EnrolmentOutcome.SOLD_OUT, "sold_out"),
        (EnrolmentOutcome.NOT_STARTED, "not_started"),
        (EnrolmentOutcome.OPENED_AFTER_POST, "opened_after_post"),
        (EnrolmentOutcome.ENDED, "ended"),
        (EnrolmentOutcome.BUDGET_SPENT, "budget_spent"),
        (EnrolmentOutcome.RETIRED, "retired"),
    ],
)
def test_each_outcome_lands_in_its_group(outcome: EnrolmentOutcome, group: str) -> None:
    """Each reply-worthy outcome puts the campaign summary in its own context list."""
    intent = reply_to(Decision("amexmcdonalds", outcome, MCDONALDS))
    assert intent is not None
    assert intent.context[group] == [MCDONALDS.summary()]
    assert all(intent.context[other] == [] for other in GROUPS if other != group)


def test_outcomes_are_grouped_in_order() -> None:
    """Several decisions fill several groups, each keeping the order written."""
    intent = reply_to(
        Decision("amexzappos", EnrolmentOutcome.ENROLLED, ZAPPOS),
        Decision("amexmcdonalds", EnrolmentOutcome.ENROLLED, MCDONALDS),
        Decision("amexmcdonalds", EnrolmentOutcome.ALREADY_ENROLLED, MCDONALDS),
    )
    assert intent is not None
    assert intent.context["enrolled"] == [ZAPPOS.summary(), MCDONALDS.summary()]
    assert intent.context["already_enrolled"] == [MCDONALDS.summary()]


def test_reply_addresses_the_post() -> None:
    """The intent is keyed by the post, replies to it and uses the reply template."""
    intent = reply_to(Decision("amexmcdonalds", EnrolmentOutcome.ENROLLED, MCDONALDS), post_id="42")
    assert intent is not None
    assert intent.dedupe_key == "post:42"
    assert intent.in_reply_to == "42"
    assert intent.member_id == "1001"
    assert intent.template == REPLY_TEMPLATE == "reply.j2"
    assert intent.context["ref"] == ref_code("42")


def test_context_is_json_safe() -> None:
    """The context survives a JSON round trip unchanged (it is stored in the outbox)."""
    intent = reply_to(Decision("amexmcdonalds", EnrolmentOutcome.ENROLLED, MCDONALDS),
                      Decision("amexmcdonals", EnrolmentOutcome.UNKNOWN_HASHTAG))
    assert intent is not None
    assert json.loads(json.dumps(intent.context)) == intent.context


@pytest.mark.parametrize(
    "decisions",
    [
        [],
        [Decision("amexmcdonalds", EnrolmentOutcome.NOT_LINKED, MCDONALDS)],
        [Decision("amexmcdonalds", EnrolmentOutcome.NOT_LINKED, MCDONALDS),
         Decision("fridayvibes", EnrolmentOutcome.UNKNOWN_HASHTAG)],
        [Decision("378282246310005", EnrolmentOutcome.UNKNOWN_HASHTAG)],
    ],
    ids=["nothing", "not-linked", "not-linked-and-banter", "card-number-hashtag"],
)
def test_nothing_to_say_gives_no_reply(decisions: list[Decision]) -> None:
    """Not-linked decisions, and hashtags holding a card number, draw no reply."""
    assert reply_to(*decisions) is None


def test_hashtags_like_no_offer_are_named_as_typed_when_the_post_names_nothing_else() -> None:
    """Issue 11: a linked member whose hashtags name no offer and look like none hears so, as typed."""
    intent = reply_to(Decision("fridayvibes", EnrolmentOutcome.UNKNOWN_HASHTAG, typed="FridayVibes"),
                      Decision("yum", EnrolmentOutcome.UNKNOWN_HASHTAG))
    assert intent is not None
    assert intent.context["unknown"] == [{"typed": "#FridayVibes"}, {"typed": "#yum"}]


def test_unknown_hashtags_beside_an_offer_are_not_named() -> None:
    """Next to a campaign hashtag, a hashtag like no offer is left out of the reply."""
    intent = reply_to(Decision("amexzappos", EnrolmentOutcome.ENROLLED, ZAPPOS),
                      Decision("yum", EnrolmentOutcome.UNKNOWN_HASHTAG))
    assert intent is not None
    assert intent.context["unknown"] == []


@pytest.mark.parametrize(("typed", "quoted"), [
    ("AmexMcDonals", "#AmexMcDonals"),
    ("#Ａｍｅｘ", "#Ａｍｅｘ"),
    ("a" * 30, "#" + "a" * 30),
    ("b" * 31, "#" + "b" * 30 + "…"),
    ("evil\u202etxt.exe", "#eviltxtexe"),
    ("378282246310005", None),
    ("‮", None),
])
def test_a_quoted_hashtag_is_bounded_and_safe(typed: str, quoted: str | None) -> None:
    """A member's hashtag is quoted with its word characters only, at most 30, never a card number."""
    assert quote_hashtag(typed) == quoted


def test_every_list_is_capped_with_a_count_of_the_rest() -> None:
    """Five misspelt hashtags name three suggestions and count two more; other lists count nothing."""
    typos = ["amexmcdonals", "amexmcdonald", "amexmcdonaldss", "amexmacdonalds", "amexmcdnalds"]
    intent = reply_to(*(Decision(t, EnrolmentOutcome.UNKNOWN_HASHTAG, typed=t) for t in typos))
    assert intent is not None
    assert [s["typed"] for s in intent.context["suggestions"]] == ["#" + t for t in typos[:3]]
    assert intent.context["more"] == {"suggestions": 2}  # lists that name everything count nothing


def test_cap_lists_is_generic_over_every_list() -> None:
    """Any list in the context is capped, a group added later included."""
    context = cap_lists({"budget_spent": list(range(8)), "ref": "R"})
    assert context == {"budget_spent": [0, 1, 2, 3, 4], "ref": "R", "more": {"budget_spent": 3}}


@pytest.mark.parametrize("typed", ["amexmcdonals", "amexmcdonald", "amexmcdonaldss", "amexmacdonalds"])
def test_typo_of_campaign_hashtag_gets_suggestion(typed: str) -> None:
    """An unknown hashtag close to a campaign's suggests that campaign."""
    intent = reply_to(Decision(typed, EnrolmentOutcome.UNKNOWN_HASHTAG))
    assert intent is not None
    assert intent.context["suggestions"] == [{"typed": f"#{typed}", **MCDONALDS.summary()}]
    assert intent.context["more"] == {}
    assert intent.context["suggestions"][0]["hashtag"] == "#AmexMcDonalds"


def test_suggestion_sits_beside_enrolment() -> None:
    """A typo next to a valid hashtag adds a suggestion to the enrolment reply."""
    intent = reply_to(Decision("amexzappos", EnrolmentOutcome.ENROLLED, ZAPPOS),
                      Decision("amexmcdonals", EnrolmentOutcome.UNKNOWN_HASHTAG))
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

    intent = enrolment_reply("42", "1001", [Decision("amexmcdonalds", EnrolmentOutcome.ENROLLED, MCDONALDS),
                                            Decision("fridayvibes", EnrolmentOutcome.UNKNOWN_HASHTAG)],
                             recording_suggest)
    assert asked == ["fridayvibes"]
    assert intent is not None
    assert intent.context["suggestions"] == []


def test_credit_notices_are_direct_messages_naming_the_credit_a_clawback_reverses() -> None:
    """A credit or clawback notice is a DM to the member (no thread); a clawback carries the reversed
    credit's ref and amount, and whether all of it went."""
    from datetime import date

    from bot.domain.reconcile import Credit
    from bot.domain.replies import DM, credit_notice, credit_ref

    credit = Credit("CRABC123xyz", "T1", "amex-mcdonalds", "1001", "credit", 500, "USD", "0005", 1250,
                    "MID-MCD-0001", date(2026, 11, 21))
    partial = Credit("CLDEF456xyz", "T2", "amex-mcdonalds", "1001", "clawback", -250, "USD", "0005", 600,
                     "MID-MCD-0001", date(2026, 11, 22), reverses=credit.credit_id)

    notice = credit_notice(credit, MCDONALDS, "5001")
    clawback = credit_notice(partial, MCDONALDS, "5001", credit)

    assert (notice.channel, notice.thread, notice.member_id, notice.dedupe_key) == (DM, None, "1001",
                                                                                    "credit:CRABC123xyz")
    assert credit_ref(credit.credit_id) == "ABC123"
    assert clawback.context == {"kind": "clawback", "amount": "$2.50", "merchant": "McDonald's",
                                     "hashtag": "#AmexMcDonalds", "ref": "DEF456", "reversed_ref": "ABC123",
                                     "reversed_amount": "$5.00", "whole": False}
    assert credit_notice(partial._replace(cents=-500), MCDONALDS, "5001", credit).context["whole"] is True
    assert credit_notice(partial, MCDONALDS, "5001").context["reversed_amount"] is None
