"""Presentation of scored runs: the self-contained HTML report (`write_report`) with its
figures and transcripts, and the terminal table of `hotmess compare`. The numbers come
from `hotmess.scoring`; nothing here computes a statistic.
"""

from hotmess.report.compare import comparison_table
from hotmess.report.numbers import format_value
from hotmess.report.page import REPORT_FILE, ReportResult, write_report
from hotmess.report.runs import agent_label

__all__ = [
    "REPORT_FILE",
    "ReportResult",
    "agent_label",
    "comparison_table",
    "format_value",
    "write_report",
]
