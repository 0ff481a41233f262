"""Templates on intervals: merging overlapping spans."""

from __future__ import annotations

from hotmess.envs.codegen.functions import Draft, M, code, ints, template
from hotmess.envs.taskgen import TaskRandom


@template(
    "merge_intervals",
    "intervals",
    verbs="merge combine coalesce",
    nouns="spans ranges intervals bookings slots",
)
def _merge_intervals(rng: TaskRandom) -> Draft:
    touching = rng.random() < 0.5
    cmp, other = ("<=", "<") if touching else ("<", "<=")
    body = code(
        """
        merged = []
        for start, end in sorted(intervals):
            if merged and start $cmp merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged
        """,
        cmp=cmp,
    )
    touch = "merged" if touching else "kept apart"
    random_spans = [(s, s + rng.randint(0, 4)) for s in ints(rng, 4, 0, 12)]
    return Draft(
        "intervals: list[tuple[int, int]]",
        "list[tuple[int, int]]",
        "Merge overlapping intervals and return them sorted by start. Each interval is a (start, end) pair with start <= end.",
        (
            f"Intervals that only touch (one ends where the next starts) are {touch}.",
            "An empty list gives an empty list.",
        ),
        body,
        (
            M("missing step", "sorted(intervals)", "intervals"),
            M("wrong comparison", f"start {cmp} merged", f"start {other} merged", subtle=True),
            M("missing edge case", "max(merged[-1][1], end)", "end", subtle=True),
            M("wrong variable", "(merged[-1][0], max", "(start, max"),
        ),
        [
            ([],),
            ([(1, 3)],),
            ([(1, 3), (2, 6), (8, 10)],),
            ([(5, 8), (1, 2)],),
            ([(1, 4), (4, 6)],),
            ([(1, 10), (2, 3)],),
            ([(6, 7), (1, 5), (5, 6)],),
            (random_spans,),
        ],
    )
