"""The one version string of gilt (pyproject.toml reads it; manifests record it)."""

__version__ = "0.1.0"
