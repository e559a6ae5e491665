"""Reply templates: the texts members read, folded to one line and within X's 280 weighted characters."""

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.adapters.templates import MAX_WEIGHTED_LENGTH, TemplateRenderer, weighted_length
from bot.domain.replies import CREDIT_TEMPLATE, REPLY_TEMPLATE
from bot.errors import BotError, ReplyTooLong
from tests.conftest import examples
from tests.fakes import REF, campaign, reply_context

MCDONALDS = campaign().summary()
ZAPPOS = campaign(id="amex-zappos", hashtag="#AmexZappos", merchant="Zappos.com",
                  credit=Decimal("10.00"), min_spend=Decimal("75.00")).summary()
FEDEX = campaign(id="amex-fedex", hashtag="#AmexFedEx", merchant="FedEx Office",
                 min_spend=Decimal("20.00")).summary()
VIRGIN = campaign(id="amex-virgin-america", hashtag="#AmexVirginAmer", merchant="Virgin America",
                  credit=None, percent=Decimal("10"), max_credit=Decimal("50.00"),
                  min_spend=Decimal("0")).summary()


def credit_context(kind: str) -> dict[str, str]:
    """Return a credit.j2 context for a $5.00 McDonald's credit of ``kind``."""
    return {"kind": kind, "amount": "$5.00", "merchant": "McDonald's", "hashtag": "#AmexMcDonalds",
            "ref": REF}


def assert_one_line(text: str) -> None:
    """Check a rendered text is folded: single spaces, no newlines, no edge spaces."""
    assert text == " ".join(text.split())


@pytest.fixture
def tmp_renderer(tmp_path: Path) -> TemplateRenderer:
    """A renderer over an empty temporary templates folder (tests write their own templates)."""
    return TemplateRenderer(tmp_path)


def test_enrolled_in_one_campaign(renderer: TemplateRenderer) -> None:
    """Enrolling in one campaign names it, its reward, merchant and deadline, then the ref."""
    text = renderer.render(REPLY_TEMPLATE, reply_context(enrolled=[MCDONALDS]))
    assert text == ("You're enrolled in #AmexMcDonalds: $5 back on $5+ at McDonald's when you pay "
                    "with your synced card by Jan 31, 2027. Ref ABC234")


def test_enrolled_in_two_campaigns(renderer: TemplateRenderer) -> None:
    """Enrolling in two campaigns names both hashtags and ends with the ref."""
    text = renderer.render(REPLY_TEMPLATE, reply_context(enrolled=[MCDONALDS, ZAPPOS]))
    assert "You're enrolled in #AmexMcDonalds: $5 back on $5+ at McDonald's" in text
    assert "You're enrolled in #AmexZappos: $10 back on $75+ at Zappos.com" in text
    assert text.index("#AmexMcDonalds") < text.index("#AmexZappos")
    assert re.search(r" Ref [A-Z2-7]{6}$", text)
    assert_one_line(text)


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        ({"already_enrolled": [MCDONALDS]},
         "You're already enrolled in #AmexMcDonalds; no need to post again. Ref ABC234"),
        ({"already_enrolled": [MCDONALDS, ZAPPOS]},
         "You're already enrolled in #AmexMcDonalds, #AmexZappos; no need to post again. Ref ABC234"),
        ({"sold_out": [MCDONALDS]},
         "Sorry, #AmexMcDonalds is sold out: every enrolment has been taken. Ref ABC234"),
        ({"sold_out": [MCDONALDS, ZAPPOS]},
         "Sorry, #AmexMcDonalds, #AmexZappos are sold out: every enrolment has been taken. Ref ABC234"),
        ({"not_started": [MCDONALDS]},
         "#AmexMcDonalds opens Nov 1, 2026; post again then to enrol. Ref ABC234"),
        ({"ended": [ZAPPOS]},
         "#AmexZappos closed to new enrolments on Dec 31, 2026. Ref ABC234"),
        ({"suggestions": [{"typed": "#amexmcdonals", **MCDONALDS}]},
         "We found no offer called #amexmcdonals. Did you mean #AmexMcDonalds? Ref ABC234"),
        ({"budget_spent": [ZAPPOS]},
         "Sorry, #AmexZappos has closed: the offer's budget has been used up. Ref ABC234"),
        ({"budget_spent": [MCDONALDS, ZAPPOS]},
         "Sorry, #AmexMcDonalds, #AmexZappos have closed: the offer's budget has been used up. Ref ABC234"),
        ({"retired": [ZAPPOS]}, "#AmexZappos has ended: no new enrolments are taken. Ref ABC234"),
        ({"retired": [MCDONALDS, ZAPPOS]},
         "#AmexMcDonalds, #AmexZappos have ended: no new enrolments are taken. Ref ABC234"),
    ],
    ids=["already", "already-two", "sold-out", "sold-out-two", "not-started", "ended", "suggestion",
         "budget-spent", "budget-spent-two", "retired", "retired-two"],
)
def test_reply_texts(renderer: TemplateRenderer, groups: dict[str, list[dict[str, str]]],
                     expected: str) -> None:
    """Each outcome has its own sentence, followed by the ref after a space."""
    assert renderer.render(REPLY_TEMPLATE, reply_context(**groups)) == expected


def test_reply_queued_before_the_budget_and_retired_groups_still_renders(renderer: TemplateRenderer) -> None:
    """A reply queued by an earlier version (its context lacks the newer groups) is still sent."""
    context = reply_context(enrolled=[MCDONALDS])
    del context["budget_spent"], context["retired"]
    assert renderer.render(REPLY_TEMPLATE, context).startswith("You're enrolled in #AmexMcDonalds")


def test_budget_and_retired_sentences_sit_apart_from_the_others(renderer: TemplateRenderer) -> None:
    """The budget-spent and retired sentences are separated from their neighbours by one space."""
    context = reply_context(ended=[MCDONALDS], budget_spent=[ZAPPOS], retired=[FEDEX],
                            suggestions=[{"typed": "#amexzapos", **ZAPPOS}])
    text = renderer.render(REPLY_TEMPLATE, context)
    assert_one_line(text)
    assert re.search(r"[.?!;:][A-Z#]", text) is None, text
    assert ("closed to new enrolments on Dec 31, 2026. Sorry, #AmexZappos has closed: the offer's budget "
            "has been used up. #AmexFedEx has ended: no new enrolments are taken. We found no offer") in text


def test_compact_budget_and_retired_sentences_keep_every_hashtag(renderer: TemplateRenderer) -> None:
    """In compact form the budget and retired sentences drop their clause but name each hashtag."""
    context = reply_context(enrolled=[MCDONALDS, ZAPPOS, FEDEX, VIRGIN], budget_spent=[FEDEX],
                            retired=[VIRGIN])
    text = renderer.render(REPLY_TEMPLATE, context)
    assert "Sorry, #AmexFedEx has closed." in text
    assert "#AmexVirginAmer has ended." in text
    assert weighted_length(text) <= MAX_WEIGHTED_LENGTH


def test_mixed_reply_keeps_sentences_apart(renderer: TemplateRenderer) -> None:
    """A reply covering every group separates its sentences by single spaces."""
    context = reply_context(enrolled=[MCDONALDS], already_enrolled=[ZAPPOS], sold_out=[VIRGIN],
                            not_started=[FEDEX], suggestions=[{"typed": "#amexzapos", **ZAPPOS}])
    text = renderer.render(REPLY_TEMPLATE, context)
    assert_one_line(text)
    assert re.search(r"[.?!;:][A-Z#]", text) is None, text
    for sentence in ("You're enrolled in #AmexMcDonalds", "You're already enrolled in #AmexZappos",
                     "Sorry, #AmexVirginAmer is sold out", "#AmexFedEx opens",
                     "Did you mean #AmexZappos?"):
        assert sentence in text
    assert text.endswith(" Ref ABC234")


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("credit", "Good news: your $5.00 statement credit from McDonald's (#AmexMcDonalds) is on its way. "
                   "Ref ABC234"),
        ("clawback", "Your McDonald's purchase was refunded, so the $5.00 credit from #AmexMcDonalds has "
                     "been reversed. Ref ABC234"),
    ],
)
def test_credit_texts(renderer: TemplateRenderer, kind: str, expected: str) -> None:
    """credit.j2 announces a credit, or its reversal after a refund, with the ref."""
    assert renderer.render(CREDIT_TEMPLATE, credit_context(kind)) == expected


@pytest.mark.parametrize(
    "context",
    [
        reply_context(enrolled=[MCDONALDS, ZAPPOS]),
        reply_context(not_started=[MCDONALDS], ended=[ZAPPOS]),
        reply_context(suggestions=[{"typed": "#a", **MCDONALDS}, {"typed": "#b", **ZAPPOS}]),
    ],
    ids=["enrolled", "not-active", "suggestions"],
)
def test_whitespace_is_folded(renderer: TemplateRenderer, context: dict[str, Any]) -> None:
    """Multi-line templates render as one line with single spaces."""
    assert_one_line(renderer.render(REPLY_TEMPLATE, context))


def test_template_whitespace_is_folded(tmp_path: Path, tmp_renderer: TemplateRenderer) -> None:
    """Newlines, tabs and runs of spaces written in a template become single spaces."""
    (tmp_path / "spaced.j2").write_text("\n  Hello,\t\tworld.\n\n   Bye   now.  \n", encoding="utf-8")
    assert tmp_renderer.render("spaced.j2", {}) == "Hello, world. Bye now."


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("hello", 5),
        ("café", 4),
        ("😀", 2),
        ("hi 😀", 5),
        ("中文", 4),
        ("日本語のテキスト", 16),
        ("https://example.com/" + "a" * 100, 23),
        ("see https://example.com/x now", 4 + 23 + 4),
        ("", 0),
    ],
)
def test_weighted_length(text: str, length: int) -> None:
    """Length is counted as X does: emoji and CJK count 2, any URL 23."""
    assert weighted_length(text) == length


def test_many_campaigns_fall_back_to_compact_form(renderer: TemplateRenderer) -> None:
    """When the full reply is over 280, the compact form is sent and still names every hashtag."""
    enrolled = [MCDONALDS, ZAPPOS, FEDEX, VIRGIN]
    full = " ".join(f"You're enrolled in {c['hashtag']}: {c['reward']} at {c['merchant']} when you pay "
                    f"with your synced card by {c['redeem_by']}." for c in enrolled)
    assert weighted_length(full) > MAX_WEIGHTED_LENGTH  # the full form cannot be used
    text = renderer.render(REPLY_TEMPLATE, reply_context(enrolled=enrolled))
    assert text == ("You're enrolled in #AmexMcDonalds, #AmexZappos, #AmexFedEx, #AmexVirginAmer. "
                    "Pay with your synced card. Ref ABC234")
    assert weighted_length(text) <= MAX_WEIGHTED_LENGTH


def test_compact_form_drops_optional_clauses(renderer: TemplateRenderer) -> None:
    """In compact form the optional clauses go but every hashtag stays."""
    context = reply_context(enrolled=[MCDONALDS, ZAPPOS, FEDEX, VIRGIN], already_enrolled=[ZAPPOS],
                            sold_out=[VIRGIN], not_started=[FEDEX])
    text = renderer.render(REPLY_TEMPLATE, context)
    assert weighted_length(text) <= MAX_WEIGHTED_LENGTH
    assert "no need to post again" not in text
    assert "every enrolment has been taken" not in text
    assert "post again then" not in text
    for hashtag in ("#AmexMcDonalds", "#AmexZappos", "#AmexFedEx", "#AmexVirginAmer"):
        assert hashtag in text
    assert text.endswith(" Ref ABC234")


def test_a_reply_too_long_even_compact_names_fewer_and_still_fits(renderer: TemplateRenderer) -> None:
    """Issue 11: a reply too long even in compact form names fewer items ('and N more'); it is never
    refused for length (it raised ReplyTooLong before)."""
    enrolled = [campaign(id=f"c{n}", hashtag=f"#AmexVeryLongCampaignName{n:02}" + "x" * 60).summary()
                for n in range(30)]
    text = renderer.render(REPLY_TEMPLATE, reply_context(enrolled=enrolled))
    assert weighted_length(text) <= MAX_WEIGHTED_LENGTH
    assert text.startswith("You're enrolled in #AmexVeryLongCampaignName00")
    assert re.search(r" and 2[6-9] more\. Pay with your synced card\. Ref ABC234$", text), text


def test_compact_flag_is_tried_second(tmp_path: Path, tmp_renderer: TemplateRenderer) -> None:
    """A template is rendered with compact false first and true only when too long."""
    (tmp_path / "long.j2").write_text(
        "{% if compact %}Short form.{% else %}{{ 'word ' * n }}{% endif %}", encoding="utf-8")
    assert tmp_renderer.render("long.j2", {"n": 10}) == " ".join(["word"] * 10)
    assert tmp_renderer.render("long.j2", {"n": 100}) == "Short form."


def test_always_long_template_raises(tmp_path: Path, tmp_renderer: TemplateRenderer) -> None:
    """A template over 280 in both forms raises ReplyTooLong naming it."""
    (tmp_path / "huge.j2").write_text("{{ 'x' * 300 }}", encoding="utf-8")
    with pytest.raises(ReplyTooLong, match=r"huge\.j2 renders to 300 weighted characters"):
        tmp_renderer.render("huge.j2", {})


def test_undefined_variable_raises_bot_error(tmp_path: Path, tmp_renderer: TemplateRenderer) -> None:
    """A misspelt variable fails loudly as a BotError naming the template, not as empty text."""
    (tmp_path / "typo.j2").write_text("Hello {{ merchnat }}.", encoding="utf-8")
    with pytest.raises(BotError, match=r"typo\.j2.*template error.*merchnat"):
        tmp_renderer.render("typo.j2", {"merchant": "McDonald's"})


def test_template_syntax_error_raises_bot_error(tmp_path: Path, tmp_renderer: TemplateRenderer) -> None:
    """A template syntax error is a BotError naming the file and line."""
    (tmp_path / "broken.j2").write_text("line one\n{% if %}\n", encoding="utf-8")
    with pytest.raises(BotError, match=r"broken\.j2:2: template error"):
        tmp_renderer.render("broken.j2", {})


def test_missing_template_raises_bot_error(tmp_renderer: TemplateRenderer) -> None:
    """Asking for a template that does not exist is a BotError."""
    with pytest.raises(BotError, match=r"missing\.j2"):
        tmp_renderer.render("missing.j2", {})


def test_plain_text_is_not_html_escaped(renderer: TemplateRenderer) -> None:
    """Replies are plain text: apostrophes and ampersands are not turned into entities."""
    merchant = campaign(merchant="Ben & Jerry's").summary()
    text = renderer.render(REPLY_TEMPLATE, reply_context(enrolled=[merchant]))
    assert "Ben & Jerry's" in text
    assert "&amp;" not in text
    assert "&#39;" not in text


def test_opt_out_confirmation_text(renderer: TemplateRenderer) -> None:
    """stopped.j2 tells the member they are unlinked and will not hear from the bot again."""
    from bot.domain.replies import OPT_OUT_TEMPLATE

    assert renderer.render(OPT_OUT_TEMPLATE, {"ref": REF}) == (
        "You're unsubscribed: your X account is no longer linked to your card and we won't message "
        "you again. Ref ABC234")


@pytest.mark.parametrize("typos", [5, 8, 20])
def test_a_post_with_many_misspelt_hashtags_still_gets_a_reply_that_fits(
        renderer: TemplateRenderer, typos: int) -> None:
    """Issue 11: five or more misspelt hashtags are answered within 280, a few named, the rest counted."""
    from bot.domain.enrolment import Decision, EnrolmentOutcome
    from bot.domain.replies import enrolment_reply

    long_merchant = campaign(merchant="The Very Long Merchant Name Of A Restaurant Chain Inc")
    typed = [f"AmexMcDonald{'s' * (n % 3)}{n}" for n in range(typos)]
    intent = enrolment_reply("1900000000000000042", "1001",
                             [Decision(t.casefold(), EnrolmentOutcome.UNKNOWN_HASHTAG, typed=t)
                              for t in typed],
                             lambda _key: long_merchant)
    assert intent is not None

    text = renderer.render(intent.template, intent.context)

    assert weighted_length(text) <= MAX_WEIGHTED_LENGTH
    assert f"o offer called #{typed[0]}. Did you mean #AmexMcDonalds?" in text
    assert re.search(r"\d+ more hashtags name no offer\.", text), text


def test_hashtags_like_no_offer_get_a_short_reply_quoting_them_as_typed(renderer: TemplateRenderer) -> None:
    """A linked member naming only hashtags like no offer hears 'We found no offer called ...'."""
    context = reply_context(unknown=[{"typed": "#FridayVibes"}, {"typed": "#Yum"}])
    text = renderer.render(REPLY_TEMPLATE, context)
    assert text == "We found no offer called #FridayVibes, #Yum. Ref ABC234"


def test_a_post_made_before_the_offer_opened_is_told_to_post_again(renderer: TemplateRenderer) -> None:
    """Issue 13: an offer that opened after the post is not 'opens Nov 1' but 'opened on Nov 1, after
    your post'."""
    text = renderer.render(REPLY_TEMPLATE, reply_context(opened_after_post=[MCDONALDS]))
    assert text == ("#AmexMcDonalds opened on Nov 1, 2026, after your post; post #AmexMcDonalds again to "
                    "enrol. Ref ABC234")
    assert "opens" not in text


@pytest.mark.parametrize(("groups", "expected"), [
    ({"already_enrolled": [MCDONALDS] * 7},
     "You're already enrolled in " + ", ".join(["#AmexMcDonalds"] * 5) + " and 2 more; no need to post"),
    ({"sold_out": [ZAPPOS] * 6}, "Sorry, " + ", ".join(["#AmexZappos"] * 5) + " and 1 more are sold out"),
    ({"not_started": [FEDEX] * 7}, "2 more offers open later."),
    ({"ended": [FEDEX] * 6}, "1 more offer has closed."),
    ({"unknown": [{"typed": "#a"}] * 4}, "We found no offer called #a, #a, #a and 1 more."),
], ids=["already", "sold-out", "not-started", "ended", "unknown"])
def test_capped_lists_say_how_many_more(renderer: TemplateRenderer, groups: dict[str, Any],
                                        expected: str) -> None:
    """A capped list names its first items and counts the rest."""
    assert expected in renderer.render(REPLY_TEMPLATE, reply_context(**groups))


def test_a_reply_queued_before_this_version_still_renders(renderer: TemplateRenderer) -> None:
    """An outbox context without `more` or the newer groups renders as it did."""
    old = {"enrolled": [MCDONALDS], "already_enrolled": [], "sold_out": [], "not_started": [], "ended": [],
           "suggestions": [], "ref": REF}
    assert renderer.render(REPLY_TEMPLATE, old).startswith("You're enrolled in #AmexMcDonalds: $5 back")


def test_listing_names_items_and_counts_the_rest() -> None:
    """The listing filter joins names with commas, adds 'and N more', or says 'N offers' alone."""
    from bot.adapters.templates import listing

    tags = [{"hashtag": "#A"}, {"hashtag": "#B"}]
    assert (listing(tags), listing(tags, 3), listing([], 1), listing([], 4)) == (
        "#A, #B", "#A, #B and 3 more", "1 offer", "4 offers")


@pytest.mark.parametrize(("extra", "expected"), [
    ({"reversed_ref": "ABC123", "reversed_amount": "$5.00", "whole": False, "amount": "$2.50"},
     "$2.50 of your $5.00 McDonald's credit (ref ABC123) was reversed after a refund. Ref ABC234"),
    ({"reversed_ref": "ABC123", "reversed_amount": "$5.00", "whole": True},
     "Your $5.00 McDonald's credit (ref ABC123) was reversed after a refund. Ref ABC234"),
    ({"reversed_ref": "ABC123", "reversed_amount": None, "whole": False, "amount": "$2.50"},
     "$2.50 of your McDonald's credit (ref ABC123) was reversed after a refund. Ref ABC234"),
], ids=["partial", "whole", "amount-unknown"])
def test_a_clawback_says_how_much_of_which_credit_was_reversed(renderer: TemplateRenderer,
                                                               extra: dict[str, Any], expected: str) -> None:
    """The clawback DM names the reversed credit's amount and ref, and how much of it went."""
    assert renderer.render(CREDIT_TEMPLATE, {**credit_context("clawback"), **extra}) == expected


def test_every_reply_to_a_linked_member_fits_whatever_the_post_named(renderer: TemplateRenderer) -> None:
    """Property: for any mix of outcomes (up to 12 per group, hashtags up to 100 characters, merchant
    names up to 60, typos quoted as typed), the reply renders within 280 and never fails for length."""
    from bot.domain.enrolment import Decision, EnrolmentOutcome
    from bot.domain.replies import enrolment_reply

    words = st.text(st.sampled_from("AmexZaposMcDnl_0123456789ÄÖ中文"), min_size=1, max_size=100)
    campaigns = st.builds(lambda tag, merchant, n: campaign(id=f"c{n}", hashtag="#" + tag, merchant=merchant),
                          words, st.text(st.sampled_from("Big Merchant & Co. 😀"), min_size=1, max_size=60),
                          st.integers(0, 10**6))
    outcomes = st.sampled_from([EnrolmentOutcome.ENROLLED, EnrolmentOutcome.ALREADY_ENROLLED,
                                EnrolmentOutcome.SOLD_OUT, EnrolmentOutcome.NOT_STARTED,
                                EnrolmentOutcome.OPENED_AFTER_POST, EnrolmentOutcome.ENDED,
                                EnrolmentOutcome.UNKNOWN_HASHTAG])
    decision = st.builds(lambda outcome, c, typed: Decision(
                             typed.casefold(), outcome,
                             None if outcome is EnrolmentOutcome.UNKNOWN_HASHTAG else c, typed),
                         outcomes, campaigns, words)

    @settings(max_examples=examples(80), deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(decision, min_size=1, max_size=60), st.booleans())
    def fits(decisions: list[Decision], suggests: bool) -> None:
        suggestion = campaign(hashtag="#AmexMcDonalds" + "x" * 80) if suggests else None
        intent = enrolment_reply("1900000000000000042", "1001", decisions, lambda _key: suggestion)
        assert intent is not None
        assert weighted_length(renderer.render(intent.template, intent.context)) <= MAX_WEIGHTED_LENGTH

    fits()
