"""Edited posts: what an edit's one further reply may report."""

from bot.domain.edits import edit_key, news_in_edit
from bot.domain.enrolment import Decision, EnrolmentOutcome
from tests.fakes import campaign, mention

MCDONALDS = campaign()
ZAPPOS = campaign(id="amex-zappos", hashtag="#AmexZappos")


def test_an_edit_reports_new_enrolments_and_news_about_hashtags_it_added() -> None:
    """Enrolments are always news; other outcomes only for added hashtags; 'already enrolled' never."""
    decisions = [
        Decision("amexmcdonalds", EnrolmentOutcome.ALREADY_ENROLLED, MCDONALDS),  # from the original
        Decision("amexzappos", EnrolmentOutcome.ENROLLED, ZAPPOS),  # was sold out in the original
        Decision("amexfedex", EnrolmentOutcome.SOLD_OUT,
                 campaign(id="amex-fedex", hashtag="#AmexFedEx")),  # added
        Decision("amexold", EnrolmentOutcome.ENDED,
                 campaign(id="amex-old", hashtag="#AmexOld")),  # in the original
        Decision("amexshel", EnrolmentOutcome.UNKNOWN_HASHTAG),  # added
        Decision("amexother", EnrolmentOutcome.ALREADY_ENROLLED,
                 campaign(id="other", hashtag="#AmexOther")),  # added
    ]

    news = news_in_edit(decisions, earlier={"amexmcdonalds", "amexzappos", "amexold"})

    assert [d.hashtag for d in news] == ["amexzappos", "amexfedex", "amexshel"]


def test_the_interaction_of_a_post_is_its_original() -> None:
    """An edit belongs to the interaction its edit history starts with; an original to itself."""
    original, edit = mention(1, "1001", "@offerbot #A"), mention(2, "1001", "@offerbot #A #B", edit_of=1)

    assert (original.interaction, original.interaction != original.post_id) == ("1", False)  # not an edit
    assert (edit.interaction, edit.interaction != edit.post_id) == ("1", True)  # an edit
    assert edit_key(edit.interaction) == "edit:1"
