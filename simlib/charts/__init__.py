"""Charts: pure functions, results in, ``plotly.graph_objects.Figure`` out.

Every chart uses ``theme``: one colour per strategy kept across all charts, titles with
units, fonts legible when pasted on a 16:9 slide. Nothing here runs a simulation.
"""
