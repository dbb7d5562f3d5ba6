"""What the notebook shows: the run table widget."""

from .display import display_value, sparkline
from .runtable import ERROR_MARK, SKIP_MARK, RunTableView

__all__ = ["RunTableView", "display_value", "sparkline", "ERROR_MARK", "SKIP_MARK"]
