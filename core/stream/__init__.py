"""The screen stream on top of a session: the presenter's capture loop and the viewer's picture."""

from core.stream.presenter import PresenterStatistics, ScreenPresenter
from core.stream.viewer import ScreenViewer, ViewerStatistics

__all__ = ["PresenterStatistics", "ScreenPresenter", "ScreenViewer", "ViewerStatistics"]
