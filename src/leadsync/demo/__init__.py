"""``leadsync demo``: the whole flow in a minute, on the sandbox, with no credentials.

Entry point: :func:`leadsync.demo.story.run_demo` (returns a :class:`~leadsync.demo.summary.DemoResult`).
"""
