"""The run config's ``bench`` section: how the report turns working points into trigger rates, and which
working point its resource plot and scan tables quote (``quoted_efficiency``).

``bench.rate``: the input rate the trigger sees (``input_hz``, 40 MHz: the LHC bunch-crossing rate), the
fraction of it that is background (``background_fraction``: 1.0 for a rare signal), and the accept-rate
budgets (``budgets_hz``) at which the report gives the highest signal efficiency.

``bench.beside``: runs benched beside this one (``trigdeploy.bench.beside``): siblings in its runs folder, trained
on the same data files and split by another features stage, whose models and designs join its tables and plots.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trigdeploy.layout import is_plain
from trigdeploy.schema import Checked, FieldError, num


@dataclass(frozen=True)
class RateConfig(Checked):
    """Input rate, background fraction and accept-rate budgets of the rate view."""

    # the rate of events the trigger sees (40 MHz: the LHC's bunch crossings)
    input_hz: float = num(40e6, gt=0.0, le=1e12)
    background_fraction: float = num(1.0, ge=0.0, le=1.0)  # the share of those events that is background
    budgets_hz: tuple[float, ...] = (1e4, 5e4)  # accept-rate budgets: the signal efficiency reached within each

    def check(self) -> None:
        """Every budget a positive rate at most the input rate."""
        for b in self.budgets_hz:
            if isinstance(b, bool) or not (0 < b <= self.input_hz):
                raise FieldError("budgets_hz", f"expected rates in (0, input_hz = {self.input_hz:g}] Hz, got {b!r}")


@dataclass(frozen=True)
class BenchConfig(Checked):
    """``bench``: the rate view and the working point the resource plot quotes."""

    rate: RateConfig = field(default_factory=RateConfig)
    # the signal efficiency at which the resource plot, the sweep, the front and every scan table quote 1/εB:
    # one where enough background passes on the test split (the tables mark fewer than 10 events with †)
    quoted_efficiency: float = num(0.3, gt=0.0, lt=1.0)
    # runs benched beside this one, by name (siblings in its runs folder, trained on the same data files and split,
    # e.g. constituent models beside jet-feature ones): their models and designs join the tables as <run>/<model>
    beside: tuple[str, ...] = ()

    def check(self) -> None:
        """Each run named once, by a plain name (no path: a sibling in this run's runs folder)."""
        for name in self.beside:
            if not is_plain(name):
                raise FieldError(
                    "beside", f"expected run names (letters, digits, '.', '_', '-'; no path), got {name!r}"
                )
        if len(set(self.beside)) != len(self.beside):
            raise FieldError("beside", f"a run named twice: {list(self.beside)}")
