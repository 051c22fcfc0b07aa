"""Showing a service's validation errors beside the fields they belong to."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from portal_core.errors import PortalError, ValidationFailed


class FieldErrors:
    """Slots under a form's fields, filled with the messages of a ``ValidationFailed``.

    Call ``slot(field)`` right after drawing a field, then ``show(error)`` after the submit:
    each message lands under its field, and the rest in the general slot.
    """

    def __init__(self) -> None:
        self._slots: dict[str, DeltaGenerator] = {}
        self._general: DeltaGenerator | None = None

    def slot(self, field: str) -> None:
        self._slots[field] = st.empty()

    def general(self) -> None:
        self._general = st.empty()

    def show(self, error: PortalError) -> None:
        messages = error.errors if isinstance(error, ValidationFailed) else {"": error.message}
        leftovers = []
        for field, message in messages.items():
            if field in self._slots:
                self._slots[field].error(message, icon=":material/error:")
            else:
                leftovers.append(message)
        if leftovers:
            target = self._general or st
            target.error(" ".join(leftovers), icon=":material/error:")


def attempt(errors: FieldErrors, action: Callable[[], object]) -> bool:
    """Run a service call; on a ``PortalError`` show its messages and return False."""
    try:
        action()
    except PortalError as error:
        errors.show(error)
        return False
    return True
