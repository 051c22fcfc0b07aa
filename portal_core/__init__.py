"""The SIPSTACK Partner Portal's core: everything below the Streamlit pages.

Arrows point inward (docs/architecture.md, rule 1): ``ui`` and ``api`` adapt services and queries to
Streamlit and HTTP; ``services`` are the only writers; ``queries`` are the read side; all of
them sit on ``models``, ``db`` and ``money``.
"""
