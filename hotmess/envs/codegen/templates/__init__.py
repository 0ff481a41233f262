"""The function templates, one module per family (topic), and `TEMPLATES`: every template
by key, in the order the deck deals from."""

from __future__ import annotations

from hotmess.envs.codegen.functions import REGISTERED, Template

# Imported for their `@template` registrations.
from hotmess.envs.codegen.templates import dicts, intervals, lists, numbers, parsing, strings

#: The deck shuffles this list with the task's seed, so the order is part of every task:
#: reordering it, or adding a template anywhere, changes the tasks seeds generate (bump the
#: families' versions when you do).
DEAL_ORDER = (
    "clamp", "running_total", "running_max", "rle_encode", "dedupe", "dedupe_words",
    "chunk", "flatten", "gcd", "median", "word_frequency", "caesar", "binary_search",
    "merge_intervals", "transpose", "parse_pairs", "from_roman", "to_roman", "balanced",
    "rotate", "top_k", "histogram", "camel_to_snake", "second_largest", "longest_run",
    "invert", "merge_counts", "window_sums", "format_duration", "truncate", "diagonal_sum",
    "valid_ipv4", "transactions", "title_case",
)  # fmt: skip

FAMILIES = (dicts, intervals, lists, numbers, parsing, strings)


def _in_deal_order() -> dict[str, Template]:
    unlisted = set(REGISTERED) - set(DEAL_ORDER)
    missing = set(DEAL_ORDER) - set(REGISTERED)
    if unlisted or missing:
        raise RuntimeError(
            f"DEAL_ORDER and the registered templates differ: unlisted {sorted(unlisted)}, "
            f"listed but not defined {sorted(missing)}"
        )
    return {key: REGISTERED[key] for key in DEAL_ORDER}


TEMPLATES: dict[str, Template] = _in_deal_order()
