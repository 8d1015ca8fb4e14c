"""Training objectives, one file per method, registered by name (``@register_method``).

The method registry imports the built-in method modules on its first lookup
(:data:`untwine.registry.METHODS`), so importing this package imports none of them.
"""

from untwine.objectives.base import Objective, Output
from untwine.registry import METHODS, register_method

__all__ = ["METHODS", "Objective", "Output", "register_method"]
