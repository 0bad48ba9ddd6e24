"""Salesforce REST emulator of the sandbox: see :mod:`leadsync.sandbox.salesforce.emulator`."""

from leadsync.sandbox.salesforce.auth import Credentials
from leadsync.sandbox.salesforce.emulator import SF_LOCK, SF_SESSION_EXPIRY, SF_SHORT_PAGE, SalesforceEmulator
from leadsync.sandbox.salesforce.store import RequestError, WriteError

__all__ = ["SF_LOCK", "SF_SESSION_EXPIRY", "SF_SHORT_PAGE", "Credentials", "RequestError", "SalesforceEmulator",
           "WriteError"]
