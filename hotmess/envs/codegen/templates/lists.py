"""Templates on lists: running totals and maxima, dedupe, chunk, flatten, search, rotate,
windows and runs."""

from __future__ import annotations

from hotmess.envs.codegen.functions import Draft, M, code, ints, template
from hotmess.envs.taskgen import TaskRandom


@template(
    "running_total",
    "lists",
    verbs="accumulate tally cumulate total",
    nouns="deposits points steps sales hours rainfall",
)
def _running_total(rng: TaskRandom) -> Draft:
    start = rng.randint(1, 9)
    body = code(
        """
        total = $start
        totals = []
        for value in values:
            total += value
            totals.append(total)
        return totals
        """,
        start=start,
    )
    return Draft(
        "values: list[int]",
        "list[int]",
        f"Return the running totals of values, starting from {start}: element i of the result is {start} plus the sum of values[0] to values[i].",
        ("An empty list gives an empty list.", "Values may be negative."),
        body,
        (
            M("wrong initial value", f"total = {start}", "total = 0"),
            M(
                "off-by-one",
                "total += value\n    totals.append(total)",
                "totals.append(total)\n    total += value",
                subtle=True,
            ),
            M("wrong operator", "total += value", "total -= value"),
            M(
                "early return",
                "    totals.append(total)\nreturn totals",
                "    totals.append(total)\n    return totals",
                subtle=True,
            ),
        ),
        [([],), ([5],), ([1, 2, 3],), ([4, -2, 7, 0],), (ints(rng, rng.randint(3, 6), -9, 20),)],
    )


@template("running_max", "lists", verbs="track trace record", nouns="peaks highs records maxima")
def _running_max(rng: TaskRandom) -> Draft:
    body = code(
        """
        peaks = []
        best = None
        for value in values:
            if best is None or value > best:
                best = value
            peaks.append(best)
        return peaks
        """
    )
    return Draft(
        "values: list[int]",
        "list[int]",
        "Return the running maximum of values: element i of the result is the largest of values[0] to values[i].",
        ("An empty list gives an empty list.", "Values may be negative."),
        body,
        (
            M(
                "wrong initial value",
                "best = None\nfor value in values:\n    if best is None or value > best:",
                "best = 0\nfor value in values:\n    if value > best:",
                subtle=True,
            ),
            M("wrong comparison", "value > best", "value < best"),
            M("wrong variable", "peaks.append(best)", "peaks.append(value)"),
            M(
                "mishandled duplicates",
                "        best = value\n    peaks.append(best)",
                "        best = value\n        peaks.append(best)",
                subtle=True,
            ),
        ),
        [
            ([],),
            ([3],),
            ([-5, -2, -9],),
            ([-3, -7, -1],),
            ([1, 3, 2, 5, 4],),
            ([2, 2, 1],),
            (ints(rng, 5, -10, 10),),
        ],
    )


@template("dedupe", "lists", verbs="dedupe prune collapse", nouns="ids codes visits orders tickets")
def _dedupe(rng: TaskRandom) -> Draft:
    body = code(
        """
        seen = set()
        unique = []
        for item in items:
            if item not in seen:
                seen.add(item)
                unique.append(item)
        return unique
        """
    )
    pool = ints(rng, 4, 1, 30)
    return Draft(
        "items: list[int]",
        "list[int]",
        "Return items without repeats, keeping the first occurrence of each in its original order.",
        ("An empty list gives an empty list.",),
        body,
        (
            M(
                "mishandled duplicates",
                "if item not in seen:",
                "if item not in unique[-1:]:",
                subtle=True,
            ),
            M("wrong return value", "return unique", "return sorted(seen)"),
            M("missing step", "        seen.add(item)\n", ""),
        ),
        [
            ([],),
            ([3],),
            ([3, 1, 3, 2, 1],),
            ([5, 5, 4],),
            ([2, 9, 2, 9, 7],),
            ([rng.choice(pool) for _ in range(7)],),
        ],
    )


@template(
    "chunk", "lists", verbs="batch chunk split group", nouns="rows jobs records packets samples"
)
def _chunk(rng: TaskRandom) -> Draft:
    size = rng.randint(2, 4)
    body = code(
        """
        chunks = []
        for start in range(0, len(items), $size):
            chunks.append(items[start : start + $size])
        return chunks
        """,
        size=size,
    )
    return Draft(
        "items: list[int]",
        "list[list[int]]",
        f"Split items into consecutive chunks of {size}, in order; the last chunk may be shorter.",
        ("An empty list gives an empty list.",),
        body,
        (
            M("off-by-one", f"items[start : start + {size}]", f"items[start : start + {size - 1}]"),
            M(
                "missing edge case",
                f"range(0, len(items), {size})",
                f"range(0, len(items) - {size} + 1, {size})",
                subtle=True,
            ),
            M("wrong step", f"range(0, len(items), {size})", f"range(0, len(items), {size - 1})"),
            M(
                "early return",
                f"    chunks.append(items[start : start + {size}])\nreturn chunks",
                f"    chunks.append(items[start : start + {size}])\n    return chunks",
            ),
        ),
        [
            ([],),
            ([7],),
            (list(range(1, size + 1)),),
            (list(range(1, 2 * size + 2)),),
            (ints(rng, 3 * size, 0, 9),),
        ],
    )


@template("flatten", "lists", verbs="flatten unnest splice", nouns="batches groups pages lists")
def _flatten(rng: TaskRandom) -> Draft:
    body = code(
        """
        flat = []
        for item in nested:
            if isinstance(item, list):
                flat.extend(item)
            else:
                flat.append(item)
        return flat
        """
    )
    deep = "flat.extend(x for sub in item for x in (sub if isinstance(sub, list) else [sub]))"
    return Draft(
        "nested: list",
        "list",
        "Flatten one level: items that are lists are replaced by their elements; other items stay as they are.",
        (
            "Lists nested two levels deep keep their inner lists.",
            "An empty list gives an empty list.",
        ),
        body,
        (
            M("wrong method", "flat.extend(item)", "flat.append(item)"),
            M("missing branch", "    else:\n        flat.append(item)\n", ""),
            M("off-by-one", "flat.extend(item)", "flat.extend(item[1:])"),
            M("too deep", "flat.extend(item)", deep, subtle=True),
        ),
        [
            ([],),
            ([1, 2],),
            ([[1, 2], 3, [4]],),
            ([[1, [2, 3]], [], 5],),
            ([[], [rng.randint(0, 9)]],),
            ([rng.randint(0, 9), [rng.randint(0, 9), [rng.randint(0, 9)]]],),
        ],
    )


@template("binary_search", "lists", verbs="locate find search", nouns="index slot position entry")
def _binary_search(rng: TaskRandom) -> Draft:
    body = code(
        """
        low, high = 0, len(items) - 1
        while low <= high:
            middle = (low + high) // 2
            if items[middle] == target:
                return middle
            if items[middle] < target:
                low = middle + 1
            else:
                high = middle - 1
        return -1
        """
    )
    items = sorted(rng.sample(range(0, 60), rng.randint(5, 9)))
    return Draft(
        "items: list[int], target: int",
        "int",
        "Return the index of target in items, a list of distinct integers in increasing order, or -1 when target is not in it. Use binary search.",
        (),
        body,
        (
            M("off-by-one", "while low <= high:", "while low < high:", subtle=True),
            M(
                "wrong initial value",
                "low, high = 0, len(items) - 1",
                "low, high = 0, len(items) - 2",
                subtle=True,
            ),
            M("wrong comparison", "if items[middle] < target:", "if items[middle] > target:"),
            M("wrong return value", "return -1", "return low"),
        ),
        [
            ([], 3),
            ([5], 5),
            ([5], 2),
            ([1, 3, 5, 7, 9], 9),
            ([1, 3, 5, 7, 9], 1),
            ([1, 3, 5, 7, 9], 4),
            ([2, 4, 6, 8], 8),
            (items, rng.choice(items)),
            (items, 61),
        ],
    )


@template("transpose", "lists", verbs="transpose flip pivot", nouns="grid matrix table board")
def _transpose(rng: TaskRandom) -> Draft:
    body = code(
        """
        if not matrix:
            return []
        columns = []
        for col in range(len(matrix[0])):
            columns.append([row[col] for row in matrix])
        return columns
        """
    )
    rows, cols = rng.randint(1, 4), rng.randint(1, 4)
    return Draft(
        "matrix: list[list[int]]",
        "list[list[int]]",
        "Return the transpose of a rectangular matrix given as a list of rows: row i of the result is column i of the input.",
        ("An empty matrix gives an empty list.", "The matrix need not be square."),
        body,
        (
            M("missing edge case", "if not matrix:\n    return []\n", "", subtle=True),
            M("wrong dimension", "range(len(matrix[0]))", "range(len(matrix))", subtle=True),
            M("off-by-one", "for row in matrix])", "for row in matrix[1:]])"),
        ),
        [
            ([],),
            ([[1]],),
            ([[1, 2], [3, 4]],),
            ([[1, 2, 3], [4, 5, 6]],),
            ([[1], [2], [3]],),
            ([ints(rng, cols, 0, 9) for _ in range(rows)],),
        ],
    )


@template("rotate", "lists", verbs="rotate shift cycle", nouns="queue ring playlist roster")
def _rotate(rng: TaskRandom) -> Draft:
    right = rng.random() < 0.5
    rotated, opposite = "items[-steps:] + items[:-steps]", "items[steps:] + items[:steps]"
    if not right:
        rotated, opposite = opposite, rotated
    body = code(
        """
        if not items:
            return []
        steps %= len(items)
        return $rotated
        """,
        rotated=rotated,
    )
    moves = (
        "the last element moves to the front" if right else "the first element moves to the back"
    )
    return Draft(
        "items: list[int], steps: int",
        "list[int]",
        f"Rotate items {'right' if right else 'left'} by steps places: at each step {moves}. Return a new list.",
        (
            "steps is never negative and may be larger than the list.",
            "An empty list gives an empty list.",
        ),
        body,
        (
            M("missing edge case", "if not items:\n    return []\n", "", subtle=True),
            M("missing wraparound", "steps %= len(items)\n", "", subtle=True),
            M("wrong direction", rotated, opposite),
        ),
        [
            ([], 3),
            ([1], 5),
            ([1, 2, 3, 4, 5], 2),
            ([1, 2, 3], 0),
            ([1, 2, 3], 4),
            ([1, 2, 3], 3),
            (ints(rng, 4, 0, 9), rng.randint(1, 3)),
        ],
    )


@template(
    "second_largest", "lists", verbs="find pick get", nouns="runner_up second_best second_highest"
)
def _second_largest(rng: TaskRandom) -> Draft:
    body = code(
        """
        distinct = sorted(set(values))
        if len(distinct) < 2:
            return None
        return distinct[-2]
        """
    )
    return Draft(
        "values: list[int]",
        "int | None",
        "Return the second largest distinct value in values, or None when values has fewer than two distinct values.",
        (),
        body,
        (
            M("mishandled duplicates", "sorted(set(values))", "sorted(values)", subtle=True),
            M("off-by-one", "len(distinct) < 2", "len(distinct) < 1", subtle=True),
            M("wrong index", "return distinct[-2]", "return distinct[1]"),
        ),
        [
            ([],),
            ([4],),
            ([4, 4],),
            ([1, 2],),
            ([5, 9, 9, 3],),
            ([7, 3, 7, 1, 5],),
            (ints(rng, 6, -5, 15),),
        ],
    )


@template("longest_run", "lists", verbs="measure find count", nouns="streak run winning_streak")
def _longest_run(rng: TaskRandom) -> Draft:
    body = code(
        """
        if not values:
            return 0
        best = current = 1
        for previous, value in zip(values, values[1:]):
            if value == previous:
                current += 1
                best = max(best, current)
            else:
                current = 1
        return best
        """
    )
    return Draft(
        "values: list[int]",
        "int",
        "Return the length of the longest run of equal adjacent values.",
        ("An empty list gives 0.",),
        body,
        (
            M("missing edge case", "if not values:\n    return 0\n", "", subtle=True),
            M("wrong reset value", "        current = 1", "        current = 0", subtle=True),
            M("missing step", "        best = max(best, current)\n", ""),
            M("wrong comparison", "value == previous", "value >= previous", subtle=True),
        ),
        [
            ([],),
            ([3],),
            ([1, 1, 2, 2, 2, 1],),
            ([5, 5, 1, 5],),
            ([1, 2, 3],),
            ([2, 2, 2],),
            (ints(rng, 8, 1, 2),),
        ],
    )


@template(
    "window_sums", "lists", verbs="smooth window slide", nouns="readings load traffic samples"
)
def _window_sums(rng: TaskRandom) -> Draft:
    w = rng.randint(2, 4)
    body = code(
        """
        sums = []
        for start in range(len(values) - $w + 1):
            sums.append(sum(values[start : start + $w]))
        return sums
        """,
        w=w,
    )
    return Draft(
        "values: list[int]",
        "list[int]",
        f"Return the sum of every window of {w} consecutive values, from left to right.",
        (f"A list shorter than {w} gives an empty list.",),
        body,
        (
            M(
                "off-by-one",
                f"range(len(values) - {w} + 1)",
                f"range(len(values) - {w})",
                subtle=True,
            ),
            M(
                "wrong window size",
                f"values[start : start + {w}]",
                f"values[start : start + {w - 1}]",
            ),
            M("missing edge case", f"range(len(values) - {w} + 1)", "range(len(values))"),
        ),
        [
            ([],),
            ([1] * (w - 1),),
            (list(range(1, w + 1)),),
            (ints(rng, w + rng.randint(1, 4), -5, 9),),
        ],
    )
