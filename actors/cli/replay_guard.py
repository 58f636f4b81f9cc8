"""What ``galfriday replay`` may publish where: command subjects never go back into a live root.

Replaying ``orders.batch.requested`` re-executes recorded batches; ``control.*`` flips the kill
switch; ``kraken.call.*`` feeds the breakers. Into the live subject root they are refused unless
the user asks for another root (the subjects are rewritten) or a dry run (nothing published).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from bus.eventlog import LogRecord

__all__ = [
    "COMMAND_TAILS",
    "ReplayRefused",
    "is_command_subject",
    "plan_subject_counts",
    "plan_subjects",
    "retarget",
    "split_root",
]

COMMAND_TAILS = ("orders.batch.requested", "control.", "kraken.call.")
"""Subjects (after the root) whose replay makes something happen, not just reports it."""
_FIRST_TOKENS = frozenset({"md", "orders", "kraken", "errors", "breaker", "control", "dlq", "svc"})


class ReplayRefused(ValueError):
    """The replay would re-issue commands on a live root; the message says what to do."""


def split_root(subject: str) -> tuple[str, str]:
    """``gf.orders.batch.requested`` → (``gf``, ``orders.batch.requested``); the root may
    itself contain dots. A subject of no known shape is all root."""
    tokens = subject.split(".")
    for index in range(1, len(tokens)):
        if tokens[index] in _FIRST_TOKENS:
            return ".".join(tokens[:index]), ".".join(tokens[index:])
    return subject, ""


def is_command_subject(subject: str) -> bool:
    tail = split_root(subject)[1]
    return any(tail == c or (c.endswith(".") and tail.startswith(c)) for c in COMMAND_TAILS)


def retarget(
    records: Iterable[LogRecord], *, live_root: str, target_root: str | None, dry_run: bool
) -> list[LogRecord]:
    """The records to publish, moved under ``target_root`` when given.

    Raises :class:`ReplayRefused` when command subjects would land on ``live_root``.
    """
    kept = records if isinstance(records, list) else list(records)
    targets = plan_subjects(kept, live_root=live_root, target_root=target_root, dry_run=dry_run)
    return [
        record
        if targets[record.subject] == record.subject
        else LogRecord(targets[record.subject], record.headers, record.received_ns, record.payload)
        for record in kept
    ]


def plan_subjects(
    records: Iterable[LogRecord], *, live_root: str, target_root: str | None, dry_run: bool
) -> dict[str, str]:
    """Where each recorded subject is published (moved under ``target_root`` when given).

    Raises :class:`ReplayRefused` when command subjects would land on ``live_root``. A log
    holds few distinct subjects: each is looked at once (a replay's hot loop is per record).
    """
    counts = Counter(record.subject for record in records)
    return plan_subject_counts(
        counts, live_root=live_root, target_root=target_root, dry_run=dry_run
    )


def plan_subject_counts(
    counts: Mapping[str, int], *, live_root: str, target_root: str | None, dry_run: bool
) -> dict[str, str]:
    """:func:`plan_subjects` from how many records each recorded subject has."""
    targets: dict[str, str] = {}
    commands = 0
    for subject, count in counts.items():
        tail = split_root(subject)[1]
        moved = f"{target_root}.{tail}" if target_root is not None and tail else subject
        targets[subject] = moved
        if is_command_subject(moved) and split_root(moved)[0] == live_root:
            commands += count
    if commands and not dry_run:
        raise ReplayRefused(
            f"the log holds {commands} command message(s) (orders.batch.requested, control.*, "
            f"kraken.call.*) that would re-execute on the live subject root {live_root!r}; "
            "replay into another root with --subject-root ROOT, or use --dry-run"
        )
    return targets
