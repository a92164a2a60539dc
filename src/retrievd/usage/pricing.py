"""What stored bytes cost: a price per GB-day with a free allowance per project per UTC day.

The rule, per project and UTC day D (exact rational arithmetic, no rounding):
    B = the project's byte-seconds in D (all its stores), S = seconds of D elapsed (86,400 once D is over)
    cost(D) = price_per_gb_day * max(0, B - free_bytes * S) / (10**9 * 86,400)
i.e. the free allowance comes off the project's average stored GB over the day: with the default
($0.10, 1 GB free) a project holding 3 GB all day pays 2 GB-days, $0.20; one holding 0.9 GB pays nothing.

code_interpreter: $0.03 a session (a sandbox started), and container files' GB-days at
`price_per_container_gb_day` (default $0, as OpenAI: the session price covered them), no allowance.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

from retrievd.usage.storage import BYTE_SECONDS_PER_GB_DAY, GB

if TYPE_CHECKING:
    from retrievd.config import Settings


@dataclass(frozen=True)
class Pricing:
    price_per_gb_day: Decimal
    free_gb_per_project: Decimal
    currency: str = "usd"
    price_per_session: Decimal = Decimal("0.03")  # a code_interpreter session (OpenAI's 1 GB container)
    price_per_container_gb_day: Decimal = Decimal(0)  # container files, no free allowance

    @property
    def free_bytes(self) -> int:
        return int(self.free_gb_per_project * GB)

    def billable_byte_seconds(self, byte_seconds: int, seconds: int) -> int:
        return max(0, byte_seconds - self.free_bytes * seconds)

    def container_cost(self, byte_seconds: int) -> Fraction:
        return Fraction(byte_seconds, BYTE_SECONDS_PER_GB_DAY) * Fraction(self.price_per_container_gb_day)

    def day_cost(self, byte_seconds: int, seconds: int) -> Fraction:
        """The cost of one project's day: `byte_seconds` held over the `seconds` of it elapsed so far."""
        billable = Fraction(self.billable_byte_seconds(byte_seconds, seconds), BYTE_SECONDS_PER_GB_DAY)
        return billable * Fraction(self.price_per_gb_day)


PRESETS: dict[str, Pricing] = {
    "standard": Pricing(Decimal("0.10"), Decimal(1)),  # OpenAI's published vector storage price
    "flat": Pricing(Decimal("0.20"), Decimal(0)),
}


def pricing_from_settings(settings: Settings) -> Pricing:
    """The preset RETRIEVD_PRICING; RETRIEVD_PRICE_PER_GB_DAY, RETRIEVD_FREE_GB_PER_PROJECT override it."""
    preset = PRESETS[settings.pricing]
    return Pricing(
        price_per_gb_day=preset.price_per_gb_day
        if settings.price_per_gb_day is None
        else settings.price_per_gb_day,
        free_gb_per_project=(
            preset.free_gb_per_project
            if settings.free_gb_per_project is None
            else settings.free_gb_per_project
        ),
        price_per_container_gb_day=settings.price_per_container_gb_day,
    )
