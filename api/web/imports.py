"""Workspace area `imports` (being built)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
#: (path, text key, roles that see it in the navigation)
NAV: list[tuple[str, str, tuple[str, ...]]] = []
