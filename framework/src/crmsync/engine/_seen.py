"""Links read while the feeds were read, kept for the records that were staged.

An incremental read looks up the links of every page it reads (to leave out echoes of
crmsync's own writes); the records it stages are decided later in the same cycle, and
deciding needs those same links. Reading them twice cost a tenth of an update cycle.
A link written or removed since it was read (a relink, a pair settled from the other
side) is read again from the store: what is handed out is what the store holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from crmsync.store import LinkRow

# Links kept at most (a cycle of more changed records reads the rest again): about
# 1 kB each, so a few tens of MB at worst.
SEEN_LINKS_KEPT = 50_000


class SeenLinks:
    """Links by (side, object, record id) as read this cycle, until they are used."""

    def __init__(self, limit: int = SEEN_LINKS_KEPT) -> None:
        self._links: dict[tuple[str, str, str], LinkRow] = {}
        self._written: set[int] = set()
        self._limit = limit

    def clear(self) -> None:
        self._links.clear()
        self._written.clear()

    def remember(self, side: str, links: Mapping[tuple[str, str], LinkRow]) -> None:
        """Keep ``links`` (by ``side``'s (object, id)), while there is room."""
        room = self._limit - len(self._links)
        if room <= 0:
            return
        kept = self._links
        for (object_name, record_id), link in links.items():
            if room <= 0:
                break
            kept[(side, object_name, record_id)] = link
            room -= 1

    def written(self, ids: Iterable[int | None]) -> None:
        """Links the cycle stored or removed: the copies read before are stale."""
        if self._links:
            self._written.update(i for i in ids if i is not None)

    def take(
        self, side: str, keys: Sequence[tuple[str, str]]
    ) -> tuple[dict[tuple[str, str], LinkRow], list[tuple[str, str]]]:
        """The kept links of ``keys`` (handed out once), and the keys to read."""
        found: dict[tuple[str, str], LinkRow] = {}
        if not self._links:
            return found, list(keys)
        missing: list[tuple[str, str]] = []
        kept, written = self._links, self._written
        for key in keys:
            link = kept.pop((side, *key), None)
            if link is None or link.id in written:
                missing.append(key)
            else:
                found[key] = link
        return found, missing
