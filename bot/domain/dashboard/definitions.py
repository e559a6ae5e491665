"""Every number's label and one-line definition: what the page shows beside it, as data.

Keys are column keys (one meaning wherever the column appears), table names (what a table is)
and "table.row" for rows whose label needs a definition. ``definitions_for`` picks the lines of
one table in the order the page shows them.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.domain.dashboard.facts import LOOK_BACK_DAYS
from bot.domain.dashboard.tables import ShownTable, Table

WINDOW_DAYS = 30  # before/after: three windows of 30 days on each side of enrolling
WINDOWS = 3
SPAN_DAYS = WINDOW_DAYS * WINDOWS

NOT_CAUSAL = ("Not a causal estimate: members chose when to enrol, so their spend would have "
              "changed anyway.")
ESTIMATED = ("Estimated lift: compared with linked members who did not enrol and spent alike "
             "before; members chose to enrol, so this is an estimate, not proof the offer caused it.")

LABELS_AND_DEFINITIONS: Mapping[str, tuple[str, str]] = {
    # ---- tables
    "summary": ("The offer so far", "Every figure from the day enrolment opened to the day the data "
                "runs to."),
    "use_over_time": ("Enrolments and redemptions over time", "Per period: who enrolled, who "
                      "redeemed for the first time, credits issued and taken back."),
    "spend_over_time": ("Spend and credits over time", "Per period: the spend that earned credits "
                        "and what the credits cost, refunds and clawbacks included."),
    "days_to_first": ("Days from enrolling to the first qualifying purchase", "Redeeming members by "
                      "the days between their enrolment and their first purchase that earned a "
                      "credit."),
    "coming_back": ("How soon they come back", "Redeeming members by the days from their first "
                    "qualifying purchase to their next purchase at the merchant."),
    "new_returning_over_time": ("New and returning members over time", "Members by the period they "
                                f"enrolled in, and whether they bought here in the {LOOK_BACK_DAYS} "
                                "days before."),
    "new_returning": ("New and returning members", f"Whether members bought here in the "
                      f"{LOOK_BACK_DAYS} days before enrolling, and what they did after."),
    "before_after_members": ("Who the before-and-after view covers", f"Enrolled members whose data "
                             f"holds {SPAN_DAYS} days before and {SPAN_DAYS} days after enrolling."),
    "before_after": ("Spend before and after enrolling", f"The same members' spend at the merchant "
                     f"in {WINDOW_DAYS}-day windows around their own enrolment day. {NOT_CAUSAL}"),
    "lift": ("Estimated lift against a comparison group", ESTIMATED),
    # ---- columns
    "enrolments": ("Enrolments", "Members who enrolled by posting the offer's hashtag; each member "
                   "counts once, on the day they enrolled."),
    "first_redeemers": ("First-time redeemers", "Members whose first purchase that earned a credit "
                        "was in the period."),
    "redeemers": ("Redeeming members", "Enrolled members who received at least one statement "
                  "credit (a later clawback does not remove them)."),
    "redemption_rate": ("Enrolment-to-redemption rate", "Redeeming members divided by enrolments."),
    "redemptions": ("Redemptions", "Statement credits issued, one per qualifying purchase."),
    "clawbacks": ("Clawbacks", "Credits taken back, in whole or in part, because the purchase was "
                  "refunded."),
    "remaining": ("Remaining quantity", "Enrolments still available: the offer's maximum minus "
                  "enrolments so far (blank when it has no maximum)."),
    "median_days_to_first": ("Median days to first purchase", "The middle value, over redeeming "
                             "members, of the days from enrolling to their first qualifying purchase."),
    "spend": ("Qualifying spend", "The amount of the purchases that earned a credit, before refunds."),
    "refunds": ("Refunded", "The part of those purchases refunded since."),
    "net_spend": ("Qualifying spend after refunds", "Qualifying spend minus refunds."),
    "average_ticket": ("Average ticket", "Qualifying spend divided by redemptions."),
    "spend_per_redeemer": ("Spend per redeeming member", "Qualifying spend divided by redeeming "
                           "members."),
    "credits_paid": ("Credits paid", "Statement credits issued, in money, before clawbacks."),
    "clawed_back": ("Clawed back", "Credits taken back after refunds (a negative amount)."),
    "net_credits": ("Credits paid, net", "The offer's cost: credits paid minus clawbacks."),
    "spend_per_credit": ("Spend per dollar of credit", "Qualifying spend for each 1.00 of net credits "
                         "paid, in the offer's currency."),
    "budget": ("Budget", "The offer's budget for credits (blank when it has none)."),
    "budget_used": ("Budget used", "Net credits paid so far."),
    "budget_left": ("Budget left", "Budget minus budget used."),
    "median_days_to_next": ("Median days to next purchase", "The middle value, over redeeming members "
                            "who came back, of the days from their first qualifying purchase to their "
                            "next purchase at the merchant."),
    "share_of_redeemers": ("Share of redeeming members", "The row's redeeming members divided by all "
                           "redeeming members."),
    "share_of_enrolments": ("Share of enrolments", "The row's enrolled members divided by all "
                            "enrolments."),
    "new": ("New", f"Enrolled members with no purchase at the merchant in the {LOOK_BACK_DAYS} days "
            "before enrolling, the data holding all those days."),
    "returning": ("Returning", f"Enrolled members who bought at the merchant in the {LOOK_BACK_DAYS} "
                  "days before enrolling."),
    "no_history": ("Not enough history", f"Enrolled members with no purchase in the data before "
                   f"enrolling, where the data does not hold all {LOOK_BACK_DAYS} days before."),
    "members": ("Members", "Distinct enrolled members in the row's group."),
    "spend_in_window": ("Spend in the window", "Net spend at the merchant (after refunds) of the "
                        "members with all six windows, in the window."),
    "spend_per_member": ("Spend per member", "Spend in the window divided by the members with all "
                         "six windows (those who spent nothing count too)."),
    "before_per_member": ("Spend per member before", f"Net spend at the merchant in the {SPAN_DAYS} "
                          "days before the reference day, per member."),
    "after_per_member": ("Spend per member after", f"Net spend at the merchant in the {SPAN_DAYS} days "
                         "from the reference day, per member."),
    "change_per_member": ("Change per member", "Spend per member after minus before."),
    # ---- rows that need saying
    "coming_back.over_90": ("Over 90 days or not yet", "No other purchase at the merchant within 90 "
                            "days of the first qualifying one, so far (members who redeemed "
                            "recently have had less time)."),
    "coming_back.within_30": ("Within 30 days", "Came back within 30 days of their first qualifying "
                              "purchase: the 0-7, 8-14 and 15-30 day rows together."),
    "coming_back.within_60": ("Within 60 days", "Came back within 60 days: the rows up to 31-60 days "
                              "together."),
    "coming_back.within_90": ("Within 90 days", "Came back within 90 days: the rows up to 61-90 days "
                              "together."),
    "before_after_members.full_windows": ("With all six windows", f"Enrolled members whose data holds "
                                          f"the {SPAN_DAYS} days before and the {SPAN_DAYS} days "
                                          "from their enrolment day."),
    "before_after_members.matched": ("Matched to a comparison group", "Of those, members whose "
                                     "enrolment month and spend band before had enough comparison "
                                     "members."),
    "before_after_members.unmatched": ("Not matched", "Of those, members whose enrolment month and "
                                       "spend band had too few enrolled or comparison members."),
    "before_after_members.short_history": ("Without all six windows", "Enrolled members who enrolled "
                                           f"less than {SPAN_DAYS} days after their history starts or "
                                           f"less than {SPAN_DAYS} days before the data ends."),
    "lift.enrolled": ("Enrolled (matched)", "Matched enrolled members, measured from their own "
                      "enrolment day."),
    "lift.comparison": ("Comparison group", "Linked members who never enrolled, in the same spend "
                        "band before, measured from the first day of the matched members' enrolment "
                        "month and weighted to the enrolled members' mix of months and bands."),
    "lift.difference": ("Estimated lift", "Enrolled minus comparison; in the change column, the "
                        "estimated lift per member over 90 days."),
    "spend_bands": ("Spend bands", "Spend at the merchant in the 90 days before: none, under 25.00, "
                    "25.00 to 99.99, 100.00 to 249.99, 250.00 or more."),
}
DEFINITIONS: Mapping[str, str] = {key: text for key, (_label, text) in LABELS_AND_DEFINITIONS.items()}


def label(key: str) -> str:
    """Return the label people read for a column, table or row key."""
    return LABELS_AND_DEFINITIONS[key][0]


def definitions_for(table: Table | ShownTable) -> list[tuple[str, str]]:
    """Return (label, definition) for a table, its columns and the rows that need one, in order."""
    lines = [LABELS_AND_DEFINITIONS[table.name]]
    lines += [LABELS_AND_DEFINITIONS[c.key] for c in table.columns]
    lines += [LABELS_AND_DEFINITIONS[f"{table.name}.{row}"] for row in table.rows
              if f"{table.name}.{row}" in LABELS_AND_DEFINITIONS]
    return lines
