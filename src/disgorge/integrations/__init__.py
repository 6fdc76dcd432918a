"""Integrations with training frameworks; each is an optional extra (``disgorge[torch]``)."""
