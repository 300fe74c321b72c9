"""The tools the assistant may call: their schemas, and one way to run any of them safely."""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from chat.tools import tax

# A tool's arguments are a small JSON object; anything longer is refused before parsing.
MAX_ARGUMENT_CHARS = 2000


class ToolInputError(ValueError):
    """Arguments the tool refuses; the message goes back to the model as the output."""


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    handler: Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class ToolOutcome:
    """What happened when a tool was asked for; `output` is always set, errors included."""

    name: str
    parsed_input: dict[str, Any] | None
    output: str
    result: dict[str, Any] | None = None
    error: str = ""
    duration_ms: float = 0.0

    @property
    def succeeded(self) -> bool:
        return not self.error


@dataclass
class ToolRegistry:
    tools: dict[str, Tool] = field(default_factory=dict)

    def register(self, tool: Tool) -> Tool:
        self.tools[tool.name] = tool
        return tool

    def clear(self) -> None:
        self.tools.clear()

    def schemas(self) -> list[Tool]:
        return list(self.tools.values())

    def run(self, name: str, raw_arguments: str) -> ToolOutcome:
        """Run a tool by name; never raises: every failure becomes an error output."""
        started = time.perf_counter()
        parsed: dict[str, Any] | None = None
        try:
            tool = self.tools.get(name)
            if tool is None:
                known = ", ".join(sorted(self.tools)) or "none"
                raise ToolInputError(f"Unknown tool {name[:60]!r}. Available tools: {known}.")
            parsed = _parse_arguments(raw_arguments)
            result = tool.handler(parsed)
        except (ToolInputError, tax.RevenueError) as exc:
            return _failure(name, parsed, str(exc), started)
        except Exception:  # a tool bug must not break the turn; the model is told
            return _failure(name, parsed, "The tool failed unexpectedly.", started)
        return ToolOutcome(
            name=name,
            parsed_input=parsed,
            output=json.dumps(result),
            result=result,
            duration_ms=_elapsed_ms(started),
        )


def _parse_arguments(raw_arguments: str) -> dict[str, Any]:
    if len(raw_arguments) > MAX_ARGUMENT_CHARS:
        raise ToolInputError(f"Arguments are too long ({len(raw_arguments)} characters).")
    try:
        parsed = json.loads(raw_arguments or "{}")
    except (json.JSONDecodeError, RecursionError):
        raise ToolInputError("Arguments are not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise ToolInputError("Arguments must be a JSON object.")
    return parsed


def _failure(name: str, parsed: dict[str, Any] | None, message: str, started: float) -> ToolOutcome:
    return ToolOutcome(
        name=name,
        parsed_input=parsed,
        output=json.dumps({"error": message}),
        error=message,
        duration_ms=_elapsed_ms(started),
    )


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def calculate_tax_handler(arguments: dict[str, Any]) -> dict[str, Any]:
    if "revenue" not in arguments:
        raise ToolInputError("Missing required argument 'revenue'.")
    extra = sorted(set(arguments) - {"revenue"})
    if extra:
        raise ToolInputError(f"Unexpected argument(s): {', '.join(k[:40] for k in extra[:5])}.")
    result = tax.calculate_tax(tax.parse_revenue(arguments["revenue"]))
    return {
        "revenue": _money(result.revenue),
        "tax": _money(result.tax),
        "effective_rate_percent": _money(result.effective_rate),
        "currency": tax.TABLE.currency,
        "breakdown": [
            {
                "from": _money(share.lower),
                "to": None if share.upper is None else _money(share.upper),
                "rate_percent": f"{share.rate * 100:.0f}",
                "taxable": _money(share.taxable),
                "tax": _money(share.tax),
            }
            for share in result.breakdown
        ],
        "note": tax.TABLE.note,
        "table_version": result.table_version,
    }


def calculate_tax_description(table: tax.TaxTable = tax.TABLE) -> str:
    """What the model is told about the tool: rendered from the one tax table."""
    return (
        "Calculate the tax owed on a yearly revenue in euros, using the demonstration tax "
        f"table {table.version} ({table.summary()}). Returns the tax, the effective rate and "
        "the per-bracket breakdown; base every figure of your answer on its output."
    )


CALCULATE_TAX = Tool(
    name="calculate_tax",
    description=calculate_tax_description(),
    parameters={
        "type": "object",
        "properties": {
            "revenue": {
                "type": "string",
                "description": "Yearly revenue in euros as a plain number, e.g. '85000' or "
                "'85000.50'.",
            }
        },
        "required": ["revenue"],
        "additionalProperties": False,
    },
    handler=calculate_tax_handler,
)

registry = ToolRegistry()
registry.register(CALCULATE_TAX)
