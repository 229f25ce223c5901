"""The output variables of the wind-informed risk store, with units and descriptions."""

from __future__ import annotations

from typing import Final

CLIMATE_RUNS: Final = ("2011", "2047")

# name -> (units, description); order is the order in the store and in building files.
VARIABLES: Final[dict[str, tuple[str, str]]] = {
    "bp_2011": ("1/year", "Wind-informed annual burn probability, 2011 climate run"),
    "bp_2047": ("1/year", "Wind-informed annual burn probability, 2047 climate run"),
    "rps_2011": ("%", "Risk to potential structures: bp_2011 x crps, 2011 climate run"),
    "rps_2047": ("%", "Risk to potential structures: bp_2047 x crps, 2047 climate run"),
    "crps": ("%", "Conditional risk to potential structures (Scott et al. 2024)"),
    "rps": ("%", "Risk to potential structures as published by Scott et al. 2024, for checks"),
    "bp_2011_riley": ("1/year", "Burn probability of Riley et al. 2025, 2011 run, resampled, not wind-informed"),
    "bp_2047_riley": ("1/year", "Burn probability of Riley et al. 2025, 2047 run, resampled, not wind-informed"),
}

SOURCES: Final = (
    "Riley et al. 2025, USFS RDS-2025-0006 (burn probability, 2011 and 2047 climate runs)",
    "Scott et al. 2024, USFS RDS-2020-0016-2 (Wildfire Risk to Communities: CRPS, RPS)",
    "Fire-weather wind-direction distribution from hourly surface winds (CONUS404 or equivalent)",
)
LICENSE: Final = "CC-BY-4.0"
