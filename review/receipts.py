"""A receipt (ToolCall) read as figures. Results are JSON written by whichever version of the
tool ran, so every key is read defensively."""

from dataclasses import dataclass
from typing import Any

from chat.models import ToolCall


@dataclass(frozen=True)
class ReceiptFigures:
    revenue: str
    tax: str
    effective_rate_percent: str
    table_version: str


def receipt_figures(call: ToolCall) -> ReceiptFigures:
    result: dict[str, Any] = call.result if isinstance(call.result, dict) else {}
    parsed: dict[str, Any] = call.parsed_input if isinstance(call.parsed_input, dict) else {}
    return ReceiptFigures(
        revenue=str(result.get("revenue", parsed.get("revenue", ""))),
        tax=str(result.get("tax", "")),
        effective_rate_percent=str(result.get("effective_rate_percent", "")),
        # Written by the tax tool once the table has a version name; older receipts have none.
        table_version=str(result.get("table_version", "")),
    )
