"""Templates on numbers: clamping, divisors, medians, histograms, grids of numbers,
balances."""

from __future__ import annotations

from hotmess.envs.codegen.functions import Draft, M, code, ints, template
from hotmess.envs.taskgen import TaskRandom


@template(
    "clamp", "numbers", verbs="clamp bound limit cap", nouns="reading level score volume speed dose"
)
def _clamp(rng: TaskRandom) -> Draft:
    low = rng.randint(-20, 10)
    high = low + rng.randint(20, 80)
    body = code(
        """
        if value < $low:
            return $low
        if value > $high:
            return $high
        return value
        """,
        low=low,
        high=high,
    )
    return Draft(
        "value: int",
        "int",
        f"Clamp value into the range {low}..{high}, both ends included.",
        (
            f"Values below {low} give {low} and values above {high} give {high}.",
            "Values inside the range are returned unchanged.",
        ),
        body,
        (
            M("wrong return value", f"< {low}:\n    return {low}", f"< {low}:\n    return {high}"),
            M("off-by-one", f"if value > {high}:", f"if value >= {high - 1}:", subtle=True),
            M("missing branch", f"if value > {high}:\n    return {high}\n", ""),
            M("wrong comparison", f"if value < {low}:", f"if value > {low}:"),
        ),
        [
            (v,)
            for v in (
                low - 7,
                low - 1,
                low,
                low + 1,
                (low + high) // 2,
                high - 1,
                high,
                high + 1,
                high + rng.randint(1, 30),
            )
        ],
    )


@template("gcd", "numbers", verbs="compute find get", nouns="common_divisor shared_factor gcd")
def _gcd(rng: TaskRandom) -> Draft:
    body = code(
        """
        a, b = abs(a), abs(b)
        while b:
            a, b = b, a % b
        return a
        """
    )
    factor = rng.randint(2, 9)
    return Draft(
        "a: int, b: int",
        "int",
        "Return the greatest common divisor of a and b, which is never negative.",
        ("gcd(x, 0) is abs(x), and gcd(0, 0) is 0.", "a and b may be negative."),
        body,
        (
            M("missing edge case", "a, b = abs(a), abs(b)\n", "", subtle=True),
            M("off-by-one", "while b:", "while b > 1:", subtle=True),
            M("wrong return value", "return a", "return b"),
            M("swapped arguments", "a, b = b, a % b", "a, b = b, b % a"),
        ),
        [
            (12, 18),
            (7, 0),
            (0, 9),
            (0, 0),
            (-12, 18),
            (12, -18),
            (5, 3),
            (10, 4),
            (factor * rng.randint(2, 9), factor * rng.randint(2, 9)),
        ],
    )


@template(
    "median",
    "numbers",
    verbs="compute find measure",
    nouns="median median_delay median_price middle_score",
)
def _median(rng: TaskRandom) -> Draft:
    body = code(
        """
        if not values:
            return None
        ordered = sorted(values)
        middle = len(ordered) // 2
        if len(ordered) % 2 == 1:
            return float(ordered[middle])
        return (ordered[middle - 1] + ordered[middle]) / 2
        """
    )
    return Draft(
        "values: list[int]",
        "float | None",
        "Return the median of values as a float: the middle value once sorted, or the mean of the two middle values when there is an even number of values.",
        ("An empty list gives None.",),
        body,
        (
            M("missing step", "ordered = sorted(values)", "ordered = list(values)", subtle=True),
            M(
                "off-by-one",
                "(ordered[middle - 1] + ordered[middle]) / 2",
                "(ordered[middle] + ordered[middle + 1]) / 2",
            ),
            M("swapped branches", "if len(ordered) % 2 == 1:", "if len(ordered) % 2 == 0:"),
            M("missing edge case", "if not values:\n    return None\n", "", subtle=True),
            M("wrong operator", ") / 2", ") // 2", subtle=True),
        ),
        [
            ([],),
            ([4],),
            ([3, 1, 2],),
            ([4, 1, 3, 2],),
            ([5, 2],),
            ([7, 7, 1, 9, 2, 4],),
            (ints(rng, rng.randint(1, 7), -10, 20),),
        ],
    )


@template("histogram", "numbers", verbs="bucket bin count", nouns="ages latencies scores sizes")
def _histogram(rng: TaskRandom) -> Draft:
    width, n = rng.randint(2, 5), rng.randint(3, 5)
    limit = width * n
    body = code(
        """
        counts = [0] * $n
        for value in values:
            if 0 <= value < $limit:
                counts[value // $width] += 1
        return counts
        """,
        n=n,
        limit=limit,
        width=width,
    )
    return Draft(
        "values: list[int]",
        "list[int]",
        f"Count values into {n} buckets of width {width}: bucket i counts the values v with {width} * i <= v < {width} * (i + 1).",
        (f"Values below 0 or at least {limit} are ignored.", f"The result always has {n} counts."),
        body,
        (
            M("off-by-one", f"0 <= value < {limit}", f"0 <= value <= {limit}", subtle=True),
            M("wrong operator", f"value // {width}", f"value % {width}"),
            M("missing edge case", f"0 <= value < {limit}", f"value < {limit}", subtle=True),
            M("wrong initial value", f"counts = [0] * {n}", f"counts = [1] * {n}"),
        ),
        [
            ([],),
            ([0],),
            ([limit - 1, limit, -1],),
            ([width, width + 1, 0, limit + 2],),
            (ints(rng, 7, -3, limit + 3),),
        ],
    )


@template("diagonal_sum", "numbers", verbs="sum total score", nouns="diagonals cross board")
def _diagonal_sum(rng: TaskRandom) -> Draft:
    body = code(
        """
        n = len(matrix)
        total = 0
        for i in range(n):
            total += matrix[i][i] + matrix[i][n - 1 - i]
        if n % 2 == 1:
            total -= matrix[n // 2][n // 2]
        return total
        """
    )
    size = rng.randint(2, 4)
    return Draft(
        "matrix: list[list[int]]",
        "int",
        "Return the sum of both diagonals of a square matrix given as a list of rows; when the size is odd the centre cell is counted once.",
        ("An empty matrix gives 0.",),
        body,
        (
            M(
                "missing edge case",
                "if n % 2 == 1:\n    total -= matrix[n // 2][n // 2]\n",
                "",
                subtle=True,
            ),
            M("off-by-one", "matrix[i][n - 1 - i]", "matrix[i][n - i]"),
            M("wrong comparison", "n % 2 == 1", "n % 2 == 0"),
            M("wrong initial value", "total = 0", "total = n"),
        ),
        [
            ([],),
            ([[5]],),
            ([[1, 2], [3, 4]],),
            ([[1, 2, 3], [4, 5, 6], [7, 8, 9]],),
            ([ints(rng, size, -5, 9) for _ in range(size)],),
        ],
    )


@template(
    "transactions",
    "numbers",
    verbs="apply settle process",
    nouns="transactions payments ledger transfers",
)
def _transactions(rng: TaskRandom) -> Draft:
    opening, floor = rng.randint(5, 50), -rng.randint(0, 30)
    room = opening - floor
    body = code(
        """
        balance = $opening
        rejected = 0
        for amount in amounts:
            if amount < 0 and balance + amount < $floor:
                rejected += 1
            else:
                balance += amount
        return balance, rejected
        """,
        opening=opening,
        floor=floor,
    )
    return Draft(
        "amounts: list[int]",
        "tuple[int, int]",
        f"Apply amounts in order to a balance that starts at {opening}: positive amounts are deposits, negative ones withdrawals. A withdrawal that would take the balance below {floor} is rejected and skipped. Return (final balance, number of rejected withdrawals).",
        (),
        body,
        (
            M(
                "off-by-one",
                f"balance + amount < {floor}",
                f"balance + amount <= {floor}",
                subtle=True,
            ),
            M("wrong initial value", f"balance = {opening}", "balance = 0"),
            M("swapped return values", "return balance, rejected", "return rejected, balance"),
        ),
        [
            ([],),
            ([10],),
            ([-5],),
            ([-room],),
            ([-room - 1, 3],),
            ([rng.randint(-30, 30) for _ in range(5)],),
        ],
    )
