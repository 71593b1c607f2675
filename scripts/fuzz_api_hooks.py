"""Schemathesis hooks for scripts/fuzz-api (imported through SCHEMATHESIS_HOOKS)."""
