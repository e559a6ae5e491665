"""X API v2 post objects (JSON) into domain mentions; shared by the X adapter and the sandbox."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.adapters.x_ids import remember_x_ids
from bot.domain.hashtags import hashtags_in_text, keys_and_forms
from bot.domain.mentions import Mention, MentionPage


def mention_from_post(post: Mapping[str, Any], handles: Mapping[str, str]) -> Mention:
    """Return the mention in one v2 post object; ``handles`` maps author ids to usernames.

    Hashtags come from ``entities.hashtags`` (X's own parse); the text is the fallback for
    posts without entities. A post that references another as ``retweeted`` is a retweet. An
    edit belongs to the interaction its ``edit_history_tweet_ids`` starts with (the original).
    """
    text = str(post.get("text", ""))
    entities = post.get("entities") or {}
    tagged = [str(h.get("tag", "")) for h in entities.get("hashtags") or ()]
    referenced = post.get("referenced_tweets") or ()
    is_retweet = any(r.get("type") == "retweeted" for r in referenced) or text.startswith("RT @")
    author_id = str(post.get("author_id", ""))
    created = post.get("created_at")
    keys, typed = keys_and_forms(tagged or hashtags_in_text(text))
    history = [str(i) for i in post.get("edit_history_tweet_ids") or () if str(i).isdigit()]
    remember_x_ids(post["id"], author_id, post.get("conversation_id"), *history)
    return Mention(
        post_id=str(post["id"]),
        author_id=author_id,
        text=text,
        hashtags=keys,
        created_at=datetime.fromisoformat(created) if created else None,
        author_handle=handles.get(author_id),
        is_retweet=is_retweet,
        typed_hashtags=typed,
        interaction_id=history[0] if history else None,
    )


def page_from_body(body: Mapping[str, Any]) -> MentionPage:
    """Return the page in a v2 timeline response body (data, includes.users, meta)."""
    users = (body.get("includes") or {}).get("users") or ()
    handles = {str(u["id"]): str(u.get("username", "")) for u in users}
    posts = body.get("data") or ()
    meta = body.get("meta") or {}
    return MentionPage(tuple(mention_from_post(p, handles) for p in posts), meta.get("newest_id"))
