"""Results, exports and plots."""

from accelsim.report.results import LayerResult, NetworkResult

__all__ = ["LayerResult", "NetworkResult"]
