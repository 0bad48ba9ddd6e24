"""The sync engine: pull both CRMs, decide with the pure core, write back exactly what changed.

Entry points: :class:`leadsync.sync.cycle.SyncEngine` (one cycle, or a dry run) and
:func:`leadsync.sync.dryrun.render` (a cycle report as text or JSON).
"""
