"""Bundled scenarios (package data)."""
