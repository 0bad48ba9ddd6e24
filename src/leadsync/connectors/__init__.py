"""Adapters to Salesforce and HubSpot, and the HTTP policy, pacing and authentication under them.

Everything vendor-shaped stays in this package; the sync engine sees classified errors
(:mod:`leadsync.connectors.errors`) and domain types.
"""
