"""The relay admin TUI: ``porthole-relay admin`` over ``ssh -t`` (docs/design.md §1.2, §7.6).

A Textual app on the relay's admin socket (:mod:`relay.admin_protocol`): one screen per area
(live sessions with drill-down, lockouts and bans, organizer accounts, records, security events),
keyboard-driven with the bindings in the footer, made to fit 80x24. It shows metadata the relay
holds anyway; there is no session content on the relay, and no secret is ever displayed.
"""
