"""The static leaderboard site (`lra-bench report`, issue 23): see build.py."""

from .build import build_site

__all__ = ["build_site"]
