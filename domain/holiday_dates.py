"""Which day to greet a client for each holiday the policy names, from the `holidays` package.

The package cannot run inside Temporal's workflow sandbox (it loads translations through
`gettext` and imports country modules lazily, both refused there), and its answers may shift
between releases, which would break replay. So the dates are data: `holiday_table` builds a
`HolidayTable` outside workflows (a command, an activity), the table rides in the workflow's
input or history, and `domain.calendar` only reads it.

The package lists every day of a holiday (Spring Festival runs three days), shifted "(observed)"
days, and "Day off (substituted …)" working-day swaps, and names two holidays on one date as
"Mid-Autumn Festival; National Day". A greeting goes out once, on the first listed day of the
named holiday, never on an observed or substituted day.

Names are matched forgivingly: case, full-width brackets and spacing are ignored, and either half
of "Chinese New Year (Spring Festival)" names it. Chinese names match too ("春节", "中秋节"):
names are read in English and in the country's own language.

The language is always passed explicitly: left to itself the package picks one from the
process's locale, and a greeting date must not depend on the worker's environment.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, model_validator

from domain.policy import HolidayPolicy

_ENGLISH = "en_US"
_QUALIFIER = re.compile(r"\s*\(([^()]*)\)\s*$")
_OBSERVED = ("observed", "补假")
_ESTIMATED = ("estimated", "推定")
_OPEN = re.compile(r"\s*\(\s*")
_CLOSE = re.compile(r"\s*\)")


def normalise(name: str) -> str:
    """Case, full-width punctuation and spacing (also around brackets) do not matter."""
    text = name.replace("（", "(").replace("）", ")").replace("’", "'").replace("，", ",")
    text = _CLOSE.sub(")", _OPEN.sub(" (", text))
    return " ".join(text.casefold().split())


def _aliases(name: str) -> frozenset[str] | None:
    """The names one listed holiday answers to; None for an observed (shifted) day."""
    text = normalise(name)
    while (match := _QUALIFIER.search(text)) and any(
        word in match.group(1) for word in _OBSERVED + _ESTIMATED
    ):
        if any(word in match.group(1) for word in _OBSERVED):
            return None
        text = text[: match.start()]  # an estimated date is still the holiday's date
    aliases = {text}
    if match := _QUALIFIER.search(text):
        aliases.update({text[: match.start()].strip(), match.group(1).strip()})
    return frozenset(a for a in aliases if a)


class HolidayTableError(ValueError):
    """The table cannot answer: wrong holidays, or a year it does not cover."""


class HolidayTable(BaseModel):
    """The first day of each greeted holiday, year by year, for `first_year`..`last_year`."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    country: str
    names: tuple[str, ...]
    first_year: int
    last_year: int
    days: dict[int, dict[str, date]]  # a name a year lacks is absent from that year

    @model_validator(mode="after")
    def _span(self) -> HolidayTable:
        if self.first_year > self.last_year:
            raise ValueError("first_year must not be after last_year")
        return self

    def check_matches(self, holidays: HolidayPolicy) -> None:
        if self.country != holidays.country or list(self.names) != list(holidays.greet):
            raise HolidayTableError(
                "the holiday table was built for other holidays than the policy greets; "
                "rebuild it with domain.holiday_dates.holiday_table"
            )

    def check_covers(self, first_year: int, last_year: int) -> None:
        for year in (first_year, last_year):
            if not self.first_year <= year <= self.last_year:
                raise HolidayTableError(
                    f"the holiday table covers {self.first_year}-{self.last_year}, not {year}; "
                    "build a newer one outside the workflow with "
                    "domain.holiday_dates.holiday_table"
                )

    def for_year(self, year: int) -> dict[str, date]:
        self.check_covers(year, year)
        return self.days.get(year, {})


def holiday_table(holidays: HolidayPolicy, first_year: int, last_year: int) -> HolidayTable:
    """Reads the `holidays` package: call it outside workflow code."""
    return HolidayTable(
        country=holidays.country,
        names=tuple(holidays.greet),
        first_year=first_year,
        last_year=last_year,
        days={
            year: first_days(holidays.greet, year, holidays.country)
            for year in range(first_year, last_year + 1)
        },
    )


@lru_cache(maxsize=64)
def _listed(country: str, year: int) -> tuple[tuple[date, frozenset[str]], ...]:
    """Every listed day of `year` with the names it answers to, in date order."""
    # Imported here, not at the top: workflow code imports this module for `HolidayTable`, and
    # the sandbox would re-import the whole package for every workflow run.
    import holidays

    probe = holidays.country_holidays(country, years=())
    languages = {probe.default_language or _ENGLISH}
    if _ENGLISH in (probe.supported_languages or ()):
        languages.add(_ENGLISH)
    by_day: dict[date, set[str]] = {}
    for language in sorted(languages):
        calendar = holidays.country_holidays(country, years=year, language=language, observed=False)
        for day, names in calendar.items():
            for name in names.split(";"):
                aliases = _aliases(name)
                if aliases:
                    by_day.setdefault(day, set()).update(aliases)
    return tuple((day, frozenset(by_day[day])) for day in sorted(by_day))


def first_days(names: Sequence[str], year: int, country: str) -> dict[str, date]:
    """The first day in `year` of each named holiday; a name that year lacks is left out (the
    package lists Dragon Boat and Mid-Autumn only from 2008, lunar dates only up to 2100)."""
    listed = _listed(country, year)
    found: dict[str, date] = {}
    for name in names:
        wanted = normalise(name)
        for day, aliases in listed:
            if wanted in aliases:
                found[name] = day
                break
    return found


def unknown_names(names: Sequence[str], year: int, country: str) -> list[str]:
    """Names the calendar does not know in `year`: for checking a policy file before use."""
    found = first_days(names, year, country)
    return [n for n in names if n not in found]
