"""Campaign rules: parsing a campaign table, its status over time, credits and display texts."""

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.campaigns import (
    CARD_NUMBER_IN_TEXT,
    Campaign,
    CampaignInvalid,
    CampaignStatus,
    CatalogProblem,
    campaign_from_definition,
    check_catalog,
    parse_campaign,
)
from tests.fakes import START, campaign

NEW_YORK = ZoneInfo("America/New_York")
REMOVE = object()  # marks a key to delete from the valid table


def table(**changes: Any) -> dict[str, Any]:
    """Return a valid campaign table as tomllib (parse_float=Decimal) gives it, with changes."""
    data: dict[str, Any] = {
        "id": "amex-mcdonalds",
        "merchant": "McDonald's",
        "hashtag": "#AmexMcDonalds",
        "merchant_ids": ["MID-MCD-0001", "MID-MCD-0002"],
        "enrol_from": date(2026, 11, 1),
        "enrol_until": date(2026, 12, 31),
        "redeem_by": date(2027, 1, 31),
        "min_spend": Decimal("5.00"),
        "credit": Decimal("5.00"),
        "currency": "USD",
    }
    for key, value in changes.items():
        if value is REMOVE:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def percent_table(**changes: Any) -> dict[str, Any]:
    """Return a valid 10%-back-up-to-$50 campaign table, with changes."""
    base: dict[str, Any] = {"credit": REMOVE, "percent": 10, "max_credit": Decimal("50.00")}
    return table(**{**base, **changes})


def errors_of(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Return the (field, message) pairs parse_campaign reports for ``data``."""
    with pytest.raises(CampaignInvalid) as caught:
        parse_campaign(data, UTC)
    return [(error.field, error.message) for error in caught.value.errors]


# --- parsing -------------------------------------------------------------------------------


def test_valid_table_gives_campaign() -> None:
    """A valid table parses into a Campaign with tuples, '#'-prefixed hashtag and cent amounts."""
    parsed = parse_campaign(table(), UTC)
    assert parsed == Campaign(
        id="amex-mcdonalds", merchant="McDonald's", hashtag="#AmexMcDonalds",
        merchant_ids=("MID-MCD-0001", "MID-MCD-0002"), enrol_from=date(2026, 11, 1),
        enrol_until=date(2026, 12, 31), redeem_by=date(2027, 1, 31), currency="USD",
        min_spend=Decimal("5.00"), credit=Decimal("5.00"), tz=UTC,
    )
    assert parsed.key == "amexmcdonalds"


def test_valid_percent_table_gives_campaign() -> None:
    """A percent offer with max_credit, max_enrolments and budget parses with every value kept."""
    parsed = parse_campaign(percent_table(max_enrolments=1000, budget=Decimal("50000.00"),
                                          per_member=2), NEW_YORK)
    assert parsed.credit is None
    assert parsed.percent == Decimal("10")
    assert parsed.max_credit == Decimal("50.00")
    assert parsed.max_enrolments == 1000
    assert parsed.budget == Decimal("50000.00")
    assert parsed.per_member == 2
    assert parsed.tz is NEW_YORK


def test_hashtag_without_hash_and_whole_amounts_are_normalised() -> None:
    """A hashtag without '#' gains one; integer amounts become two-place Decimals."""
    parsed = parse_campaign(table(hashtag="AmexMcDonalds", credit=5, min_spend=0), UTC)
    assert parsed.hashtag == "#AmexMcDonalds"
    assert parsed.credit == Decimal("5.00")
    assert str(parsed.credit) == "5.00"
    assert parsed.min_spend == Decimal("0.00")


def test_defaults_apply_when_optional_fields_are_absent() -> None:
    """Without min_spend, max_enrolments, budget and per_member the defaults apply."""
    parsed = parse_campaign(table(min_spend=REMOVE), UTC)
    assert parsed.min_spend == Decimal("0")
    assert parsed.max_enrolments is None
    assert parsed.budget is None
    assert parsed.per_member == 1


@pytest.mark.parametrize("key", ["id", "merchant", "hashtag", "merchant_ids", "enrol_from",
                                 "enrol_until", "redeem_by", "currency"])
def test_missing_required_key_is_reported(key: str) -> None:
    """Each required key, when absent, is reported as required under its own name."""
    assert (key, "is required") in errors_of(table(**{key: REMOVE}))


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"creditt": Decimal("5.00")}, "creditt", "unknown key; did you mean 'credit'?"),
        ({"colour": "red"}, "colour", "unknown key; known keys: id, merchant"),
        ({"percent": 10}, "credit", "either credit (a fixed amount) or percent, not both"),
        ({"credit": REMOVE}, "credit", "is required: give credit = 5.00"),
        ({"credit": REMOVE, "percent": 10}, "max_credit", "is required with percent"),
        ({"max_credit": Decimal("50.00")}, "max_credit", "only applies to percent offers"),
        ({"id": "McDonalds"}, "id", "lower-case letters, digits, - or _"),
        ({"id": "amex mcdonalds"}, "id", "lower-case letters, digits, - or _"),
        ({"id": "-amex"}, "id", "lower-case letters, digits, - or _"),
        ({"id": 42}, "id", "lower-case letters, digits, - or _"),
        ({"merchant": "   "}, "merchant", "non-empty string"),
        ({"merchant": "M" * 61}, "merchant", "is 61 characters long; keep it to 60"),
        ({"hashtag": "#two words"}, "hashtag", "one word of letters, digits or _"),
        ({"hashtag": "#123"}, "hashtag", "cannot be only digits"),
        ({"hashtag": "#"}, "hashtag", "one word of letters, digits or _"),
        ({"merchant_ids": []}, "merchant_ids", "non-empty list"),
        ({"merchant_ids": "MID-MCD-0001"}, "merchant_ids", "non-empty list"),
        ({"merchant_ids": ["MID-1", 7]}, "merchant_ids", "7 is not a merchant id"),
        ({"merchant_ids": ["MID-1", "MID-2", "MID-1"]}, "merchant_ids", "lists MID-1 more than once"),
        ({"enrol_from": "2026-11-01"}, "enrol_from", "TOML date without quotes"),
        ({"enrol_from": datetime(2026, 11, 1, 9, 0, tzinfo=UTC)}, "enrol_from",
         "TOML date without quotes"),
        ({"redeem_by": "2027-01-31"}, "redeem_by", "TOML date without quotes"),
        ({"enrol_until": date(2026, 10, 31)}, "enrol_until", "2026-10-31 is before enrol_from 2026-11-01"),
        ({"redeem_by": date(2026, 12, 30)}, "redeem_by",
         "2026-12-30 is before enrol_until 2026-12-31; members need time to spend"),
        ({"credit": Decimal("-5.00")}, "credit", "must be greater than 0"),
        ({"credit": Decimal("0.00")}, "credit", "must be greater than 0"),
        ({"credit": 0}, "credit", "must be greater than 0"),
        ({"credit": Decimal("5.005")}, "credit", "has more than two decimal places"),
        ({"credit": "5.00"}, "credit", "must be a number without quotes"),
        ({"credit": True}, "credit", "must be a number without quotes"),
        ({"min_spend": Decimal("-1.00")}, "min_spend", "must not be negative"),
        ({"min_spend": Decimal("4.999")}, "min_spend", "has more than two decimal places"),
        ({"budget": Decimal("-100.00")}, "budget", "must be greater than 0"),
        ({"budget": Decimal("0")}, "budget", "must be greater than 0"),
        ({"budget": Decimal("1.00")}, "budget", "is smaller than a single credit"),
        ({"max_enrolments": 0}, "max_enrolments", "whole number of at least 1"),
        ({"max_enrolments": True}, "max_enrolments", "whole number of at least 1"),
        ({"max_enrolments": Decimal("10.5")}, "max_enrolments", "whole number of at least 1"),
        ({"per_member": 0}, "per_member", "whole number of at least 1"),
        ({"currency": "usd"}, "currency", "three-letter ISO code in capitals"),
        ({"currency": "US"}, "currency", "three-letter ISO code in capitals"),
    ],
    ids=lambda value: None if isinstance(value, dict) else str(value)[:30],
)
def test_invalid_field_is_reported_by_name(changes: dict[str, Any], field: str, fragment: str) -> None:
    """Each broken rule is reported against the field to fix, with a message saying how."""
    found = errors_of(table(**changes))
    assert any(name == field and fragment in message for name, message in found), found


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"percent": 0}, "percent", "more than 0 and at most 100"),
        ({"percent": 150}, "percent", "more than 0 and at most 100"),
        ({"percent": Decimal("-5")}, "percent", "more than 0 and at most 100"),
        ({"percent": "10%"}, "percent", "must be a number without quotes"),
        ({"max_credit": Decimal("0")}, "max_credit", "must be greater than 0"),
        ({"max_credit": Decimal("49.999")}, "max_credit", "has more than two decimal places"),
    ],
)
def test_invalid_percent_field_is_reported_by_name(changes: dict[str, Any], field: str,
                                                   fragment: str) -> None:
    """Percent offers report a bad percent or max_credit against that field."""
    found = errors_of(percent_table(**changes))
    assert any(name == field and fragment in message for name, message in found), found


def test_percent_budget_smaller_than_max_credit_is_refused() -> None:
    """A percentage offer whose budget cannot pay one max_credit is refused: it could never enrol."""
    found = errors_of(percent_table(budget=Decimal("40.00")))
    assert ("budget", "is smaller than a single credit; raise it or lower max_credit") in found


def test_percent_of_100_is_allowed() -> None:
    """A percent of exactly 100 is within the allowed range."""
    assert parse_campaign(percent_table(percent=100), UTC).percent == Decimal("100")


def test_several_errors_are_reported_together() -> None:
    """Every problem in a table is reported at once, in one CampaignInvalid."""
    data = table(creditt=Decimal("5.00"), id="Bad Id", currency="usd", merchant_ids=[],
                 redeem_by=date(2026, 1, 1))
    with pytest.raises(CampaignInvalid) as caught:
        parse_campaign(data, UTC)
    fields = [error.field for error in caught.value.errors]
    assert set(fields) == {"creditt", "id", "currency", "merchant_ids", "redeem_by"}
    for field in fields:
        assert f"{field}: " in str(caught.value)


def test_campaign_invalid_is_a_value_error() -> None:
    """CampaignInvalid is a ValueError so callers can treat it as bad input."""
    with pytest.raises(ValueError, match="currency: must be a three-letter ISO code"):
        parse_campaign(table(currency="usd"), UTC)


# --- card numbers in offer text --------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("merchant", "Card 4111111111111111 Store"),          # Luhn-valid
        ("merchant", "Card 4111111111111112 Store"),          # not Luhn-valid: refused all the same
        ("merchant", "Shop 4111 1111 1111 1111"),             # spaces between groups
        ("merchant", "Shop 3782-822463-10005"),               # dashes, 15 digits
        ("merchant", "Shop 4111 - 1111 - 1111 - 1111"),       # spaced dashes
        ("merchant", "Shop 4111111111111111111111"),          # longer than 19: still a card inside
        ("merchant", "Shop ４１１１１１１１１１１１１１１１"),  # full-width digits
        ("hashtag", "#Amex4111111111111111"),
        ("id", "4111-1111-1111-1111"),
    ],
)
def test_card_number_in_offer_text_is_refused(field: str, value: str) -> None:
    """A run of 13 or more digits in any text people see is refused, Luhn-valid or not."""
    found = errors_of(table(**{field: value}))
    assert (field, CARD_NUMBER_IN_TEXT) in found
    assert all(value not in message for _, message in found)  # the digits are never echoed


@pytest.mark.parametrize("merchant", ["7-Eleven", "Store 123456789012", "Call 1-800-555-0199",
                                      "Since 1999, open 24-7", "Pier 39 & 2026 deals"])
def test_shorter_digit_runs_in_offer_text_are_allowed(merchant: str) -> None:
    """Up to 12 digits in a row (phone numbers, years, store numbers) are ordinary text."""
    assert parse_campaign(table(merchant=merchant), UTC).merchant == merchant


def test_merchant_ids_may_be_long_numbers() -> None:
    """Merchant ids are never shown to members, and card systems often number them in 15 digits."""
    parsed = parse_campaign(table(merchant_ids=["372345678901234"]), UTC)
    assert parsed.merchant_ids == ("372345678901234",)


# --- status field --------------------------------------------------------------------------


def test_status_defaults_to_active() -> None:
    """A campaign without a status is active."""
    assert parse_campaign(table(), UTC).retired is False


def test_status_retired_marks_the_campaign_retired() -> None:
    """status = "retired" gives a retired campaign, whatever its dates."""
    assert parse_campaign(table(status="retired"), UTC).retired is True
    assert parse_campaign(table(status="active"), UTC).retired is False


@pytest.mark.parametrize("value", ["Retired", "ended", "", 1, True])
def test_status_must_be_active_or_retired(value: Any) -> None:
    """Any other status is refused, naming the two allowed values."""
    assert ("status", 'must be "active" or "retired" (a retired campaign takes no enrolments)') in \
        errors_of(table(status=value))


# --- status over time ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "enrolled", "expected"),
    [
        (datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC), 0, CampaignStatus.UPCOMING),
        (datetime(2026, 11, 1, 0, 0, tzinfo=UTC), 0, CampaignStatus.LIVE),
        (START, 0, CampaignStatus.LIVE),
        (START, 9, CampaignStatus.LIVE),
        (START, 10, CampaignStatus.SOLD_OUT),
        (START, 11, CampaignStatus.SOLD_OUT),
        (datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), 0, CampaignStatus.LIVE),
        (datetime(2027, 1, 1, 0, 0, tzinfo=UTC), 0, CampaignStatus.ENDED),
        (datetime(2026, 10, 1, tzinfo=UTC), 10, CampaignStatus.UPCOMING),
        (datetime(2027, 2, 1, tzinfo=UTC), 10, CampaignStatus.ENDED),
    ],
)
def test_status_over_time_in_utc(now: datetime, enrolled: int, expected: CampaignStatus) -> None:
    """Upcoming before enrol_from, live through the whole enrol_until day, sold out at the cap."""
    capped = campaign(max_enrolments=10)
    assert capped.status(now, enrolled) is expected


def test_status_without_cap_is_never_sold_out() -> None:
    """A campaign without max_enrolments stays live however many enrol."""
    assert campaign().status(START, 10**9) is CampaignStatus.LIVE


@pytest.mark.parametrize("now", [datetime(2026, 10, 1, tzinfo=UTC), START, datetime(2027, 3, 1, tzinfo=UTC)])
def test_retired_campaign_is_retired_at_any_time(now: datetime) -> None:
    """A retired campaign reports RETIRED before, during and after its enrolment window."""
    assert campaign(retired=True, max_enrolments=10).status(now, 10, 10**9) is CampaignStatus.RETIRED


@pytest.mark.parametrize(
    ("spent", "expected"),
    [(0, CampaignStatus.LIVE), (999_499, CampaignStatus.LIVE), (999_500, CampaignStatus.LIVE),
     (999_501, CampaignStatus.BUDGET_SPENT), (1_000_000, CampaignStatus.BUDGET_SPENT)],
)
def test_fixed_credit_budget_is_spent_when_one_more_credit_does_not_fit(spent: int,
                                                                         expected: CampaignStatus) -> None:
    """With a $5 credit and a $10,000 budget, enrolment closes once less than $5 is left."""
    offer = campaign(budget=Decimal("10000.00"))
    assert offer.status(START, 0, spent) is expected


@pytest.mark.parametrize(
    ("spent", "expected"),
    [(995_000, CampaignStatus.LIVE), (995_001, CampaignStatus.BUDGET_SPENT)],
)
def test_percent_budget_is_spent_when_one_max_credit_does_not_fit(spent: int,
                                                                  expected: CampaignStatus) -> None:
    """A percentage offer closes once less than one max_credit is left, though smaller credits fit."""
    offer = campaign(credit=None, percent=Decimal("10"), max_credit=Decimal("50.00"),
                     budget=Decimal("10000.00"))
    assert offer.status(START, 0, spent) is expected


def test_sold_out_and_window_come_before_budget() -> None:
    """Sold out, upcoming and ended are reported as such even when the budget is spent too."""
    offer = campaign(budget=Decimal("100.00"), max_enrolments=1)
    assert offer.status(START, 1, 10_000) is CampaignStatus.SOLD_OUT
    assert offer.status(datetime(2026, 10, 1, tzinfo=UTC), 0, 10_000) is CampaignStatus.UPCOMING
    assert offer.status(datetime(2027, 3, 1, tzinfo=UTC), 0, 10_000) is CampaignStatus.ENDED


def test_campaign_without_budget_is_never_budget_spent() -> None:
    """Without a budget, no amount spent closes enrolment, and there is nothing to warn about."""
    assert campaign().status(START, 0, 10**12) is CampaignStatus.LIVE
    assert campaign().budget_level(10**12) == 0


@pytest.mark.parametrize(
    ("spent", "level"),
    [(0, 0), (799_999, 0), (800_000, 80), (999_500, 80), (999_501, 100), (1_000_000, 100)],
)
def test_budget_level_warns_at_80_percent_and_when_spent(spent: int, level: int) -> None:
    """The warning level is 80 from 80% of the budget and 100 once no further credit fits."""
    assert campaign(budget=Decimal("10000.00")).budget_level(spent) == level


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 11, 1, 3, 59, 59, tzinfo=UTC), CampaignStatus.UPCOMING),  # Oct 31, 23:59:59 EDT
        (datetime(2026, 11, 1, 4, 0, tzinfo=UTC), CampaignStatus.LIVE),           # Nov 1, 00:00 EDT
        (datetime(2027, 1, 1, 4, 59, 59, tzinfo=UTC), CampaignStatus.LIVE),       # Dec 31, 23:59:59 EST
        (datetime(2027, 1, 1, 5, 0, tzinfo=UTC), CampaignStatus.ENDED),           # Jan 1, 00:00 EST
        (datetime(2026, 12, 31, 23, 59, tzinfo=NEW_YORK), CampaignStatus.LIVE),
        (datetime(2027, 1, 1, 0, 0, tzinfo=NEW_YORK), CampaignStatus.ENDED),
    ],
)
def test_status_follows_campaign_time_zone(now: datetime, expected: CampaignStatus) -> None:
    """Enrolment opens and closes at midnight in the campaign's zone, not in UTC."""
    assert campaign(tz=NEW_YORK).status(now, 0) is expected


def test_window_instants_are_local_midnights() -> None:
    """opens_at is midnight of enrol_from and closes_at midnight after enrol_until, locally."""
    local = campaign(tz=NEW_YORK)
    assert local.opens_at == datetime(2026, 11, 1, 4, 0, tzinfo=UTC)
    assert local.closes_at == datetime(2027, 1, 1, 5, 0, tzinfo=UTC)
    assert datetime(2027, 1, 1, 3, 0, tzinfo=UTC).astimezone(local.tz).date() == date(2026, 12, 31)


# --- credits and texts ---------------------------------------------------------------------


@pytest.mark.parametrize("amount", [Decimal("0.01"), Decimal("5.00"), Decimal("999.99")])
def test_fixed_credit_ignores_amount(amount: Decimal) -> None:
    """A fixed-credit offer pays its credit whatever was spent."""
    assert campaign(credit=Decimal("5.00")).credit_for(amount) == Decimal("5.00")


@pytest.mark.parametrize(
    ("percent", "amount", "expected"),
    [
        (Decimal("10"), Decimal("12.34"), Decimal("1.23")),
        (Decimal("10"), Decimal("12.25"), Decimal("1.23")),   # 1.225 rounds half up, not to even
        (Decimal("10"), Decimal("12.35"), Decimal("1.24")),
        (Decimal("7.5"), Decimal("0.10"), Decimal("0.01")),   # 0.0075
        (Decimal("7.5"), Decimal("0.06"), Decimal("0.00")),   # 0.0045
        (Decimal("10"), Decimal("500.00"), Decimal("50.00")),
        (Decimal("10"), Decimal("600.00"), Decimal("50.00")),  # capped by max_credit
        (Decimal("100"), Decimal("80.00"), Decimal("50.00")),
    ],
)
def test_percent_credit_rounds_half_up_and_is_capped(percent: Decimal, amount: Decimal,
                                                     expected: Decimal) -> None:
    """A percent offer pays the percentage rounded half-up to cents, at most max_credit."""
    offer = campaign(credit=None, percent=percent, max_credit=Decimal("50.00"))
    earned = offer.credit_for(amount)
    assert earned == expected
    assert earned.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("changes", "text"),
    [
        ({}, "$5 back on $5+"),
        ({"min_spend": Decimal("0")}, "$5 back"),
        ({"credit": Decimal("10.00"), "min_spend": Decimal("75.00")}, "$10 back on $75+"),
        ({"credit": Decimal("2.50"), "min_spend": Decimal("0")}, "$2.50 back"),
        ({"credit": Decimal("5.00"), "min_spend": Decimal("0"), "currency": "EUR"}, "€5 back"),
        ({"credit": Decimal("5.00"), "min_spend": Decimal("0"), "currency": "CHF"}, "5 CHF back"),
        ({"credit": None, "percent": Decimal("10"), "max_credit": Decimal("50.00"),
          "min_spend": Decimal("0")}, "10% back, up to $50"),
        ({"credit": None, "percent": Decimal("10.0"), "max_credit": Decimal("50.00"),
          "min_spend": Decimal("0")}, "10% back, up to $50"),
        ({"credit": None, "percent": Decimal("12.5"), "max_credit": Decimal("49.50"),
          "min_spend": Decimal("20.00")}, "12.5% back on $20+, up to $49.50"),
    ],
)
def test_reward_text(changes: dict[str, Any], text: str) -> None:
    """The reward reads like '$5 back', '$10 back on $75+' or '10% back, up to $50'."""
    assert campaign(**changes).reward_text() == text


def test_summary_gives_display_strings() -> None:
    """summary() gives the template fields as JSON-safe display strings."""
    summary = campaign().summary()
    assert summary == {
        "id": "amex-mcdonalds",
        "hashtag": "#AmexMcDonalds",
        "merchant": "McDonald's",
        "reward": "$5 back on $5+",
        "min_spend": "$5.00",
        "redeem_by": "Jan 31, 2027",
        "enrol_from": "Nov 1, 2026",
        "enrol_until": "Dec 31, 2026",
    }
    assert json.loads(json.dumps(summary)) == summary


def test_summary_is_a_fresh_copy() -> None:
    """Changing a returned summary does not change what the campaign reports next time."""
    offer = campaign()
    first = offer.summary()
    first["hashtag"] = "#Changed"
    assert offer.summary()["hashtag"] == "#AmexMcDonalds"


def test_summary_adds_hash_to_bare_hashtag() -> None:
    """A campaign built with a bare hashtag still shows it with one '#'."""
    assert campaign(hashtag="AmexMcDonalds").summary()["hashtag"] == "#AmexMcDonalds"


# --- kept definitions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [{}, {"min_spend": REMOVE}, {"max_enrolments": 1000, "budget": Decimal("50000.00"), "per_member": 3},
     {"status": "retired"}, {"credit": REMOVE, "percent": Decimal("12.5"), "max_credit": Decimal("49.50")},
     {"credit": REMOVE, "percent": 10, "max_credit": 50}],
    ids=["fixed", "no-minimum", "limits", "retired", "percent", "whole-numbers"],
)
def test_definition_gives_the_same_campaign_back(changes: dict[str, Any]) -> None:
    """A campaign kept as its JSON definition is rebuilt equal to itself, in the zone given."""
    offer = parse_campaign(table(**changes), NEW_YORK)
    kept = json.loads(json.dumps(offer.definition()))
    assert campaign_from_definition(kept, NEW_YORK) == offer


@given(
    credit=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999.99"), places=2),
    min_spend=st.decimals(min_value=Decimal("0"), max_value=Decimal("9999.99"), places=2),
    budget=st.none() | st.decimals(min_value=Decimal("1000.00"), max_value=Decimal("9999999.99"), places=2),
    max_enrolments=st.none() | st.integers(min_value=1, max_value=10**9),
    per_member=st.integers(min_value=1, max_value=100),
    retired=st.booleans(),
    merchant=st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1,
                     max_size=60).filter(lambda m: m.strip() == m and m != ""),
)
def test_any_valid_campaign_survives_its_definition(credit: Decimal, min_spend: Decimal,
                                                    budget: Decimal | None, max_enrolments: int | None,
                                                    per_member: int, retired: bool, merchant: str) -> None:
    """Whatever the values, definition() then campaign_from_definition() is the identity."""
    changes: dict[str, Any] = {"credit": credit, "min_spend": min_spend, "per_member": per_member,
                               "merchant": merchant, "status": "retired" if retired else "active"}
    if budget is not None:
        changes["budget"] = budget
    if max_enrolments is not None:
        changes["max_enrolments"] = max_enrolments
    try:
        offer = parse_campaign(table(**changes), UTC)
    except CampaignInvalid:
        return  # e.g. a generated merchant name that looks like a card number
    assert campaign_from_definition(json.loads(json.dumps(offer.definition())), UTC) == offer


def test_a_definition_that_today_s_rules_refuse_is_not_rebuilt() -> None:
    """A kept definition is checked again: one the rules now refuse raises CampaignInvalid."""
    kept = campaign().definition() | {"merchant": "Card 4111111111111111 Store"}
    with pytest.raises(CampaignInvalid, match="looks like a card number"):
        campaign_from_definition(kept, UTC)
    with pytest.raises(CampaignInvalid, match="definition: cannot be read back"):
        campaign_from_definition(campaign().definition() | {"enrol_from": "31/12/2026"}, UTC)


# --- catalog -------------------------------------------------------------------------------


MCDONALDS = campaign()
ZAPPOS = campaign(id="amex-zappos", hashtag="#AmexZappos", merchant="Zappos.com")
FEDEX = campaign(id="amex-fedex", hashtag="#AmexFedEx", merchant="FedEx Office")


def test_catalog_without_clashes_has_no_problems() -> None:
    """Campaigns with distinct ids and hashtags give no catalog problems."""
    assert check_catalog([("a.toml", MCDONALDS), ("b.toml", ZAPPOS), ("c.toml", FEDEX)]) == []


def test_duplicate_id_is_reported_against_second_file() -> None:
    """A second file reusing an id is the one blamed, naming the first file."""
    copy = campaign(hashtag="#AmexBurgers")
    problems = check_catalog([("a.toml", MCDONALDS), ("b.toml", copy)])
    assert problems == [CatalogProblem(
        "b.toml", "id", "'amex-mcdonalds' is also the id in a.toml; ids must be unique")]


@pytest.mark.parametrize("hashtag", ["#AmexMcDonalds", "#AMEXMCDONALDS", "#amexmcdonalds", "AmexMcdonalds"])
def test_duplicate_hashtag_regardless_of_case_is_reported_against_second_file(hashtag: str) -> None:
    """Hashtags that differ only in case clash; the later file is blamed."""
    clash = campaign(id="amex-mcd-2", hashtag=hashtag)
    problems = check_catalog([("a.toml", MCDONALDS), ("b.toml", ZAPPOS), ("c.toml", clash)])
    assert len(problems) == 1
    assert problems[0].source == "c.toml"
    assert problems[0].field == "hashtag"
    assert "also used by a.toml" in problems[0].message


def test_duplicate_id_and_hashtag_give_two_problems_on_second_file() -> None:
    """A file copying both id and hashtag gets one problem for each."""
    problems = check_catalog([("a.toml", MCDONALDS), ("b.toml", campaign())])
    assert [(p.source, p.field) for p in problems] == [("b.toml", "id"), ("b.toml", "hashtag")]
