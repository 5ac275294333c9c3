"""Streamlit helpers shared by the pages: cached resources, the sidebar and small renderers.

The pages stay thin: they read widgets, call ``core`` and render.
"""
