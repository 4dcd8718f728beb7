"""The screen stream on top of a session: the presenter's capture loop and the viewer's picture."""

from typing import TYPE_CHECKING

from core.lazy import lazy_exports

if TYPE_CHECKING:
    from core.stream.presenter import PresenterStatistics as PresenterStatistics
    from core.stream.presenter import ScreenPresenter as ScreenPresenter
    from core.stream.viewer import ScreenViewer as ScreenViewer
    from core.stream.viewer import ViewerStatistics as ViewerStatistics

# Imported on first use (see core/lazy.py): importing the package costs nothing.
__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "presenter": (
            "PresenterStatistics",
            "ScreenPresenter",
        ),
        "viewer": (
            "ScreenViewer",
            "ViewerStatistics",
        ),
    },
)
