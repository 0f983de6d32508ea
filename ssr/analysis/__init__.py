"""Reading result records back: evaluation, tables, plots and the HTML page.

Imports run one way: ``loading`` (records -> graded runs) <- ``stats`` (with ``metrics`` and
``flops``) <- ``evaluate`` <- ``table``, ``plots``, ``page_data`` <- ``html`` <- ``cli``.
"""
