"""dse: design-space exploration over number formats and accelerators.

Optuna, pandas and plotly live here and nowhere else.
"""

__all__: list[str] = []
