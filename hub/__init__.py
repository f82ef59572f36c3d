"""The store hub: the domain, its SQLite storage and the `laoke` command."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("laoke")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
