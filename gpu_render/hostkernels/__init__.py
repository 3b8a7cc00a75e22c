"""Numba kernels on host (numpy) arrays that several layers share, whatever the backend:
``bounds`` (finite min/max of a column: table ranges, both backends), ``spread``
(``spread``/``dynspread`` of numpy images and aggregates) and ``hexbin`` (each point's hexagon:
``hextable``). Kernels only; the glue lives with
its callers. They import nothing from gpu_render above ``planes``, so any layer may use them."""
