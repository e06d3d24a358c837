"""Energy and area: action counts priced by technology tables."""

from accelsim.energy.actions import ActionCounts, ActionKey

__all__ = ["ActionCounts", "ActionKey"]
