"""HTML building blocks of the report page: escaping, numbers as the page prints them, a
value with its interval, and tables. Everything from a run is escaped before it is shown."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

from hotmess.report.numbers import format_value
from hotmess.report.values import interval, number


def escape(value: Any) -> str:
    """`value` as text safe anywhere in HTML, attribute values included; None is empty."""
    return html.escape("" if value is None else str(value), quote=True)


def fmt(value: Any, digits: int = 3) -> str:
    """A value read from a run's statistics (a number, None or a JSON string such as
    "Infinity"), printed by the one rule, `format_value`."""
    return format_value(number(value), digits)


def with_ci(value: Any, ci: Any) -> str:
    """A table cell: the value, and under it its interval when there is one."""
    text = escape(fmt(value))
    bounds = interval(ci) if ci is not None else None
    if bounds is not None:
        text += f' <span class="ci">[{escape(fmt(bounds[0]))}, {escape(fmt(bounds[1]))}]</span>'
    return text


def table(header: Sequence[str], rows: Iterable[Sequence[str]], left: int = 0) -> str:
    """An HTML table; cells are already escaped HTML. The first `left` columns align left."""
    head = "".join(
        f'<th class="l">{escape(name)}</th>' if i < left else f"<th>{escape(name)}</th>"
        for i, name in enumerate(header)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="l">{cell}</td>' if i < left else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f'<div class="wrap"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
