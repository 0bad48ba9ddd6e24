"""Activities of one synthetic person, in the system(s) the person lives in.

Marketing activity (page views, email opens and clicks, form fills, downloads, webinars, unsubscribes)
lives in HubSpot as web/email events; sales activity lives in Salesforce (Tasks, Events, campaign
members) or HubSpot engagements (calls, emails, meetings, notes, tasks, each with an association to
its contact). Someone present in both systems gets marketing in HubSpot and sales mostly in
Salesforce, as in a typical org where reps work in the CRM.

HubSpot event types are named like HubSpot's own ``e_`` events; the sandbox uses exactly these:
``e_visited_page`` {hs_url}, ``e_submitted_form`` {hs_form_title, hs_url}, ``e_opened_email``
{hs_email_campaign}, ``e_clicked_email`` {hs_email_campaign, hs_url}, ``e_registered_webinar`` /
``e_attended_webinar`` {hs_webinar_name}, ``e_downloaded_content`` {hs_asset_name, hs_url},
``e_unsubscribed`` {hs_email_campaign}. Property values are strings, as the events API returns them.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

from leadsync.sandbox import names
from leadsync.sandbox.orgpools import SalesforceIds, Timestamps, Weighted

Record = dict[str, Any]

# Activity kinds (the domain's vocabulary where one exists) and their shares per placement.
_MARKETING = (("page_view", 42), ("email_open", 18), ("email_click", 7), ("form_fill", 4), ("download", 2.5),
              ("webinar_registered", 1.5), ("webinar_attended", 1), ("unsubscribe", 0.4))
_SF_SALES = (("sf_call", 10), ("sf_email", 7), ("sf_task", 3), ("sf_meeting", 2.5), ("sf_campaign", 2))
_HS_SALES = (("hs_call", 10), ("hs_email", 7), ("hs_task", 3), ("hs_meeting", 2.5), ("hs_note", 1.5))
_MIXES = {
    "hubspot": Weighted(_MARKETING + _HS_SALES),
    "salesforce": Weighted(_SF_SALES),
    "both": Weighted(_MARKETING + _SF_SALES + tuple((k, w * 0.3) for k, w in _HS_SALES)),
    "junk": Weighted((("form_fill", 6), ("page_view", 3), ("email_open", 1))),
}


@dataclass(frozen=True, slots=True)
class Actor:
    """What the activity generator needs to know about one person."""

    placement: str  # "salesforce", "hubspot" or "both"
    sf_who_ids: tuple[str, ...]  # Lead/Contact ids activities may point at (two for a duplicate)
    hs_contact_id: str | None
    sf_owner_id: str  # an active User id (queues do not log calls)
    hs_owner_id: str
    created: int  # epoch seconds; activities fall between this and now
    junk: bool


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    type: str
    statuses: Weighted[tuple[str, bool]]


class ActivityWriter:
    """Appends activity records to the org's lists; one instance per generated org."""

    def __init__(self, rng: random.Random, times: Timestamps, sf_ids: SalesforceIds, sf: dict[str, list[Record]],
                 hs: dict[str, list[Record]], campaigns: list[Campaign]) -> None:
        self.rng = rng
        self.times = times
        self.sf_ids = sf_ids
        self.sf = sf
        self.hs = hs
        self.campaigns = campaigns
        self.kinds: Counter[str] = Counter()
        self._engagement_id = rng.randrange(10**10, 5 * 10**10)
        # Event ids look like UUIDs: a random per-org head and a counter keep them unique and cheap.
        head = f"{rng.getrandbits(64):016x}"
        self._event_head = f"{head[:8]}-{head[8:12]}-4{head[13:16]}-a{rng.getrandbits(12):03x}-"
        self._event_id = 0
        self._urls = Weighted([(names.SITE + path, w) for path, w in names.PAGE_PATHS])
        self._forms = Weighted(names.FORMS)
        self._calls = Weighted([((guid, text), w) for guid, text, w in names.CALL_OUTCOMES])
        self._meetings = Weighted(names.MEETING_OUTCOMES)

    # ----- entry point ---------------------------------------------------------------------------
    def write(self, actor: Actor, count: int) -> None:
        # Junk sign-ups arrive through web forms; without a HubSpot record they only get CRM activity.
        mix = _MIXES["junk" if actor.junk and actor.hs_contact_id else actor.placement]
        span = self.times.now - actor.created
        used_campaigns: set[int] = set()
        rng = self.rng
        for kind in mix.sample(rng, count):
            # sqrt skews activity towards the recent past, as engagement usually grows after sign-up.
            when = actor.created + int(span * rng.random() ** 0.5)
            if kind == "sf_campaign" and not self._campaign_member(actor, when, used_campaigns):
                kind = "sf_email"  # one membership per campaign and person, as Salesforce enforces
            if kind.startswith("sf_"):
                if kind != "sf_campaign":
                    self._salesforce_activity(kind, actor, when)
            elif kind.startswith("hs_"):
                self._engagement(kind, actor, when)
            else:
                self._event(kind, actor, when)
            self.kinds[kind] += 1

    # ----- Salesforce ----------------------------------------------------------------------------
    def _salesforce_activity(self, kind: str, actor: Actor, when: int) -> None:
        rng = self.rng
        who = actor.sf_who_ids[0] if len(actor.sf_who_ids) == 1 else rng.choice(actor.sf_who_ids)
        stamp = self.times.sf(when)
        if kind == "sf_meeting":
            start = self.times.sf(when)
            self.sf["Event"].append({
                "Id": self.sf_ids.new("Event"), "WhoId": who, "OwnerId": actor.sf_owner_id,
                "Subject": rng.choice(names.MEETING_TITLES), "Type": "Meeting", "EventSubtype": "Event",
                "StartDateTime": start,
                "EndDateTime": self.times.sf(min(when + 1800, self.times.now)), "ActivityDateTime": start,
                "ActivityDate": self.times.day(when), "DurationInMinutes": 30,
                "CreatedDate": stamp, "LastModifiedDate": stamp, "SystemModstamp": stamp,
            })
            return
        disposition = call_type = None
        status = "Completed"
        if kind == "sf_call":
            subtype, task_type, subject = "Call", "Call", rng.choice(names.CALL_SUBJECTS)
            disposition, call_type = self._calls.pick(rng)[1], "Outbound"
        elif kind == "sf_email":
            subtype, task_type, subject = "Email", "Email", "Email: " + rng.choice(names.SALES_EMAIL_SUBJECTS)
        else:
            subtype, task_type, subject = "Task", "Other", rng.choice(names.TASK_SUBJECTS)
            status = "Completed" if rng.random() < 0.6 else "Not Started"
        self.sf["Task"].append({
            "Id": self.sf_ids.new("Task"), "WhoId": who, "OwnerId": actor.sf_owner_id, "Subject": subject,
            "TaskSubtype": subtype, "Type": task_type, "CallDisposition": disposition, "CallType": call_type,
            "Status": status, "IsClosed": status == "Completed", "Priority": "Normal",
            "ActivityDate": self.times.day(when),
            "CreatedDate": stamp, "LastModifiedDate": stamp, "SystemModstamp": stamp,
        })

    def _campaign_member(self, actor: Actor, when: int, used: set[int]) -> bool:
        index = self.rng.randrange(len(self.campaigns))
        if index in used:
            return False
        used.add(index)
        campaign = self.campaigns[index]
        who = actor.sf_who_ids[0]
        status, responded = campaign.statuses.pick(self.rng)
        stamp = self.times.sf(when)
        self.sf["CampaignMember"].append({
            "Id": self.sf_ids.new("CampaignMember"), "CampaignId": campaign.id,
            "LeadId": who if who.startswith("00Q") else None, "ContactId": who if who.startswith("003") else None,
            "Status": status, "HasResponded": responded,
            "FirstRespondedDate": self.times.day(when) if responded else None,
            "CreatedDate": stamp, "LastModifiedDate": stamp, "SystemModstamp": stamp,
        })
        return True

    # ----- HubSpot -------------------------------------------------------------------------------
    def _engagement(self, kind: str, actor: Actor, when: int) -> None:
        rng = self.rng
        stamp = self.times.hs(when)
        props: dict[str, Any] = {"hs_timestamp": stamp, "hubspot_owner_id": actor.hs_owner_id}
        if kind == "hs_call":
            guid, text = self._calls.pick(rng)
            connected = text == "Connected"
            duration = rng.randrange(60_000, 1_800_000) if connected else rng.randrange(0, 45_000)
            props.update(hs_call_title=rng.choice(names.CALL_SUBJECTS), hs_call_direction="OUTBOUND",
                         hs_call_disposition=guid, hs_call_status="COMPLETED", hs_call_duration=str(duration))
            object_type = "calls"
        elif kind == "hs_email":
            inbound = rng.random() < 0.25
            props.update(hs_email_direction="INCOMING_EMAIL" if inbound else "EMAIL",
                         hs_email_subject=rng.choice(names.SALES_EMAIL_SUBJECTS), hs_email_status="SENT")
            object_type = "emails"
        elif kind == "hs_meeting":
            end = self.times.hs(min(when + 1800, self.times.now))
            props.update(hs_meeting_title=rng.choice(names.MEETING_TITLES), hs_meeting_outcome=self._meetings.pick(rng),
                         hs_meeting_start_time=stamp, hs_meeting_end_time=end)
            object_type = "meetings"
        elif kind == "hs_task":
            done = rng.random() < 0.6
            props.update(hs_task_subject=rng.choice(names.TASK_SUBJECTS),
                         hs_task_type=rng.choice(("CALL", "EMAIL", "TODO")),
                         hs_task_status="COMPLETED" if done else "NOT_STARTED", hs_task_priority="MEDIUM")
            object_type = "tasks"
        else:
            props.update(hs_note_body=rng.choice(names.NOTE_BODIES))
            object_type = "notes"
        self._engagement_id += 1
        engagement_id = str(self._engagement_id)
        self.hs[object_type].append(
            {"id": engagement_id, "properties": props, "createdAt": stamp, "updatedAt": stamp, "archived": False}
        )
        self.hs["associations"].append(
            {"from_type": object_type, "from_id": engagement_id, "to_type": "contacts", "to_id": actor.hs_contact_id}
        )

    def _event(self, kind: str, actor: Actor, when: int) -> None:
        rng = self.rng
        if kind == "page_view":
            event_type, props = "e_visited_page", {"hs_url": self._urls.pick(rng)}
        elif kind == "email_open":
            event_type, props = "e_opened_email", {"hs_email_campaign": rng.choice(names.EMAIL_CAMPAIGNS)}
        elif kind == "email_click":
            event_type = "e_clicked_email"
            props = {"hs_email_campaign": rng.choice(names.EMAIL_CAMPAIGNS), "hs_url": self._urls.pick(rng)}
        elif kind == "form_fill":
            form = self._forms.pick(rng)
            event_type, props = "e_submitted_form", {"hs_form_title": form, "hs_url": _form_page(form)}
        elif kind == "download":
            asset = rng.choice(names.DOWNLOADS)
            event_type = "e_downloaded_content"
            props = {"hs_asset_name": asset, "hs_url": f"{names.SITE}/resources/{_slug(asset)}"}
        elif kind == "unsubscribe":
            event_type, props = "e_unsubscribed", {"hs_email_campaign": rng.choice(names.EMAIL_CAMPAIGNS)}
        else:
            event_type = "e_registered_webinar" if kind == "webinar_registered" else "e_attended_webinar"
            props = {"hs_webinar_name": rng.choice(names.WEBINARS)}
        self._event_id += 1
        self.hs["events"].append({
            "id": f"{self._event_head}{self._event_id:012x}", "objectType": "contact",
            "objectId": actor.hs_contact_id, "eventType": event_type, "occurredAt": self.times.hs(when),
            "properties": props,
        })


def _slug(text: str) -> str:
    return "-".join("".join(c for c in word if c.isalnum()) for word in text.lower().split())


_FORM_PAGES = {"Contact Us": "/contact", "Request a Demo": "/demo", "Free Trial Sign-up": "/trial",
               "Webinar Registration": "/webinars", "Newsletter Sign-up": "/blog", "Event Badge Scan": "/events"}


def _form_page(form: str) -> str:
    return names.SITE + _FORM_PAGES.get(form, "/resources/" + _slug(form.split(": ")[-1]))
