"""One modal dialog per file: consents, trust on first use, errors and pickers."""

from tui.app.dialogs.admit import AdmitDialog
from tui.app.dialogs.base import YesNoDialog
from tui.app.dialogs.become_presenter import BecomePresenterDialog
from tui.app.dialogs.end_session import EndSessionDialog
from tui.app.dialogs.error import ErrorDialog
from tui.app.dialogs.files import FileOfferDialog, SendFileDialog
from tui.app.dialogs.grant_control import GrantControlDialog
from tui.app.dialogs.leave import LeaveDialog
from tui.app.dialogs.pick_member import PickMemberDialog
from tui.app.dialogs.share import ShareDialog
from tui.app.dialogs.take_back import TakeBackDialog
from tui.app.dialogs.trust import TrustDialog

__all__ = [
    "AdmitDialog",
    "BecomePresenterDialog",
    "EndSessionDialog",
    "ErrorDialog",
    "FileOfferDialog",
    "GrantControlDialog",
    "LeaveDialog",
    "PickMemberDialog",
    "SendFileDialog",
    "ShareDialog",
    "TakeBackDialog",
    "TrustDialog",
    "YesNoDialog",
]
