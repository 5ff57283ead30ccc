"""Engines that answer a collective: the message engine (one SimPy process per rank, real messages) and
the analytic engine (closed forms), with the results object both fill and the grid that checks one
against the other."""
