"""Stateful local emulator of the HubSpot CRM APIs (see :mod:`.emulator`)."""

from leadsync.sandbox.hubspot.emulator import (
    HS_BATCH_ERROR,
    HS_INDEX_LAG,
    HS_SHORT_PAGE,
    OBJECT_TYPES,
    HubSpotEmulator,
)
from leadsync.sandbox.hubspot.properties import CALL_DISPOSITIONS, LEAD_STATUSES, LIFECYCLE_STAGES, MEETING_OUTCOMES
from leadsync.sandbox.hubspot.users import FORM_SUBMISSION_EVENT, PAGE_VIEW_EVENT

__all__ = [
    "CALL_DISPOSITIONS", "FORM_SUBMISSION_EVENT", "HS_BATCH_ERROR", "HS_INDEX_LAG", "HS_SHORT_PAGE",
    "LEAD_STATUSES", "LIFECYCLE_STAGES", "MEETING_OUTCOMES", "OBJECT_TYPES", "PAGE_VIEW_EVENT", "HubSpotEmulator",
]
