"""Lines: several agents on one gateway, and the routes that pick a call's line (docs/lines.md).

:mod:`~sipgw.app.lines.routesfile` reads the routes file, :mod:`~sipgw.app.lines.match`
decides which route a call takes, :mod:`~sipgw.app.lines.build` builds each line's agent
with its own settings, and :mod:`~sipgw.app.lines.reload` holds the lines in force and
swaps them on a reload.
"""
