"""Templates on strings: run-length encoding, word counts, ciphers, case conversion,
durations, truncation and title case."""

from __future__ import annotations

from hotmess.envs.codegen.functions import WORDS, Draft, M, code, template
from hotmess.envs.taskgen import TaskRandom


@template(
    "rle_encode",
    "strings",
    verbs="encode compress pack squeeze",
    nouns="text runs pixels signal letters",
)
def _rle_encode(rng: TaskRandom) -> Draft:
    count_first = rng.random() < 0.5
    joiner = rng.choice(("", ",", " ", "-"))
    piece = 'f"{count}{current}"' if count_first else 'f"{current}{count}"'
    body = code(
        """
        if not text:
            return ""
        pieces = []
        current, count = text[0], 1
        for char in text[1:]:
            if char == current:
                count += 1
            else:
                pieces.append($piece)
                current, count = char, 1
        pieces.append($piece)
        return "$joiner".join(pieces)
        """,
        piece=piece,
        joiner=joiner,
    )
    order = (
        "the count followed by the character"
        if count_first
        else "the character followed by its count"
    )
    letters = "abc"[: rng.randint(2, 3)]
    return Draft(
        "text: str",
        "str",
        f"Run-length encode text: each run of one repeated character becomes {order}, and the pieces are joined with {joiner!r}.",
        ("An empty string gives an empty string.", "A run of length 1 still gets the count 1."),
        body,
        (
            M("missing edge case", 'if not text:\n    return ""\n', "", subtle=True),
            M("wrong initial value", "current, count = text[0], 1", "current, count = text[0], 0"),
            M("off-by-one", "current, count = char, 1", "current, count = char, 0"),
            M("missing final step", f"pieces.append({piece})\nreturn", "return"),
        ),
        [
            ("",),
            ("a",),
            ("aaabcc",),
            ("abc",),
            ("aabbbaa",),
            ("".join(rng.choice(letters) for _ in range(rng.randint(5, 9))),),
        ],
    )


@template(
    "dedupe_words", "strings", verbs="normalize dedupe merge", nouns="tags keywords labels topics"
)
def _dedupe_words(rng: TaskRandom) -> Draft:
    body = code(
        """
        seen = set()
        kept = []
        for word in words:
            key = word.lower()
            if key not in seen:
                seen.add(key)
                kept.append(word)
        return kept
        """
    )
    variants = [
        w.upper() if rng.random() < 0.3 else w.capitalize() if rng.random() < 0.5 else w
        for w in rng.sample(WORDS, 3) * 2
    ]
    rng.shuffle(variants)
    return Draft(
        "words: list[str]",
        "list[str]",
        "Return words without case-insensitive repeats: keep the first spelling of each word, in order.",
        (
            "Two words repeat when they are equal ignoring case.",
            "A kept word keeps its original case.",
        ),
        body,
        (
            M("mishandled duplicates", "seen.add(key)", "seen.add(word)", subtle=True),
            M("wrong variable", "kept.append(word)", "kept.append(key)"),
            M("missing normalization", "key = word.lower()", "key = word", subtle=True),
        ),
        [
            ([],),
            (["Tea"],),
            (["Tea", "tea", "Milk", "TEA", "milk"],),
            (["a", "B", "b", "A"],),
            (variants,),
        ],
    )


@template(
    "word_frequency", "strings", verbs="count tally index", nouns="words terms tokens mentions"
)
def _word_frequency(rng: TaskRandom) -> Draft:
    punct = "".join(rng.sample(".,!?;:", rng.randint(2, 4)))
    body = code(
        """
        counts = {}
        for word in text.lower().split():
            word = word.strip("$punct")
            if word:
                counts[word] = counts.get(word, 0) + 1
        return counts
        """,
        punct=punct,
    )
    words = [rng.choice(WORDS) for _ in range(6)]
    sentence = " ".join(w.upper() if rng.random() < 0.3 else w for w in words) + punct[0]
    return Draft(
        "text: str",
        "dict[str, int]",
        f"Count how often each word occurs in text, ignoring case and stripping the characters {punct!r} from both ends of each word.",
        (
            "Words are separated by whitespace.",
            "A word that is empty after stripping is not counted.",
            "The result maps each lowercase word to its count.",
        ),
        body,
        (
            M("missing normalization", "text.lower().split()", "text.split()", subtle=True),
            M("wrong initial value", "counts.get(word, 0) + 1", "counts.get(word, 1) + 1"),
            M(
                "mishandled duplicates",
                "counts[word] = counts.get(word, 0) + 1",
                "counts[word] = 1",
                subtle=True,
            ),
            M("missing edge case", f'    word = word.strip("{punct}")\n', "", subtle=True),
        ),
        [
            ("",),
            ("the cat",),
            (f"The cat saw the CAT{punct[0]}",),
            (f"go{punct[-1]} go GO {punct[0]}",),
            (sentence,),
        ],
    )


@template(
    "caesar", "strings", verbs="shift rotate encode scramble", nouns="message letters text note"
)
def _caesar(rng: TaskRandom) -> Draft:
    shift = rng.choice([k for k in range(1, 26) if k != 13])
    body = code(
        """
        result = []
        for char in text:
            if char.islower():
                result.append(chr((ord(char) - ord("a") + $shift) % 26 + ord("a")))
            elif char.isupper():
                result.append(chr((ord(char) - ord("A") + $shift) % 26 + ord("A")))
            else:
                result.append(char)
        return "".join(result)
        """,
        shift=shift,
    )
    return Draft(
        "text: str",
        "str",
        f"Shift every ASCII letter {shift} places forward in the alphabet, wrapping around from z to a and keeping its case; other characters are unchanged.",
        (),
        body,
        (
            M(
                "missing edge case",
                f'ord("a") + {shift}) % 26 + ord("a")',
                f'ord("a") + {shift}) + ord("a")',
                subtle=True,
            ),
            M("wrong operator", f'ord("a") + {shift}) % 26', f'ord("a") - {shift}) % 26'),
            M("wrong constant", '% 26 + ord("A")))', '% 26 + ord("a")))'),
            M("missing branch", "    else:\n        result.append(char)\n", ""),
        ),
        [
            ("",),
            ("abc",),
            ("xyz",),
            ("Hello, World!",),
            ("Zebra zoo",),
            ("".join(rng.choice("abyzAZ .") for _ in range(8)),),
        ],
    )


@template(
    "camel_to_snake",
    "strings",
    verbs="convert format normalize",
    nouns="identifier field_name key column",
)
def _camel_to_snake(rng: TaskRandom) -> Draft:
    sep = rng.choice(("_", "-"))
    body = code(
        """
        words = []
        current = ""
        for char in name:
            if char.isupper() and current:
                words.append(current)
                current = char.lower()
            else:
                current += char.lower()
        if current:
            words.append(current)
        return "$sep".join(words)
        """,
        sep=sep,
    )
    random_name = "".join(rng.choice(WORDS).capitalize() for _ in range(3))
    if rng.random() < 0.5:
        random_name = random_name[0].lower() + random_name[1:]
    return Draft(
        "name: str",
        "str",
        f"Convert a camelCase or PascalCase name to lowercase words joined by {sep!r}.",
        (
            "A new word starts at each uppercase letter.",
            "The input has only ASCII letters, never two uppercase letters in a row.",
            "An empty string gives an empty string.",
        ),
        body,
        (
            M(
                "missing edge case",
                "if char.isupper() and current:",
                "if char.isupper():",
                subtle=True,
            ),
            M("wrong variable", "        current = char.lower()", '        current = ""'),
            M("missing final step", "if current:\n    words.append(current)\n", ""),
            M("missing normalization", "current += char.lower()", "current += char", subtle=True),
        ),
        [
            ("",),
            ("name",),
            ("userName",),
            ("UserName",),
            ("parseHttpRequest",),
            ("aB",),
            (random_name,),
        ],
    )


@template(
    "format_duration",
    "strings",
    verbs="format render show",
    nouns="duration elapsed uptime runtime",
)
def _format_duration(rng: TaskRandom) -> Draft:
    clock = rng.random() < 0.5
    pattern = (
        'f"{hours}:{minutes:02d}:{secs:02d}"' if clock else 'f"{hours}h{minutes:02d}m{secs:02d}s"'
    )
    shown = "H:MM:SS" if clock else "HhMMmSSs"
    body = code(
        """
        hours, rest = divmod(seconds, 3600)
        minutes, secs = divmod(rest, 60)
        return $pattern
        """,
        pattern=pattern,
    )
    return Draft(
        "seconds: int",
        "str",
        f"Format a number of seconds (never negative) as {shown}: minutes and seconds always have two digits, hours as many as needed.",
        (),
        body,
        (
            M("wrong variable", "divmod(rest, 60)", "divmod(seconds, 60)"),
            M("missing padding", "{minutes:02d}", "{minutes}", subtle=True),
            M("wrong padding", "{secs:02d}", "{secs:2d}", subtle=True),
        ),
        [(s,) for s in (0, 5, 59, 60, 61, 3599, 3600, 3661, 86399, 90061, rng.randint(0, 99999))],
    )


@template(
    "truncate",
    "strings",
    verbs="truncate shorten clip abbreviate",
    nouns="title caption summary headline label",
)
def _truncate(rng: TaskRandom) -> Draft:
    n = rng.randint(8, 16)
    marker = rng.choice(("...", "~", "+"))
    cut = n - len(marker)
    body = code(
        """
        if len(text) <= $n:
            return text
        return text[:$cut] + "$marker"
        """,
        n=n,
        cut=cut,
        marker=marker,
    )
    letters = "abcdefghijklmnopqrstuvwxyz"
    return Draft(
        "text: str",
        "str",
        f"Shorten text to at most {n} characters. Text of {n} characters or fewer is returned unchanged; longer text is cut so that, ending in {marker!r}, it is exactly {n} characters long.",
        (),
        body,
        (
            M("wrong comparison", f"len(text) <= {n}", f"len(text) < {n}", subtle=True),
            M("missing step", f"text[:{cut}]", f"text[:{n}]"),
            M("off-by-one", f"text[:{cut}]", f"text[:{cut - 1}]"),
            M("wrong return value", "return text\n", f'return text + "{marker}"\n'),
        ),
        [
            ("",),
            ("short",),
            (letters[:n],),
            (letters[: n + 1],),
            ("the quick brown fox jumps over the lazy dog",),
            (letters[: rng.randint(1, 25)],),
        ],
    )


@template(
    "title_case", "strings", verbs="titleize capitalize format", nouns="heading title headline"
)
def _title_case(rng: TaskRandom) -> Draft:
    small = tuple(
        sorted(
            rng.sample(("a", "an", "the", "of", "and", "or", "in", "on", "to"), rng.randint(3, 5))
        )
    )
    body = code(
        """
        titled = []
        for index, word in enumerate(text.split(" ")):
            if index > 0 and word.lower() in $small:
                titled.append(word.lower())
            else:
                titled.append(word[:1].upper() + word[1:].lower())
        return " ".join(titled)
        """,
        small=repr(small),
    )
    s = small[0]
    return Draft(
        "text: str",
        "str",
        f"Capitalize each word of text (first letter upper case, the rest lower case), except the small words {', '.join(small)}, which are all lower case unless they are the first word.",
        ("Words are separated by single spaces.",),
        body,
        (
            M("missing edge case", "index > 0 and ", "", subtle=True),
            M("missing normalization", "word[1:].lower()", "word[1:]", subtle=True),
            M("case-sensitive comparison", "word.lower() in", "word in", subtle=True),
            M("wrong method", "titled.append(word.lower())", "titled.append(word)"),
        ),
        [
            ("",),
            ("hello",),
            (f"{s} lord {s} rings",),
            (f"WAR {s.upper()} PEACE",),
            (f"{s} tale {s} two cities",),
            (" ".join(rng.choice((*small, *WORDS)) for _ in range(5)),),
        ],
    )
