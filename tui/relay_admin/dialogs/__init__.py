"""Modal dialogs of the admin TUI, one per file: confirm, text input, password input."""

from tui.relay_admin.dialogs.confirm import ConfirmDialog
from tui.relay_admin.dialogs.password import PasswordDialog
from tui.relay_admin.dialogs.text_input import TextInputDialog

__all__ = ["ConfirmDialog", "PasswordDialog", "TextInputDialog"]
