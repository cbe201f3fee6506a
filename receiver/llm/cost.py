"""What LLM calls cost, and the daily and monthly budget they are held to.

Prices are US dollars per million tokens (input, output), from the providers' public price lists
for the common models; a provider's `pricing:` in the config overrides them, and a model missing
from both costs nothing (local models). A spent budget refuses further calls until the period
turns (UTC day, UTC month): the alerts then go to the next provider or to the rules.

    budget = Budget(BudgetConfig(daily_usd=5, monthly_usd=100), clock=time.time)
    if budget.allows():
        budget.spend(price("openai", "gpt-4o-mini", None).of(1200, 300))
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from receiver.config import BudgetConfig

# (input, output) USD per million tokens; matched as a prefix of the model name, longest first.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60), "gpt-4o": (2.50, 10.00), "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60), "gpt-4.1": (2.00, 8.00), "gpt-5-nano": (0.05, 0.40),
    "gpt-5-mini": (0.25, 2.00), "gpt-5": (1.25, 10.00), "o4-mini": (1.10, 4.40), "o3-mini": (1.10, 4.40),
    "claude-3-5-haiku": (0.80, 4.00), "claude-haiku-4": (1.00, 5.00), "claude-3-5-sonnet": (3.00, 15.00),
    "claude-3-7-sonnet": (3.00, 15.00), "claude-sonnet-4": (3.00, 15.00), "claude-opus-4": (15.00, 75.00),
    "gemini-1.5-flash": (0.075, 0.30), "gemini-1.5-pro": (1.25, 5.00), "gemini-2.0-flash": (0.10, 0.40),
    "gemini-2.5-flash": (0.30, 2.50), "gemini-2.5-pro": (1.25, 10.00),
}
_BY_LENGTH = sorted(PRICES, key=len, reverse=True)


@dataclass(frozen=True, slots=True)
class Price:
    input_per_million: float
    output_per_million: float

    def of(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_million + output_tokens * self.output_per_million) / 1e6


def price(model: str, override: tuple[float, float] | None) -> Price:
    """The configured price, else the table's for the longest matching model prefix, else free."""
    if override is not None:
        return Price(*override)
    name = model.rsplit("/", 1)[-1].lower()  # "openai/gpt-4o" on OpenRouter
    found = next((PRICES[p] for p in _BY_LENGTH if name.startswith(p)), (0.0, 0.0))
    return Price(*found)


class Budget:
    """Daily and monthly spend against their caps (0 = no cap); safe to use from any thread."""

    def __init__(self, config: BudgetConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.caps = {"daily": config.daily_usd, "monthly": config.monthly_usd}
        self.clock = clock
        self._lock = threading.Lock()
        self._spent = {"daily": 0.0, "monthly": 0.0}
        self._periods = self._current()

    def set_caps(self, config: BudgetConfig) -> None:
        """New caps (after a reload); what was spent this period still counts."""
        self.caps = {"daily": config.daily_usd, "monthly": config.monthly_usd}

    def _current(self) -> dict[str, str]:
        now = datetime.fromtimestamp(self.clock(), UTC)
        return {"daily": now.strftime("%Y-%m-%d"), "monthly": now.strftime("%Y-%m")}

    def _roll(self) -> None:
        periods = self._current()
        for period, key in periods.items():
            if self._periods[period] != key:
                self._spent[period] = 0.0
        self._periods = periods

    def allows(self) -> bool:
        return all(left is None or left > 0 for left in (self.remaining(p) for p in self.caps))

    def spend(self, usd: float) -> None:
        with self._lock:
            self._roll()
            for period in self._spent:
                self._spent[period] += usd

    def remaining(self, period: str) -> float | None:
        """Dollars left in the period, or None when it has no cap."""
        with self._lock:
            self._roll()
            cap = self.caps[period]
            return None if cap <= 0 else max(0.0, cap - self._spent[period])

    def spent(self, period: str) -> float:
        with self._lock:
            self._roll()
            return self._spent[period]
