"""Campaign files on disk: read, checked, and every problem pointed at its file and line."""

import os
from datetime import UTC
from decimal import Decimal
from pathlib import Path

import pytest

from bot.adapters.offer_files import FileProblem, read_campaign_files, signature
from tests.conftest import REPO

# Line numbers matter: tests point at them.
MCDONALDS_TOML = """\
id = "amex-mcdonalds"
merchant = "McDonald's"
hashtag = "#AmexMcDonalds"
merchant_ids = ["MID-MCD-0001"]
enrol_from = 2026-11-01
enrol_until = 2026-12-31
redeem_by = 2027-01-31
min_spend = 5.00
credit = 5.00
currency = "USD"
"""
ZAPPOS_TOML = MCDONALDS_TOML.replace("amex-mcdonalds", "amex-zappos").replace(
    "#AmexMcDonalds", "#AmexZappos").replace("McDonald's", "Zappos.com")


@pytest.fixture
def offers(tmp_path: Path) -> Path:
    """An empty offers folder."""
    folder = tmp_path / "offers"
    folder.mkdir()
    return folder


def write(folder: Path, name: str, text: str) -> Path:
    """Write a campaign file and return its path."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_repo_offers_are_valid() -> None:
    """The project's offers/ folder has four campaigns and no problems."""
    files = read_campaign_files(REPO / "offers", UTC, display_root=REPO)
    assert files.problems == ()
    assert sorted(c.id for c in files.campaigns) == [
        "amex-fedex", "amex-mcdonalds", "amex-virgin-america", "amex-zappos"]
    assert files.sources["amex-mcdonalds"] == os.path.join("offers", "amex-mcdonalds.toml")
    assert len(files.signature) == 4


def test_amounts_are_read_as_exact_decimals(offers: Path) -> None:
    """TOML floats are read as Decimal, so 5.00 is exactly five dollars."""
    write(offers, "mcdonalds.toml", MCDONALDS_TOML)
    files = read_campaign_files(offers, UTC, display_root=offers)
    [mcdonalds] = files.campaigns
    assert mcdonalds.credit == Decimal("5.00")
    assert isinstance(mcdonalds.min_spend, Decimal)
    assert mcdonalds.tz is UTC
    assert files.sources == {"amex-mcdonalds": "mcdonalds.toml"}


def test_non_toml_files_are_ignored(offers: Path) -> None:
    """Only *.toml files are campaign files."""
    write(offers, "mcdonalds.toml", MCDONALDS_TOML)
    write(offers, "README.md", "not a campaign")
    write(offers, "draft.toml.bak", "id = ")
    files = read_campaign_files(offers, UTC, display_root=offers)
    assert files.problems == ()
    assert [c.id for c in files.campaigns] == ["amex-mcdonalds"]


@pytest.mark.parametrize(
    ("good", "bad", "line", "field", "message"),
    [
        ('currency = "USD"', 'currency = "usd"', 10, "currency",
         'must be a three-letter ISO code in capitals, e.g. "USD"'),
        ("credit = 5.00", "credit = 5.005", 9, "credit", "has more than two decimal places"),
        ("enrol_from = 2026-11-01", 'enrol_from = "2026-11-01"', 5, "enrol_from",
         "must be a TOML date without quotes, e.g. 2026-12-31"),
        ('hashtag = "#AmexMcDonalds"', 'hashtag = "#Amex McDonalds"', 3, "hashtag",
         'must be one word of letters, digits or _, e.g. "#AmexMcDonalds"'),
        ("credit = 5.00", "creditt = 5.00", 9, "creditt", "unknown key; did you mean 'credit'?"),
    ],
)
def test_bad_field_points_at_its_line(offers: Path, good: str, bad: str, line: int, field: str,
                                      message: str) -> None:
    """A broken field is reported as 'name.toml:<line>: field: message' and the file is skipped."""
    write(offers, "bad.toml", MCDONALDS_TOML.replace(good, bad))
    files = read_campaign_files(offers, UTC, display_root=offers)
    assert files.campaigns == ()
    assert FileProblem("bad.toml", line, field, message) in files.problems
    assert f"bad.toml:{line}: {field}: {message}" in [str(p) for p in files.problems]


def test_missing_field_has_no_line(offers: Path) -> None:
    """A required field that is absent has no line to point at: 'name.toml: field: message'."""
    write(offers, "bad.toml", MCDONALDS_TOML.replace('currency = "USD"\n', ""))
    files = read_campaign_files(offers, UTC, display_root=offers)
    assert [str(p) for p in files.problems] == ["bad.toml: currency: is required"]


def test_several_problems_in_one_file_are_all_reported(offers: Path) -> None:
    """Every broken field of a file is reported, each at its own line."""
    text = MCDONALDS_TOML.replace('currency = "USD"', 'currency = "usd"').replace(
        'id = "amex-mcdonalds"', 'id = "Amex McDonalds"')
    write(offers, "bad.toml", text)
    files = read_campaign_files(offers, UTC, display_root=offers)
    assert [(p.line, p.field) for p in files.problems] == [(1, "id"), (10, "currency")]


def test_bad_file_does_not_stop_good_ones(offers: Path) -> None:
    """A broken file is skipped while the other files still load."""
    write(offers, "a-bad.toml", MCDONALDS_TOML.replace("credit = 5.00", "credit = -5.00"))
    write(offers, "b-good.toml", ZAPPOS_TOML)
    files = read_campaign_files(offers, UTC, display_root=offers)
    assert [c.id for c in files.campaigns] == ["amex-zappos"]
    assert [(p.path, p.field) for p in files.problems] == [("a-bad.toml", "credit")]


def test_toml_syntax_error_reports_its_line(offers: Path) -> None:
    """A TOML syntax error is reported at the line tomllib names."""
    write(offers, "broken.toml", MCDONALDS_TOML.replace('"#AmexMcDonalds"', "#AmexMcDonalds"))
    files = read_campaign_files(offers, UTC, display_root=offers)
    [problem] = files.problems
    assert (problem.path, problem.line, problem.field) == ("broken.toml", 3, "syntax")
    assert str(problem).startswith("broken.toml:3: syntax: ")
    assert problem.message.endswith("; fix the TOML there")
    assert files.campaigns == ()


def test_non_utf8_file_is_reported(offers: Path) -> None:
    """A file in another encoding is reported as not UTF-8, without a line."""
    (offers / "latin1.toml").write_bytes(MCDONALDS_TOML.replace("McDonald's", "Café Crème").encode("latin-1"))
    files = read_campaign_files(offers, UTC, display_root=offers)
    not_utf8 = "is not UTF-8 text; save it as UTF-8"
    assert files.problems == (FileProblem("latin1.toml", None, "file", not_utf8),)
    assert str(files.problems[0]) == f"latin1.toml: file: {not_utf8}"


def test_shared_hashtag_in_other_case_is_reported_on_second_file(offers: Path) -> None:
    """Two files with one hashtag (in different case): the second is refused, the first still loads."""
    write(offers, "a.toml", MCDONALDS_TOML)
    write(offers, "b.toml", ZAPPOS_TOML.replace("#AmexZappos", "#AMEXMCDONALDS"))
    files = read_campaign_files(offers, UTC, display_root=offers)
    [problem] = files.problems
    assert (problem.path, problem.line, problem.field) == ("b.toml", 3, "hashtag")
    assert "also used by a.toml" in problem.message
    assert [c.id for c in files.campaigns] == ["amex-mcdonalds"]
    assert files.sources == {"amex-mcdonalds": "a.toml"}


def test_shared_id_is_reported_on_second_file(offers: Path) -> None:
    """Two files with one id: the second is refused at its id line, the first still loads."""
    write(offers, "a.toml", MCDONALDS_TOML)
    write(offers, "b.toml", ZAPPOS_TOML.replace("amex-zappos", "amex-mcdonalds"))
    files = read_campaign_files(offers, UTC, display_root=offers)
    assert [(p.path, p.line, p.field) for p in files.problems] == [("b.toml", 1, "id")]
    assert [c.merchant for c in files.campaigns] == ["McDonald's"]


def test_display_root_defaults_to_full_path(offers: Path) -> None:
    """Without display_root, problems name the file by its full path."""
    path = write(offers, "bad.toml", MCDONALDS_TOML.replace('"USD"', '"usd"'))
    files = read_campaign_files(offers, UTC)
    assert files.problems[0].path == str(path)


def test_missing_folder_is_a_problem(tmp_path: Path) -> None:
    """A missing offers folder is one problem naming the folder and the setting."""
    missing = tmp_path / "no-offers"
    files = read_campaign_files(missing, UTC)
    assert files.campaigns == ()
    assert files.signature == ()
    [problem] = files.problems
    assert (problem.path, problem.line, problem.field) == (str(missing), None, "offers")
    assert "folder not found" in problem.message
    assert "[paths] offers" in problem.message


def test_empty_folder_has_no_campaigns_and_no_problems(offers: Path) -> None:
    """An empty offers folder is valid and has nothing in it."""
    files = read_campaign_files(offers, UTC)
    assert (files.campaigns, files.problems, files.signature) == ((), (), ())


def test_signature_changes_when_a_file_changes(offers: Path) -> None:
    """signature() changes when a file is edited, touched, added or removed, and not otherwise."""
    path = write(offers, "mcdonalds.toml", MCDONALDS_TOML)
    first = signature(offers)
    assert signature(offers) == first
    assert read_campaign_files(offers, UTC).signature == first

    write(offers, "mcdonalds.toml", MCDONALDS_TOML.replace("credit = 5.00", "credit = 6.00 "))
    edited = signature(offers)
    assert edited != first

    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    touched = signature(offers)
    assert touched != edited

    extra = write(offers, "zappos.toml", ZAPPOS_TOML)
    added = signature(offers)
    assert [name for name, _, _ in added] == ["mcdonalds.toml", "zappos.toml"]

    extra.unlink()
    assert signature(offers) == touched


def test_signature_of_missing_folder_is_empty(tmp_path: Path) -> None:
    """A missing folder has an empty signature rather than an error."""
    assert signature(tmp_path / "missing") == ()
