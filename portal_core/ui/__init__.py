"""Streamlit glue: the shell every page opens through, cached resources, forms, tables.

The only package below the pages that imports streamlit (docs/architecture.md, rule 1).
"""
