"""Errors of the kit's user, kept apart from rule violations: they end in exit status 2."""

from __future__ import annotations


class UsageError(Exception):
    """A problem with how the kit was called or with its input (missing file, bad option): exit 2."""


class KitEnvironmentError(UsageError):
    """Something the kit needs from this machine is missing (a port, an interpreter): exit 2."""
