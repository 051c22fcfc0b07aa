"""The use cases: the only code that writes. Each takes the session and the acting user.

Importing the package installs the reactions to the money path's facts
(``services/reactions.py``), so any process that writes has them.
"""

from portal_core.services import reactions as _reactions  # noqa: F401
