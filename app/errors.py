"""The one base class for errors that carry a message meant for the user."""

from __future__ import annotations

from typing import Any


class UserError(Exception):
    """A refusal the user should read: ``message`` is a (lazy) translated text, shown as is.

    Domain code raises subclasses (``TransitionError``, ``ReviewError`` …); views catch them
    and show ``str(exc.message)`` in the request's language.
    """

    def __init__(self, message: Any, **params: Any) -> None:
        super().__init__(str(message))
        self.message = message
        self.params = params
