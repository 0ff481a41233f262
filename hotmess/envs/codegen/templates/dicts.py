"""Templates on dictionaries: top-k counts, inverting a mapping, merging counts."""

from __future__ import annotations

from hotmess.envs.codegen.functions import NAMES, Draft, M, code, template
from hotmess.envs.taskgen import TaskRandom


@template(
    "top_k", "dicts", verbs="rank pick select", nouns="leaders winners top_players best_sellers"
)
def _top_k(rng: TaskRandom) -> Draft:
    k = rng.randint(2, 3)
    body = code(
        """
        ranked = sorted(scores, key=lambda name: (-scores[name], name))
        return ranked[:$k]
        """,
        k=k,
    )
    random_scores = {name: rng.randint(1, 5) for name in rng.sample(NAMES, 5)}
    return Draft(
        "scores: dict[str, int]",
        "list[str]",
        f"Return the names with the {k} highest scores, highest first; equal scores are ordered by name, alphabetically.",
        (f"With fewer than {k} names, return all of them, ranked.",),
        body,
        (
            M(
                "mishandled duplicates",
                "key=lambda name: (-scores[name], name)",
                "key=lambda name: -scores[name]",
                subtle=True,
            ),
            M("wrong order", "(-scores[name], name)", "(scores[name], name)"),
            M("off-by-one", f"ranked[:{k}]", f"ranked[:{k - 1}]"),
        ),
        [
            ({},),
            ({"ann": 3},),
            ({"ann": 5, "bob": 9, "cy": 7, "dee": 1},),
            ({"zed": 4, "amy": 4, "bo": 1, "cal": 4},),
            (random_scores,),
        ],
    )


@template("invert", "dicts", verbs="invert group index", nouns="owners assignments lookup roster")
def _invert(rng: TaskRandom) -> Draft:
    body = code(
        """
        inverted = {}
        for key, value in mapping.items():
            inverted.setdefault(value, []).append(key)
        for keys in inverted.values():
            keys.sort()
        return inverted
        """
    )
    random_mapping = {name: rng.randint(1, 3) for name in rng.sample(NAMES, 5)}
    return Draft(
        "mapping: dict[str, int]",
        "dict[int, list[str]]",
        "Invert mapping: map each value to the list of keys that had it, sorted alphabetically.",
        ("An empty dict gives an empty dict.",),
        body,
        (
            M(
                "mishandled duplicates",
                "inverted.setdefault(value, []).append(key)",
                "inverted[value] = [key]",
                subtle=True,
            ),
            M("missing step", "for keys in inverted.values():\n    keys.sort()\n", "", subtle=True),
            M(
                "swapped arguments",
                "inverted.setdefault(value, []).append(key)",
                "inverted.setdefault(key, []).append(value)",
            ),
        ),
        [({},), ({"a": 1},), ({"b": 1, "a": 1, "c": 2},), ({"x": 3, "y": 4},), (random_mapping,)],
    )


@template(
    "merge_counts", "dicts", verbs="merge combine add", nouns="inventories tallies stock votes"
)
def _merge_counts(rng: TaskRandom) -> Draft:
    body = code(
        """
        merged = dict(first)
        for key, count in second.items():
            merged[key] = merged.get(key, 0) + count
        return merged
        """
    )
    names = rng.sample(NAMES, 4)
    first = {n: rng.randint(1, 9) for n in names[:3]}
    second = {n: rng.randint(1, 9) for n in names[1:]}
    return Draft(
        "first: dict[str, int], second: dict[str, int]",
        "dict[str, int]",
        "Merge two dicts of counts into a new dict with every key of either, adding the counts of keys in both.",
        (),
        body,
        (
            M(
                "mishandled duplicates",
                "merged[key] = merged.get(key, 0) + count",
                "merged[key] = count",
                subtle=True,
            ),
            M("wrong initial value", "merged = dict(first)", "merged = {}"),
            M("wrong operator", "+ count", "- count"),
            M("wrong default", "merged.get(key, 0)", "merged.get(key, 1)"),
        ),
        [
            ({}, {}),
            ({"a": 1}, {}),
            ({}, {"b": 2}),
            ({"a": 1, "b": 2}, {"b": 3, "c": 4}),
            (first, second),
        ],
    )
