"""Reply texts from templates/*.j2 (Jinja2), measured the way X measures them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, select_autoescape
from twitter_text import parse_tweet

from bot.errors import BotError, ReplyTooLong

MAX_WEIGHTED_LENGTH = 280


def weighted_length(text: str) -> int:
    """Return the length X counts: most scripts 1, CJK and emoji 2, any URL 23."""
    return int(parse_tweet(text).weightedLength)


def listing(items: Sequence[Mapping[str, Any]], more: int = 0, attr: str = "hashtag",
            noun: str = "offers") -> str:
    """Return the items' ``attr`` joined by commas, with 'and N more' (or 'N offers' alone)."""
    names = [str(item[attr]) for item in items]
    if not more:
        return ", ".join(names)
    if not names:
        return f"{more} {noun.removesuffix('s') if more == 1 else noun}"
    return f"{', '.join(names)} and {more} more"


class TemplateRenderer:
    """Render reply templates; a reply too long in full is tried in compact form, then with
    fewer items named (counted as 'and N more') until it fits.
    """

    def __init__(self, templates_dir: Path) -> None:
        self._env = Environment(
            loader=FileSystemLoader(templates_dir),
            undefined=StrictUndefined,  # a misspelt variable fails loudly, not as an empty string
            # Replies are plain text; only HTML (a future dashboard) is escaped.
            autoescape=select_autoescape(["html", "htm", "xml"], default_for_string=False),
            trim_blocks=True,
            lstrip_blocks=True,
            # An included one-line template must still end its sentence with a space.
            keep_trailing_newline=True,
        )
        self._env.filters["listing"] = listing

    def render(self, template: str, context: dict[str, Any]) -> str:
        """Return the reply text, whitespace folded, within 280 weighted characters."""
        # `more` counts what each list leaves out (0 when it names all); older contexts have none.
        more: defaultdict[str, int] = defaultdict(int, context.get("more") or {})
        context = {**context, "more": more}
        length = 0
        for compact in (False, True):
            text = self._render(template, {**context, "compact": compact})
            length = weighted_length(text)
            if length <= MAX_WEIGHTED_LENGTH:
                return text
        # Never leave a member unanswered for length: name fewer items, the last lists first.
        lists = {name: list(items) for name, items in context.items() if isinstance(items, list)}
        for name in reversed(list(lists)):
            while lists[name]:
                lists[name].pop()
                more[name] += 1
                text = self._render(template, {**context, **lists, "compact": True})
                if weighted_length(text) <= MAX_WEIGHTED_LENGTH:
                    return text
        raise ReplyTooLong(template, length)

    def _render(self, template: str, context: dict[str, Any]) -> str:
        try:
            raw = self._env.get_template(template).render(context)
        except TemplateError as exc:
            where = getattr(exc, "filename", None) or template
            line = getattr(exc, "lineno", None)
            raise BotError(f"{where}{f':{line}' if line else ''}: template error: {exc}") from exc
        # Templates are written over several lines for people; a post is one line of words.
        return " ".join(raw.split())
