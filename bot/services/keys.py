"""The card fingerprint key: refuse to start with a key the linked cards were not made with, and
follow a rotation from the previous key to the current one."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.clock import Clock
from bot.domain.cards import KEY_VAR, PREVIOUS_KEY_VAR, KeyCheck
from bot.errors import ConfigError
from bot.ports import UnitOfWorkFactory

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeyUse:
    """How many linked members' card fingerprints were made with the current and previous keys."""

    current: KeyCheck
    previous: KeyCheck | None
    members: dict[str, int]  # key id -> linked members

    @property
    def on_current(self) -> int:
        """Return how many linked members use the current key."""
        return self.members.get(self.current.key_id, 0)

    @property
    def on_previous(self) -> int:
        """Return how many linked members still use the previous key (0 without one)."""
        return 0 if self.previous is None else self.members.get(self.previous.key_id, 0)

    def entries(self) -> list[tuple[str, str]]:
        """Return (label, what it says) for each key in use: the current one, and a previous one."""
        found = [("fingerprint key", f"key id {self.current.key_id}, {self.on_current:,} linked members")]
        if self.previous is not None:
            left = self.on_previous
            todo = (f"{left:,} linked members still use it: re-link them (`offerbot sync import` of the "
                    "member file)" if left else
                    f"no linked member uses it any more: remove {PREVIOUS_KEY_VAR}")
            found.append(("previous key", f"key id {self.previous.key_id}, {todo}"))
        return found

    def describe(self) -> list[str]:
        """Return lines for `offerbot status`."""
        return [f"{label:<17}{text}" for label, text in self.entries()]


def key_use(uow: UnitOfWorkFactory, current: KeyCheck, previous: KeyCheck | None) -> KeyUse:
    """Count the linked members on each key."""
    with uow(readonly=True) as tx:
        counts = tx.members.key_use()
    return KeyUse(current, previous, {k: n for k, n in counts.items() if k is not None})


def check_fingerprint_keys(uow: UnitOfWorkFactory, clock: Clock, current: KeyCheck,
                           previous: KeyCheck | None, *, source: str = "environment") -> KeyUse:
    """Refuse (ConfigError) a key that is not the one linked members' cards were fingerprinted with.

    With another key every card would read 'not linked' and a day's credits be lost for good, so
    every command checks before it starts. The previous key of a rotation is accepted too.
    Members linked before keys were checked are taken to use the previous key if one is set (they
    are older than any rotation), else the configured one; that is logged once. ``source`` says
    where the current key came from (the environment, or the sandbox's key file).
    """
    with uow(readonly=True) as tx:
        counts = tx.members.key_use()
        checks = tx.members.key_checks()
        unkeyed = None in counts or tx.members.unkeyed_links() > 0
    if unkeyed:
        _adopt(uow, clock, previous or current, "previous" if previous else "configured")
        with uow(readonly=True) as tx:
            counts = tx.members.key_use()
            checks = tx.members.key_checks()
    if checks.get(current.key_id, current.check_value) != current.check_value:
        raise ConfigError(source, KEY_VAR, f"its key id {current.key_id} is the id of another key already "
                          "in use (a one-in-four-billion coincidence)",
                          "generate another key with `offerbot keygen`")
    accepted = {current.check_value} | ({previous.check_value} if previous else set())
    unknown = {key_id: n for key_id, n in counts.items()
               if key_id is not None and checks.get(key_id) not in accepted}
    if unknown:
        raise ConfigError(source, KEY_VAR, _mismatch(current, previous, unknown), _fix(source))
    return KeyUse(current, previous, {k: n for k, n in counts.items() if k is not None})


def _adopt(uow: UnitOfWorkFactory, clock: Clock, key: KeyCheck, which: str) -> None:
    with uow() as tx:
        adopted = tx.members.adopt_key(key, clock())
        tx.commit()
    logger.warning("%d linked members were linked before fingerprint keys were checked; they are taken "
                   "to use key id %s, the %s key", adopted, key.key_id, which)


def _mismatch(current: KeyCheck, previous: KeyCheck | None, unknown: dict[str, int]) -> str:
    total = sum(unknown.values())
    ids = ", ".join(sorted(unknown))
    which = (f"the configured fingerprint key (key id {current.key_id})" if previous is None else
             f"neither the configured fingerprint key (key id {current.key_id}) nor {PREVIOUS_KEY_VAR} "
             f"(key id {previous.key_id})")
    verb = "is not" if previous is None else "is"
    return (f"{which} {verb} the one the {total:,} linked members' cards were fingerprinted with "
            f"(key id {ids}), so every card would read 'not linked' and its credits be lost")


def _fix(source: str) -> str:
    where = f"{KEY_VAR}" if source == "environment" else f"{KEY_VAR} (or restore {source})"
    return (f"set {where} to the key they were linked with, or, to rotate, put the old key in "
            f"{PREVIOUS_KEY_VAR} and re-link the members (offerbot sync import)")
