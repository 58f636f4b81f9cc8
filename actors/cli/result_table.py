"""A batch's outcome as a plain-text table: a line per order (pair, side, outcome, txid, reason)."""

from __future__ import annotations

from schemas import BatchCompleted, BatchRejected, OrderBatchRequested

__all__ = ["render_outcome"]

_COLUMNS = ("#", "pair", "side", "outcome", "txid", "reason")


def render_outcome(batch: OrderBatchRequested, outcome: BatchCompleted | BatchRejected) -> str:
    if isinstance(outcome, BatchRejected):
        return (
            f"batch {outcome.batch_id} rejected whole ({outcome.order_count} orders, none sent): "
            f"{outcome.reason}"
        )
    rows = [
        (
            str(result.index),
            result.pair,
            str(batch.orders[result.index].side) if result.index < len(batch.orders) else "?",
            str(result.outcome),
            result.txid or "-",
            result.reason or "",
        )
        for result in sorted(outcome.results, key=lambda r: r.index)
    ]
    widths = [max(len(row[i]) for row in (_COLUMNS, *rows)) for i in range(len(_COLUMNS))]
    mode = ", validate only" if outcome.validate_only else ""
    lines = [
        f"batch {outcome.batch_id} ({outcome.strategy}{mode}): "
        f"{outcome.placed} placed, {outcome.rejected} rejected, {outcome.failed} failed "
        f"in {outcome.duration_ns / 1e6:.0f} ms",
    ]
    for row in (_COLUMNS, *rows):
        lines.append(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return "\n".join(lines)
