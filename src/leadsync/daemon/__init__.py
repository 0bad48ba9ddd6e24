"""Running leadsync as a service: the scheduler and its jobs, leadership, health and metrics, shutdown.

Entry points: :class:`leadsync.daemon.service.Daemon` (``leadsync run``), the job protocol in
:mod:`leadsync.daemon.jobs`, :func:`leadsync.daemon.progress.progress` for long operations, and
:func:`leadsync.daemon.status.gather` (``leadsync status``).
"""
