"""Which version of each campaign is in force: valid edits go in, a refused change keeps the last good one."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.campaign_versions import (
    FileVersion,
    StoredVersion,
    Versions,
    keep_all,
    orphans,
    plan_versions,
)
from bot.domain.campaigns import Campaign, CatalogProblem
from tests.fakes import campaign

ZAPPOS = campaign(id="amex-zappos", hashtag="#AmexZappos", merchant="Zappos.com")
FEDEX = campaign(id="amex-fedex", hashtag="#AmexFedEx", merchant="FedEx Office")
MCD = campaign()
FOLDER = "offers"


def good(name: str, c: Campaign) -> FileVersion:
    """A file offers/<name> that passed its own checks."""
    return FileVersion(f"offers/{name}", c)


def broken(name: str, names: str | None = None) -> FileVersion:
    """A file offers/<name> with problems of its own (naming ``names`` if its id could be read)."""
    return FileVersion(f"offers/{name}", None, names)


def kept(c: Campaign, name: str | None, *, enrolments: int = 0, spent: int = 0,
         definition: bool = True) -> StoredVersion:
    """The database's record of ``c``: from offers/<name>, with its accounting."""
    return StoredVersion(c.id, c.hashtag, f"offers/{name}" if name else None, c if definition else None,
                         enrolments, spent)


def plan(files: Sequence[FileVersion], stored: Sequence[StoredVersion] = (),
         credits: dict[str, int] | None = None) -> Versions:
    """Run plan_versions over the offers folder."""
    return plan_versions(files, stored, credits=credits or {}, folder=FOLDER)


def ids(campaigns: Sequence[Campaign]) -> list[str]:
    """Return the ids of campaigns, sorted."""
    return sorted(c.id for c in campaigns)


def test_valid_files_all_go_in_when_the_database_knows_nothing() -> None:
    """Without stored versions every valid file is installed and nothing is refused."""
    versions = plan([good("a.toml", MCD), good("b.toml", ZAPPOS)])
    assert ids(versions.in_force) == ["amex-mcdonalds", "amex-zappos"]
    assert [f.source for f in versions.install] == ["offers/a.toml", "offers/b.toml"]
    assert (versions.problems, versions.last_good, versions.forget) == ((), (), ())


def test_broken_file_keeps_its_last_good_version_and_the_others_edits_go_in() -> None:
    """A broken file's campaign runs on its stored version; another file's edit is installed."""
    edited = campaign(id="amex-zappos", hashtag="#AmexZappos", merchant="Zappos")
    versions = plan([broken("mcd.toml", names="amex-mcdonalds"), good("zappos.toml", edited)],
                    [kept(MCD, "mcd.toml"), kept(ZAPPOS, "zappos.toml")])
    assert set(versions.in_force) == {MCD, edited}
    assert [f.campaign for f in versions.install] == [edited]
    assert [s.id for s in versions.last_good] == ["amex-mcdonalds"]
    assert versions.problems == ()  # the file's own problems are reported by whoever read it


def test_file_whose_id_cannot_be_read_is_known_by_its_name() -> None:
    """A file too broken to name an id (a TOML syntax error) is matched to its campaign by file name."""
    versions = plan([broken("mcd.toml")], [kept(MCD, "mcd.toml")])
    assert versions.in_force == (MCD,)
    assert [s.id for s in versions.last_good] == ["amex-mcdonalds"]


def test_broken_new_file_is_simply_not_loaded() -> None:
    """A broken file the database knows nothing about puts nothing in force."""
    versions = plan([broken("new.toml", names="amex-new"), good("mcd.toml", MCD)])
    assert versions.in_force == (MCD,)
    assert versions.last_good == ()


def test_broken_file_without_a_kept_version_puts_nothing_in_force() -> None:
    """A campaign known only by its counters (no version kept yet) cannot run while its file is broken."""
    versions = plan([broken("mcd.toml", names="amex-mcdonalds")], [kept(MCD, "mcd.toml", definition=False)])
    assert (versions.in_force, versions.last_good) == ((), ())


def test_a_definition_moved_to_another_file_that_breaks_keeps_its_last_good_version() -> None:
    """Moving a campaign to a new file that is broken still leaves it on its kept version."""
    versions = plan([broken("zappos-2027.toml", names="amex-zappos")], [kept(ZAPPOS, "zappos.toml")])
    assert versions.in_force == (ZAPPOS,)


def test_a_valid_moved_definition_goes_in_from_its_new_file() -> None:
    """A campaign whose file was renamed is installed from the new file."""
    versions = plan([good("zappos-2027.toml", ZAPPOS)], [kept(ZAPPOS, "zappos.toml", enrolments=5)])
    assert [f.source for f in versions.install] == ["offers/zappos-2027.toml"]
    assert versions.problems == ()


def test_two_files_sharing_a_hashtag_keep_the_one_already_in_force() -> None:
    """A newcomer taking the hashtag of the campaign in force is refused, even when it sorts first."""
    newcomer = campaign(id="amex-zappos-2", hashtag="#AMEXZAPPOS")
    versions = plan([good("a-new.toml", newcomer), good("zappos.toml", ZAPPOS)],
                    [kept(ZAPPOS, "zappos.toml")])
    assert versions.in_force == (ZAPPOS,)
    assert versions.problems == (CatalogProblem(
        "offers/a-new.toml", "hashtag", "#AMEXZAPPOS is also used by offers/zappos.toml (hashtags match "
        "regardless of case); pick another hashtag"),)


def test_two_new_files_sharing_a_hashtag_keep_the_first() -> None:
    """With neither in force, the first file in order keeps the hashtag (as check_catalog does)."""
    versions = plan([good("a.toml", ZAPPOS), good("b.toml", campaign(id="other", hashtag="#AmexZappos"))])
    assert versions.in_force == (ZAPPOS,)
    assert [(p.source, p.field) for p in versions.problems] == [("offers/b.toml", "hashtag")]


def test_a_refused_edit_keeps_its_old_hashtag_and_the_newcomer_taking_it_waits() -> None:
    """Refusals cascade: a campaign kept on its old version keeps its old hashtag from others too."""
    # zappos.toml moves to #AmexFedEx (FedEx's) and is refused; so its old #AmexZappos stays taken.
    moved = campaign(id="amex-zappos", hashtag="#AmexFedEx")
    taker = campaign(id="amex-shoes", hashtag="#AmexZappos")
    versions = plan([good("fedex.toml", FEDEX), good("shoes.toml", taker), good("zappos.toml", moved)],
                    [kept(FEDEX, "fedex.toml"), kept(ZAPPOS, "zappos.toml")])
    assert set(versions.in_force) == {FEDEX, ZAPPOS}
    assert sorted(p.source for p in versions.problems) == ["offers/shoes.toml", "offers/zappos.toml"]


def test_deleting_the_file_of_a_campaign_with_accounting_is_refused() -> None:
    """A campaign with enrolments or credits whose file is gone is reported on the folder and kept."""
    versions = plan([good("mcd.toml", MCD)], [kept(MCD, "mcd.toml"), kept(ZAPPOS, "amex-zappos.toml",
                                                                        enrolments=1204, spent=310_000)],
                    credits={"amex-zappos": 310})
    assert versions.problems == (CatalogProblem(
        "offers", "id", "amex-zappos has 1,204 enrolments and 310 credits but no file defines it any more "
        "(was offers/amex-zappos.toml). To end it keep its file and set status = \"retired\"; to rename "
        "it, keep the id"),)
    assert set(versions.in_force) == {MCD, ZAPPOS}
    assert [s.id for s in versions.last_good] == ["amex-zappos"]


def test_renaming_the_id_of_a_campaign_with_accounting_is_refused_on_its_file() -> None:
    """A file that changes its campaign's id (with accounting) is refused; the old id keeps running."""
    renamed = campaign(id="amex-zappos-2026", hashtag="#AmexZappos")
    versions = plan([good("amex-zappos.toml", renamed)], [kept(ZAPPOS, "amex-zappos.toml", enrolments=1)])
    [problem] = versions.problems
    assert (problem.source, problem.field) == ("offers/amex-zappos.toml", "id")
    assert problem.message.startswith("amex-zappos has 1 enrolment and 0 credits but no file defines it")
    assert (versions.in_force, versions.install) == ((ZAPPOS,), ())


def test_a_new_id_taking_the_hashtag_of_a_campaign_with_enrolments_is_refused() -> None:
    """Renaming by a new file: the old id is reported on the folder, the new one's hashtag is refused."""
    renamed = campaign(id="amex-zappos-2026", hashtag="#amexzappos")
    versions = plan([good("zappos-2026.toml", renamed)], [kept(ZAPPOS, "amex-zappos.toml", enrolments=3)])
    assert [(p.source, p.field) for p in versions.problems] == [("offers", "id"),
                                                                ("offers/zappos-2026.toml", "hashtag")]
    assert versions.problems[1].message == (
        "#amexzappos belongs to amex-zappos, which has 3 enrolments; pick another hashtag (to change "
        "amex-zappos itself, keep its id)")
    assert versions.in_force == (ZAPPOS,)


def test_hashtag_of_an_enrolled_campaign_not_in_force_stays_its_own() -> None:
    """Even a campaign that cannot run (no kept version, broken file) keeps its hashtag from newcomers."""
    taker = campaign(id="amex-shoes", hashtag="#AmexZappos")
    versions = plan([broken("zappos.toml", names="amex-zappos"), good("shoes.toml", taker)],
                    [kept(ZAPPOS, "zappos.toml", enrolments=2, definition=False)])
    assert versions.in_force == ()
    assert [(p.source, p.field) for p in versions.problems] == [("offers/shoes.toml", "hashtag")]


def test_a_campaign_may_move_to_a_new_hashtag_and_free_its_old_one() -> None:
    """A campaign with enrolments changing its own hashtag is an edit; its old hashtag is free again."""
    moved = campaign(id="amex-zappos", hashtag="#AmexZappos2027")
    taker = campaign(id="amex-shoes", hashtag="#AmexZappos")
    versions = plan([good("shoes.toml", taker), good("zappos.toml", moved)],
                    [kept(ZAPPOS, "zappos.toml", enrolments=9)])
    assert set(versions.in_force) == {moved, taker}
    assert versions.problems == ()


def test_dropping_a_campaign_without_accounting_is_allowed_and_its_version_forgotten() -> None:
    """A campaign nobody enrolled in may lose its file: it leaves, and its kept version goes too."""
    versions = plan([good("mcd.toml", MCD)], [kept(MCD, "mcd.toml"), kept(ZAPPOS, "zappos.toml")])
    assert versions.in_force == (MCD,)
    assert (versions.problems, versions.forget) == ((), ("amex-zappos",))


def test_retiring_is_an_ordinary_edit() -> None:
    """Setting status = "retired" on a campaign with accounting is installed like any edit."""
    retired = campaign(id="amex-zappos", hashtag="#AmexZappos", merchant="Zappos.com", retired=True)
    versions = plan([good("zappos.toml", retired)], [kept(ZAPPOS, "zappos.toml", enrolments=10)])
    assert versions.in_force == (retired,)
    assert versions.problems == ()


def test_a_second_file_naming_a_campaign_does_not_replace_its_own_file() -> None:
    """Two files with one id: the campaign's own file wins, whether valid or on its last good version."""
    copy = campaign(hashtag="#AmexBurgers")
    valid = plan([good("a-copy.toml", copy), good("mcd.toml", MCD)], [kept(MCD, "mcd.toml")])
    held = plan([good("a-copy.toml", copy), broken("mcd.toml", names="amex-mcdonalds")],
                [kept(MCD, "mcd.toml")])
    for versions in (valid, held):
        assert versions.in_force == (MCD,)
        assert [(p.source, p.field) for p in versions.problems] == [("offers/a-copy.toml", "id")]
        assert "is also the id in offers/mcd.toml" in versions.problems[0].message


def test_orphans_are_the_campaigns_with_accounting_no_file_names() -> None:
    """orphans() lists stored campaigns with enrolments or credits that no file, broken or not, names."""
    stored = [kept(MCD, "mcd.toml", enrolments=1), kept(ZAPPOS, "z.toml", spent=-500), kept(FEDEX, "f.toml")]
    assert orphans([broken("mcd.toml", names="amex-mcdonalds")], stored) == ["amex-zappos"]


def test_keep_all_runs_every_kept_version() -> None:
    """With no files to read, every campaign with a kept version stays in force, nothing is forgotten."""
    versions = keep_all([kept(MCD, "mcd.toml"), kept(ZAPPOS, "z.toml", definition=False)])
    assert (versions.in_force, versions.install, versions.forget) == ((MCD,), (), ())
    assert [s.id for s in versions.last_good] == ["amex-mcdonalds"]


# --- invariants over any files and history ---------------------------------------------------

IDS = ("a", "b", "c")
TAGS = ("#H1", "#H2", "#H3")
NAMES = ("1.toml", "2.toml", "3.toml")


@st.composite
def situations(draw: st.DrawFn) -> tuple[list[FileVersion], list[StoredVersion]]:
    """Draw some files and a consistent history (the versions once in force had unique hashtags)."""
    files = []
    for name in draw(st.lists(st.sampled_from(NAMES), unique=True)):
        if draw(st.booleans()):
            drawn = campaign(id=draw(st.sampled_from(IDS)), hashtag=draw(st.sampled_from(TAGS)))
            files.append(good(name, drawn))
        else:
            files.append(broken(name, draw(st.none() | st.sampled_from(IDS))))
    stored = []
    chosen = draw(st.lists(st.sampled_from(IDS), unique=True))
    tags = draw(st.permutations(TAGS))
    sources = draw(st.permutations((*NAMES, None, None, None)))
    for n, cid in enumerate(chosen):
        stored.append(kept(campaign(id=cid, hashtag=tags[n]), sources[n],
                           enrolments=draw(st.sampled_from((0, 0, 7))), definition=draw(st.booleans())))
    return files, stored


@given(situations())
def test_whatever_the_files_the_campaigns_in_force_are_consistent(
        situation: tuple[list[FileVersion], list[StoredVersion]]) -> None:
    """Ids and hashtags in force are unique, each valid file is installed or refused with a reason,
    and no campaign with accounting and a kept version ever drops out."""
    files, stored = situation
    versions = plan(files, stored)

    assert len({c.id for c in versions.in_force}) == len(versions.in_force)
    assert len({c.key for c in versions.in_force}) == len(versions.in_force)
    installed = {f.source for f in versions.install}
    blamed = {p.source for p in versions.problems}
    for f in files:
        if f.campaign is not None:
            assert (f.source in installed) != (f.source in blamed), f
    in_force = {c.id for c in versions.in_force}
    for s in stored:
        if s.accounted and s.campaign is not None:
            assert s.id in in_force, s
    assert not in_force & set(versions.forget)
