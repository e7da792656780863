"""The installed version of vidgen."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vidgen")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"
