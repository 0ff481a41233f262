"""Templates that parse or format text: key=value pairs, Roman numerals, balanced
brackets, IPv4 addresses."""

from __future__ import annotations

from hotmess.envs.codegen.functions import NAMES, Draft, M, code, template
from hotmess.envs.taskgen import TaskRandom


@template(
    "parse_pairs",
    "parsing",
    verbs="parse read decode",
    nouns="settings options headers params fields",
)
def _parse_pairs(rng: TaskRandom) -> Draft:
    sep = rng.choice((";", ",", "&", "|"))
    kv = rng.choice(("=", ":"))
    body = code(
        """
        pairs = {}
        for piece in text.split("$sep"):
            if not piece.strip():
                continue
            key, _, value = piece.partition("$kv")
            pairs[key.strip()] = value.strip()
        return pairs
        """,
        sep=sep,
        kv=kv,
    )
    keys = rng.sample(NAMES, 3)
    random_text = sep.join(f"{k}{kv}{rng.randint(0, 99)}" for k in keys)
    return Draft(
        "text: str",
        "dict[str, str]",
        f"Parse text of the form 'key{kv}value{sep}key{kv}value' into a dict mapping keys to values, both strings.",
        (
            "Spaces around keys and values are removed.",
            f"Empty pieces (for example after a trailing {sep!r}) are skipped.",
            f"A value may itself contain {kv!r}: each piece is split at its first {kv!r}.",
            "When a key repeats, its last value wins.",
        ),
        body,
        (
            M("wrong method", f'piece.partition("{kv}")', f'piece.rpartition("{kv}")', subtle=True),
            M("missing step", "pairs[key.strip()] = value.strip()", "pairs[key] = value"),
            M(
                "missing edge case",
                "    if not piece.strip():\n        continue\n",
                "",
                subtle=True,
            ),
            M(
                "mishandled duplicates",
                "pairs[key.strip()] = value.strip()",
                "pairs.setdefault(key.strip(), value.strip())",
                subtle=True,
            ),
        ),
        [
            ("",),
            (f"a{kv}1",),
            (f"a{kv}1{sep}b{kv}2",),
            (f" x {kv} 7 {sep} y{kv}8{sep}",),
            (f"url{kv}a{kv}b{sep}n{kv}1",),
            (f"k{kv}1{sep}k{kv}2",),
            (random_text,),
        ],
    )


def _roman(number: int) -> str:
    pairs = [
        (1000, "M"),
        (900, "CM"),
        (500, "D"),
        (400, "CD"),
        (100, "C"),
        (90, "XC"),
        (50, "L"),
        (40, "XL"),
        (10, "X"),
        (9, "IX"),
        (5, "V"),
        (4, "IV"),
        (1, "I"),
    ]
    parts = []
    for value, symbol in pairs:
        while number >= value:
            parts.append(symbol)
            number -= value
    return "".join(parts)


@template("from_roman", "parsing", verbs="parse decode read", nouns="numeral roman year chapter")
def _from_roman(rng: TaskRandom) -> Draft:
    body = code(
        """
        values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
        total = 0
        for i, char in enumerate(numeral):
            value = values[char]
            if i + 1 < len(numeral) and values[numeral[i + 1]] > value:
                total -= value
            else:
                total += value
        return total
        """
    )
    return Draft(
        "numeral: str",
        "int",
        "Convert a Roman numeral (letters I, V, X, L, C, D, M, with subtractive pairs such as IV and CM) to an integer.",
        ("The input is a valid numeral for a number from 1 to 3999.",),
        body,
        (
            M(
                "wrong comparison",
                "values[numeral[i + 1]] > value",
                "values[numeral[i + 1]] >= value",
                subtle=True,
            ),
            M("wrong operator", "total -= value", "total += value"),
            M("off-by-one", "if i + 1 < len(numeral) and", "if i < len(numeral) and"),
            M("wrong initial value", "total = 0", "total = 1"),
        ),
        [
            (s,)
            for s in (
                "I",
                "III",
                "IV",
                "IX",
                "LVIII",
                "MCMXCIV",
                "XL",
                _roman(rng.randint(1, 3999)),
            )
        ],
    )


@template("to_roman", "parsing", verbs="format encode write", nouns="numeral year chapter page")
def _to_roman(rng: TaskRandom) -> Draft:
    body = code(
        """
        pairs = [
            (1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
            (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"),
        ]
        parts = []
        for value, symbol in pairs:
            while number >= value:
                parts.append(symbol)
                number -= value
        return "".join(parts)
        """
    )
    value, symbol = rng.choice(
        ((900, "CM"), (400, "CD"), (90, "XC"), (40, "XL"), (9, "IX"), (4, "IV"))
    )
    return Draft(
        "number: int",
        "str",
        "Convert number, from 1 to 3999, to a Roman numeral, using the subtractive pairs CM, CD, XC, XL, IX and IV.",
        (),
        body,
        (
            M("wrong comparison", "while number >= value:", "while number > value:", subtle=True),
            M("loop runs once", "while number >= value:", "if number >= value:"),
            M("missing edge case", f'({value}, "{symbol}"),', "", subtle=True),
        ),
        [(n,) for n in (1, 3, 4, 9, 14, 40, 90, 400, 900, 1994, rng.randint(1, 3999))],
    )


@template(
    "balanced", "parsing", verbs="check validate verify", nouns="brackets nesting parens delimiters"
)
def _balanced(rng: TaskRandom) -> Draft:
    kinds = rng.sample(("()", "[]", "{}", "<>"), rng.randint(2, 3))
    openers = "".join(k[0] for k in kinds)
    closers = "{" + ", ".join(f'"{k[1]}": "{k[0]}"' for k in kinds) + "}"
    body = code(
        """
        closers = $closers
        stack = []
        for char in text:
            if char in "$openers":
                stack.append(char)
            elif char in closers:
                if not stack or stack.pop() != closers[char]:
                    return False
        return not stack
        """,
        closers=closers,
        openers=openers,
    )
    a, b = kinds[0], kinds[1]
    random_text = "".join(
        rng.choice(openers + "".join(k[1] for k in kinds) + "x") for _ in range(6)
    )
    return Draft(
        "text: str",
        "bool",
        f"Return True when the brackets {' '.join(kinds)} in text are balanced and properly nested; other characters are ignored.",
        ("An empty string is balanced.",),
        body,
        (
            M("missing final step", "return not stack", "return True", subtle=True),
            M(
                "missing edge case",
                "if not stack or stack.pop() != closers[char]:",
                "if stack and stack.pop() != closers[char]:",
                subtle=True,
            ),
            M(
                "wrong comparison",
                "stack.pop() != closers[char]",
                f'stack.pop() not in "{openers}"',
                subtle=True,
            ),
            M("wrong return value", "        return False", "        return True"),
        ),
        [
            ("",),
            (a,),
            (a[0] + b + a[1],),
            (a[0] + b[1],),
            (a[0] * 2,),
            (a[1] * 2 + a[0],),
            (a[1] + a,),
            (f"x{a[0]}y{a[1]}z",),
            (a[0] + b[0] + a[1] + b[1],),
            (random_text,),
        ],
    )


@template("valid_ipv4", "parsing", verbs="validate check accept", nouns="address ip host")
def _valid_ipv4(rng: TaskRandom) -> Draft:
    body = code(
        """
        parts = text.split(".")
        if len(parts) != 4:
            return False
        for part in parts:
            if not part.isdigit() or int(part) > 255:
                return False
            if len(part) > 1 and part[0] == "0":
                return False
        return True
        """
    )
    return Draft(
        "text: str",
        "bool",
        "Return True when text is an IPv4 address: four decimal numbers from 0 to 255 separated by dots, without leading zeros (0 itself is fine).",
        (),
        body,
        (
            M("off-by-one", "int(part) > 255", "int(part) > 256", subtle=True),
            M(
                "missing edge case",
                '    if len(part) > 1 and part[0] == "0":\n        return False\n',
                "",
                subtle=True,
            ),
            M("wrong comparison", "len(parts) != 4", "len(parts) < 4", subtle=True),
            M("missing check", "not part.isdigit() or ", ""),
        ),
        [
            (s,)
            for s in (
                "1.2.3.4",
                "255.255.255.255",
                "256.1.1.1",
                "1.2.3",
                "1.2.3.4.5",
                "01.2.3.4",
                "0.0.0.0",
                "1.2.a.4",
                "",
                ".".join(str(rng.randint(0, 255)) for _ in range(4)),
            )
        ],
    )
