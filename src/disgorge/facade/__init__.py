"""The facade's groups of methods, as mixins of :class:`disgorge.api.Catalog`.

Each surface (CLI, server, Python) goes through these, and each method checks its action from
``model/roles.py`` before it acts; the surfaces only decide who the caller is."""

from disgorge.facade.admin import AdminMixin

__all__ = ["AdminMixin"]
