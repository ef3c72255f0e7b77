"""How long a consumer keeps fetching after a batch's first record (its linger).

A consumer that writes one document per learner or team per batch writes fewer documents
when its batches are larger, and lingering makes them larger at the cost of later outputs
(docs/decisions/0014). Below the store's capacity the linger buys little: the store has room
for the extra writes, and the linger is most of the latency (at 100 statements/s, 150 ms of
linger put learner events at p95 275 ms, 30 ms at 109 ms: docs/benchmarks.md). Near
saturation it matters: the writes it saves are what the store lacks.

A linger that follows the load is as long as the consumer's recent batches took to handle,
and never longer than the configured one. Handling time is the consumer's own measure of how
busy its store is: a few milliseconds while the store keeps up, hundreds once it queues. So
a quiet pipeline answers about as soon as it can, and a busy one gathers the batches a fixed
linger would. The estimate is smoothed (each batch counts half) so that one small batch does
not make the next one wait for nothing; before any batch is handled the full linger applies.
"""

from __future__ import annotations


class LingerPace:
    """The linger of each next batch, from the handling times of the ones before."""

    def __init__(self, longest_ms: int, follows_load: bool) -> None:
        self._longest = longest_ms / 1000
        self._follows_load = follows_load
        self._handling: float | None = None  # smoothed seconds per batch handled

    def seconds(self) -> float:
        """How long the next batch lingers after its first record."""
        if not self._follows_load or self._handling is None:
            return self._longest
        return min(self._longest, self._handling)

    def handled(self, seconds: float) -> None:
        """A batch took `seconds` to handle (its side effects, outputs and commit)."""
        if self._handling is None:
            self._handling = seconds
        else:
            self._handling = (self._handling + seconds) / 2
