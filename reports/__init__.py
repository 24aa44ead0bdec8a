"""The periodic client-care report: HTML with charts, and a CSV per table.

`reports.queries` is deliberately free of plotting imports: the KPI activity uses it too.
"""
