"""windrisk: wind-informed wildfire risk for every building in the United States."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("windrisk")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"
