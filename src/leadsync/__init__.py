"""leadsync: lead scoring, grading and lifecycle for Salesforce and HubSpot, with an append-only ledger."""

__version__ = "0.1.0"
