"""The session: roster with roles, the security code, who presents, control state, the log.

Every action has a key shown in the footer, and only the actions the rules allow this member
right now are shown (:func:`core.rules.possible_actions` via :class:`SessionView`); a key that
toggles says what it does now (Pause or Resume, Lock or Unlock). While someone controls this
member's screen a banner says who, and that Ctrl+F12 revokes.

The organizer sees the join command on one line of its own, never wrapped: a wrapped command
pastes as two commands. Where the terminal is too narrow for it, the line says it is cut and
``j`` copies the whole command to the clipboard (OSC 52, through SSH and tmux too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Header, Input, Label, RichLog, Static

from core.control.hotkey import revoke_hotkey_label
from core.links import format_session_id
from core.protocol.messages import ActionCode
from core.rules import Action, possible_targets
from tui.app.dialogs import LeaveDialog, PickMemberDialog
from tui.app.fitting_footer import FittingFooter
from tui.app.model import SessionView, changes, state_from_roster

if TYPE_CHECKING:
    from tui.app.app import PortholeApp

#: Which rules action each key stands for (shown only while the rules allow it).
#: A key that toggles has one binding per meaning, and only the one that applies shows.
_KEY_ACTIONS: dict[str, frozenset[Action]] = {
    "present": frozenset({Action.PRESENT}),
    "take_back": frozenset({Action.TAKE_BACK}),
    "stop_presenting": frozenset({Action.STOP_PRESENTING}),
    "propose": frozenset({Action.PROPOSE_PRESENTER}),
    "hand_back": frozenset({Action.HAND_TO_ORGANIZER}),
    "share": frozenset({Action.SHARE}),
    "pause": frozenset({Action.PAUSE}),
    "resume": frozenset({Action.RESUME}),
    "request_control": frozenset({Action.REQUEST_CONTROL}),
    "grant_control": frozenset({Action.GRANT_CONTROL}),
    "revoke": frozenset({Action.REVOKE_CONTROL}),
    "release": frozenset({Action.RELEASE_CONTROL}),
    "lock": frozenset({Action.LOCK}),
    "unlock": frozenset({Action.UNLOCK}),
    "remove": frozenset({Action.KICK}),
    "end": frozenset({Action.END_SESSION}),
}


#: Which keys the footer leaves out first when not all fit (tui/app/fitting_footer.py): never
#: the ones that stop, revoke, end or leave.
_DROP_FIRST = (
    "copy_join",  # the join command's own line says j copies it
    "hand_back",
    "propose",
    "remove",
    "lock",
    "unlock",
    "viewer",
    "send_file",
    "share",
    "grant_control",
    "request_control",
)


class SessionScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "present", "Present"),
        Binding("p", "take_back", "Take back"),
        Binding("p", "stop_presenting", "Stop"),
        Binding("o", "propose", "Propose"),
        Binding("h", "hand_back", "Hand back"),
        Binding("s", "share", "Share"),
        Binding("space", "pause", "Pause", key_display="␣"),
        Binding("space", "resume", "Resume", key_display="␣"),
        Binding("c", "request_control", "Ask control"),
        Binding("g", "grant_control", "Grant"),
        Binding("r", "revoke", "Revoke"),
        Binding("r", "release", "Release"),
        Binding("k", "lock", "Lock"),
        Binding("k", "unlock", "Unlock"),
        Binding("x", "remove", "Remove"),
        Binding("v", "viewer", "Viewer"),
        Binding("j", "copy_join", "Copy join"),
        Binding("t", "chat", "Chat"),
        Binding("f", "send_file", "Send file"),
        # Not in the footer (every key must fit 80 columns): the transfers panel says it.
        Binding("z", "cancel_transfer", "Cancel a file", show=False),
        Binding("e", "end", "End"),
        Binding("l", "leave", "Leave"),
    ]

    def __init__(self, session_id: str, security_code: str, organizer: bool, link: str) -> None:
        super().__init__()
        self.session_id = session_id
        self.security_code = security_code
        self.organizer = organizer
        self.link = link
        self.view: SessionView | None = None
        self.controller_name: str | None = None
        #: Whom this member asked the relay to remove (their leaving reads "was removed").
        self.removing: set[int] = set()
        #: The transfers panel: one line per file on its way, in the order they started.
        self.transfers: dict[tuple[str, int, int], str] = {}

    @property
    def porthole(self) -> PortholeApp:
        from tui.app.app import PortholeApp

        return cast(PortholeApp, self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="control-banner")
        with Horizontal(id="session-top"):
            yield DataTable(id="roster", cursor_type="row", zebra_stripes=True)
            with Vertical(id="session-facts"):
                yield Label(self._session_label(locked=False), id="session-id")
                yield Label("Security code (all see the same):", classes="muted")
                yield Static(_group_code(self.security_code), id="security-code")
                yield Label("", id="presenting")
                yield Label("", id="sharing")
                yield Label("", id="control-state")
        if self.link:
            yield Label("", id="join-hint", classes="muted")
            yield Static(self.join_command, id="join-command", markup=False)
        yield Static("", id="transfers", markup=False)
        yield RichLog(id="log", wrap=True, markup=False, max_lines=500)
        yield Input(
            placeholder="chat (end-to-end encrypted) · enter sends · escape leaves", id="chat"
        )
        # Compact, without the palette hint, and dropping the least needed keys first when the
        # allowed ones do not fit (ctrl+p still opens the palette, which lists them all).
        yield FittingFooter(drop_first=_DROP_FIRST)

    def on_mount(self) -> None:
        table = self.query_one("#roster", DataTable)
        table.add_columns("#", "name", "role", "link")
        table.focus()
        self.query_one("#chat", Input).display = False
        self.query_one("#control-banner", Static).display = False
        self.query_one("#transfers", Static).display = False
        if self.link:
            # Never a bare command before the first resize: the line's width is the screen's
            # less its padding (on_resize measures it exactly).
            self._show_join_hint(self.app.size.width - 2)

    @property
    def join_command(self) -> str:
        return f"porthole join '{self.link}'" if self.link else ""

    def on_resize(self) -> None:
        for footer in self.query(FittingFooter):
            footer.refresh(recompose=True)  # which keys fit changed
        if self.link:
            self._show_join_hint(self.query_one("#join-command", Static).size.width)

    def _show_join_hint(self, width: int) -> None:
        """Say above the join command whether it is shown whole or cut (j copies it whole)."""
        self.query_one("#join-hint", Label).update(
            "In a second terminal, others join with (j copies it):"
            if len(self.join_command) <= width
            else "In a second terminal, others join with (cut to fit: j copies it whole):"
        )

    def _session_label(self, *, locked: bool) -> str:
        label = f"Session {format_session_id(self.session_id)}"
        return f"{label} · locked" if locked else label

    # -- updates from the network side ---------------------------------------------------------

    def show_view(self, view: SessionView) -> None:
        for line in changes(self.view, view, frozenset(self.removing)):
            self.log_line(line)
        self.removing &= {row.peer_id for row in view.members}
        self.view = view
        self.query_one("#session-id", Label).update(self._session_label(locked=view.locked))
        table = self.query_one("#roster", DataTable)
        table.clear()
        for row in view.members:
            name = f"{row.name} (you)" if row.is_me else row.name
            if row.key is not None:
                name += f" · key {row.key}"
            table.add_row(str(row.peer_id), name, ", ".join(row.roles), row.connection)
        presenting = "nobody is presenting"
        if view.presenter is not None:
            who = "you are" if view.i_present else f"{view.name_of(view.presenter)} is"
            presenting = f"{who} presenting" + (" · PAUSED" if view.paused else "")
        self.query_one("#presenting", Label).update(presenting)
        sharing = ""
        if view.i_present:
            sharing = f"sharing: {self.porthole.sharing_description()}"
        self.query_one("#sharing", Label).update(sharing)
        control = "remote control: nobody"
        if view.controller is not None:
            who = "you" if view.i_control else view.name_of(view.controller)
            control = f"remote control: {who}"
        self.query_one("#control-state", Label).update(control)
        self.refresh_bindings()

    def show_control(self, controller: str | None, reason: str) -> None:
        banner = self.query_one("#control-banner", Static)
        self.controller_name = controller
        if controller is None:
            banner.display = False
            self.log_line(
                f"Remote control ended ({reason})." if reason else "Remote control ended."
            )
        else:
            banner.update(
                f" {controller} controls your screen · {revoke_hotkey_label()} revokes "
                "(anywhere) · r revokes here "
            )
            banner.display = True
            self.log_line(f"{controller} now controls your screen.")

    def show_transfer(self, key: tuple[str, int, int], line: str | None) -> None:
        """Update one row of the transfers panel (``None``: the transfer is over)."""
        if line is None:
            self.transfers.pop(key, None)
        else:
            self.transfers[key] = line
        panel = self.query_one("#transfers", Static)
        panel.update("\n".join([*self.transfers.values(), "z cancels a transfer"]))
        panel.display = bool(self.transfers)

    def log_line(self, text: str) -> None:
        self.query_one("#log", RichLog).write(text)

    # -- which keys show -----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        wanted = _KEY_ACTIONS.get(action)
        if wanted is None:
            if action == "viewer":
                view = self.view
                return bool(view and view.presenter is not None and not view.i_present)
            if action == "copy_join":
                return bool(self.link)
            return True
        view = self.view
        return bool(view is not None and view.actions & wanted)

    # -- actions -------------------------------------------------------------------------------

    def _request(self, action: ActionCode, target: int | None = None) -> None:
        self.porthole.run_network(self.porthole.driver.request, action, target)

    def action_present(self) -> None:
        view = self.view
        if view is None:
            return
        self.porthole.confirm_presenting(view)

    def action_take_back(self) -> None:
        self.action_present()  # the same dialog: it says whose screen stops being shown

    def action_stop_presenting(self) -> None:
        self._request(ActionCode.STOP_PRESENTING)

    def action_propose(self) -> None:
        self._pick("Who should present?", ActionCode.PROPOSE_PRESENTER, Action.PROPOSE_PRESENTER)

    def action_hand_back(self) -> None:
        self._request(ActionCode.HAND_TO_ORGANIZER)

    def action_share(self) -> None:
        self.porthole.pick_share()

    def action_pause(self) -> None:
        self._request(ActionCode.PAUSE)

    def action_resume(self) -> None:
        self._request(ActionCode.RESUME)

    def action_request_control(self) -> None:
        self._request(ActionCode.REQUEST_CONTROL)

    def action_grant_control(self) -> None:
        self._pick("Give remote control to", ActionCode.GRANT_CONTROL, Action.GRANT_CONTROL)

    def action_revoke(self) -> None:
        self._request(ActionCode.REVOKE_CONTROL)

    def action_release(self) -> None:
        self._request(ActionCode.RELEASE_CONTROL)

    def action_lock(self) -> None:
        self._request(ActionCode.LOCK)

    def action_unlock(self) -> None:
        self._request(ActionCode.UNLOCK)

    def action_remove(self) -> None:
        self._pick("Remove whom from the session?", ActionCode.KICK, Action.KICK)

    def action_copy_join(self) -> None:
        if self.link:
            self.app.copy_to_clipboard(self.join_command)
            self.porthole.notify("The join command is on the clipboard.")

    def action_viewer(self) -> None:
        self.porthole.run_network(self.porthole.driver.reopen_viewer)

    def action_end(self) -> None:
        view = self.view
        if view is not None:
            self.porthole.confirm_end(len(view.others))

    def action_leave(self) -> None:
        view = self.view
        organizer = bool(view and view.i_organize)
        others = len(view.others) if view is not None else 0

        def answered(yes: bool | None) -> None:
            if yes:
                self.porthole.run_network(self.porthole.driver.leave)

        self.app.push_screen(LeaveDialog(organizer=organizer, others=others), answered)

    def action_send_file(self) -> None:
        view = self.view
        if view is None or not view.others:
            self.porthole.notify("Nobody else is in the session to send a file to.")
            return
        self.porthole.pick_file_to_send([(row.peer_id, row.name) for row in view.others])

    def action_cancel_transfer(self) -> None:
        keys = list(self.transfers)
        if not keys:
            return

        def picked(number: int | None) -> None:
            if number is not None and 0 < number <= len(keys):
                self.porthole.run_network(self.porthole.driver.cancel_transfer, keys[number - 1])

        choices = list(enumerate(self.transfers.values(), start=1))
        self.app.push_screen(PickMemberDialog("Cancel which transfer?", choices), picked)

    def action_chat(self) -> None:
        chat = self.query_one("#chat", Input)
        chat.display = True
        chat.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        event.input.value = ""
        if text:
            self.porthole.run_network(self.porthole.driver.send_chat, text)

    def key_escape(self) -> None:
        chat = self.query_one("#chat", Input)
        if chat.has_focus:
            chat.display = False
            self.query_one("#roster", DataTable).focus()

    def _pick(self, title: str, code: ActionCode, action: Action) -> None:
        view = self.view
        if view is None:
            return
        state = None
        choices = [(row.peer_id, row.name) for row in view.others]
        if view.organizer is not None and self.porthole.driver.session is not None:
            roster = self.porthole.driver.session.roster
            if roster is not None:
                state = state_from_roster(roster, view.organizer)
        if state is not None:
            allowed = possible_targets(state, view.me, action)
            choices = [(pid, name) for pid, name in choices if pid in allowed]
        if not choices:
            self.porthole.notify("Nobody can be picked for that right now.", severity="warning")
            return

        def picked(peer_id: int | None) -> None:
            if peer_id is not None:
                if code is ActionCode.KICK:
                    self.removing.add(peer_id)
                self._request(code, peer_id)

        self.app.push_screen(PickMemberDialog(title, choices), picked)


def _group_code(code: str) -> str:
    digits = code.replace(" ", "")
    groups = [digits[i : i + 5] for i in range(0, len(digits), 5)]
    return "\n".join(" ".join(groups[i : i + 4]) for i in range(0, len(groups), 4))
