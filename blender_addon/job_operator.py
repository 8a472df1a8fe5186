"""The modal side of an operator that runs a background job (`jobs.Job`): a timer polls it, Esc or the panel's
Cancel stops it, the end is one report. The UI stays live: modal() only polls, never waits."""
from __future__ import annotations


class ModalJob:
    """Mixin for a bpy Operator. The operator defines `settings(context)` (its PropertyGroup, with a
    `cancel_requested` flag), `poll_job(context)` -> (level, message) once the job has ended, else None, and
    `cancel_job(context)` -> (level, message)."""

    _timer = None

    def start_modal(self, context, interval: float = 0.25):
        wm = context.window_manager
        self._timer = wm.event_timer_add(interval, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC" or self.settings(context).cancel_requested:
            return self.finish(context, self.cancel_job(context))
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        outcome = self.poll_job(context)
        self.show_progress(context)
        return {"PASS_THROUGH"} if outcome is None else self.finish(context, outcome)

    def show_progress(self, context):
        for area in context.screen.areas if context.screen else ():
            area.tag_redraw()

    def finish(self, context, outcome):
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        self.show_progress(context)
        level, message = outcome
        self.report({level}, message)
        return {"FINISHED"} if level == "INFO" else {"CANCELLED"}
