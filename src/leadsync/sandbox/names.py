"""Word lists and weighted tables the synthetic org generator draws from.

Plain tuples, so the generator can turn them into precomputed pools once per run. Weights are rough
shares seen in B2B marketing databases (many individual contributors, few executives; blog traffic
dwarfs pricing-page traffic); they only need to be plausible, not exact.

Picklist values follow the standard Salesforce org (Lead.Status, LeadSource, Industry) and HubSpot's
default contact properties (lifecyclestage, hs_lead_status, numemployees, hs_analytics_source).
"""

from __future__ import annotations

FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
    "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Betty", "Mark", "Sandra", "Steven", "Ashley",
    "Paul", "Emily", "Andrew", "Donna", "Joshua", "Michelle", "Kenneth", "Carol", "Kevin", "Amanda",
    "Brian", "Melissa", "George", "Deborah", "Timothy", "Stephanie", "Ronald", "Rebecca", "Jason", "Laura",
    "Edward", "Sharon", "Jeffrey", "Cynthia", "Ryan", "Kathleen", "Jacob", "Amy", "Gary", "Angela",
    "Nicholas", "Shirley", "Eric", "Anna", "Jonathan", "Ruth", "Stephen", "Brenda", "Larry", "Pamela",
    "Justin", "Nicole", "Scott", "Katherine", "Brandon", "Samantha", "Benjamin", "Christine", "Samuel", "Emma",
    "Gregory", "Catherine", "Alexander", "Debra", "Patrick", "Virginia", "Frank", "Rachel", "Raymond", "Carolyn",
    "Jack", "Janet", "Dennis", "Maria", "Jerry", "Olivia", "Tyler", "Heather", "Aaron", "Helen",
    "Jose", "Diane", "Adam", "Julie", "Nathan", "Joyce", "Henry", "Victoria", "Zachary", "Kelly",
    "Lukas", "Sophie", "Felix", "Lena", "Jonas", "Hannah", "Leon", "Mia", "Paul", "Lea",
    "Hugo", "Chloe", "Louis", "Camille", "Lucas", "Manon", "Arthur", "Ines", "Mateo", "Lucia",
    "Pablo", "Carmen", "Javier", "Elena", "Diego", "Sofia", "Marco", "Giulia", "Luca", "Chiara",
    "Arjun", "Priya", "Rahul", "Ananya", "Vikram", "Divya", "Rohan", "Neha", "Amit", "Kavya",
    "Wei", "Mei", "Hiroshi", "Yuki", "Kenji", "Sakura", "Min-jun", "Ji-woo", "Thiago", "Camila",
    "Lars", "Ingrid", "Sven", "Astrid", "Niels", "Freya", "Oliver", "Amelia", "Harry", "Isla",
    "Liam", "Aoife", "Sean", "Siobhan", "Noah", "Zoe", "Ethan", "Grace", "Mason", "Chloe",
)

LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
    "Gomez", "Phillips", "Evans", "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes",
    "Stewart", "Morris", "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper",
    "Peterson", "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson",
    "Watson", "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes",
    "Price", "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez",
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
    "Dubois", "Durand", "Lefebvre", "Moreau", "Laurent", "Simon", "Michel", "Leroy", "Roux", "Fontaine",
    "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco",
    "Sharma", "Gupta", "Singh", "Kumar", "Reddy", "Iyer", "Nair", "Mehta", "Joshi", "Rao",
    "Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Tanaka", "Suzuki",
    "Sato", "Watanabe", "Park", "Choi", "Silva", "Santos", "Oliveira", "Souza", "Pereira", "Costa",
    "Andersson", "Johansson", "Larsson", "Nilsson", "Jensen", "Nielsen", "Hansen", "de Vries", "van Dijk", "Bakker",
    "O'Brien", "O'Connor", "McCarthy", "Byrne", "Walsh", "Ryan", "Doyle", "Kennedy", "Lynch", "Murray",
)

COMPANY_HEADS = (
    "Acme", "Blue River", "Northwind", "Summit", "Redwood", "Silverline", "Brightpath", "Ironclad", "Evergreen",
    "Pinnacle", "Horizon", "Keystone", "Lighthouse", "Granite", "Cobalt", "Meridian", "Quantum", "Vertex",
    "Harbor", "Cascade", "Atlas", "Beacon", "Crescent", "Falcon", "Juniper", "Lakeside", "Maple", "Nimbus",
    "Orion", "Polaris", "Sierra", "Tidewater", "Unity", "Vanguard", "Willow", "Zenith", "Aurora", "Bluebird",
    "Cedar", "Delta", "Ember", "Fjord", "Golden Gate", "Highland", "Ivory", "Jade", "Kestrel", "Lumen",
    "Monarch", "Nova", "Oakridge", "Prairie", "Quartz", "Riverbend", "Sapphire", "Trident", "Upland", "Vista",
)

COMPANY_TAILS = (
    "Systems", "Labs", "Group", "Logistics", "Health", "Capital", "Analytics", "Software", "Foods", "Energy",
    "Manufacturing", "Partners", "Consulting", "Networks", "Bank", "Insurance", "Media", "Retail", "Robotics",
    "Biotech", "Telecom", "Motors", "Realty", "Solutions", "Holdings", "Studios", "Pharma", "Airlines",
)

DOMAIN_SUFFIXES = ((".com", 70), (".io", 10), (".co.uk", 6), (".de", 5), (".fr", 3), (".net", 4), (".ai", 2))

# Salesforce's standard Industry picklist (Lead and Account), with rough shares in a B2B software database.
INDUSTRIES = (
    ("Technology", 18), ("Finance", 8), ("Banking", 5), ("Healthcare", 8), ("Manufacturing", 8),
    ("Retail", 6), ("Consulting", 6), ("Education", 5), ("Telecommunications", 4), ("Insurance", 4),
    ("Media", 3), ("Energy", 3), ("Government", 3), ("Transportation", 3), ("Biotechnology", 2),
    ("Hospitality", 2), ("Not For Profit", 2), ("Engineering", 2), ("Electronics", 2), ("Construction", 2),
    ("Food & Beverage", 2), ("Communications", 2), ("Utilities", 1), ("Entertainment", 1), ("Other", 2),
)

COUNTRIES = (
    ("United States", 40), ("United Kingdom", 10), ("Germany", 8), ("France", 6), ("Canada", 6), ("India", 5),
    ("Australia", 4), ("Netherlands", 3), ("Spain", 3), ("Brazil", 3), ("Japan", 3), ("Italy", 3),
    ("Sweden", 2), ("Singapore", 2), ("Ireland", 2),
)

# (low, high, weight, HubSpot numemployees option) company-size bands.
COMPANY_SIZES = (
    (1, 5, 8, "1-5"), (5, 25, 18, "5-25"), (25, 50, 14, "25-50"), (50, 100, 14, "50-100"),
    (100, 500, 20, "100-500"), (500, 1000, 10, "500-1000"), (1000, 50000, 16, "1000+"),
)

DEPARTMENTS = (
    "Marketing", "Sales", "Engineering", "IT", "Finance", "Operations", "Human Resources",
    "Customer Success", "Product", "Legal",
)

# Individual-contributor titles per department.
IC_TITLES = {
    "Marketing": ("Marketing Specialist", "Content Marketer", "Demand Generation Specialist", "Marketing Analyst"),
    "Sales": ("Account Executive", "Sales Development Representative", "Business Development Representative"),
    "Engineering": ("Software Engineer", "Senior Software Engineer", "DevOps Engineer", "QA Engineer"),
    "IT": ("Systems Administrator", "IT Specialist", "Network Engineer", "Help Desk Technician"),
    "Finance": ("Financial Analyst", "Accountant", "Controller"),
    "Operations": ("Operations Analyst", "Revenue Operations Specialist", "Project Coordinator"),
    "Human Resources": ("HR Generalist", "Recruiter", "Talent Acquisition Specialist"),
    "Customer Success": ("Customer Success Manager", "Support Engineer", "Implementation Consultant"),
    "Product": ("Product Designer", "Product Analyst", "UX Researcher"),
    "Legal": ("Paralegal", "Legal Counsel", "Compliance Analyst"),
}

C_LEVEL = (
    ("Chief Executive Officer", "Executive"), ("CEO", "Executive"), ("Chief Technology Officer", "Engineering"),
    ("CTO", "Engineering"), ("Chief Financial Officer", "Finance"), ("Chief Marketing Officer", "Marketing"),
    ("CMO", "Marketing"), ("Chief Information Officer", "IT"), ("Chief Operating Officer", "Operations"),
    ("Chief Revenue Officer", "Sales"), ("Founder", "Executive"), ("Co-Founder & CEO", "Executive"),
    ("Owner", "Executive"), ("President", "Executive"),
)

# Titles without buying power, or none at all.
OTHER_TITLES = (
    ("Student", None), ("Intern", None), ("Marketing Intern", "Marketing"), ("PhD Candidate", None),
    ("Freelancer", None), ("Consultant", None), ("Retired", None), ("Job Seeker", None), ("Teacher", None),
)

# Seniority bands and their shares among real (non-junk) people.
SENIORITY_SHARES = (("C-Level", 4), ("VP", 7), ("Director", 12), ("Manager", 24), ("Individual Contributor", 38),
                    ("Other", 10), ("Unknown", 5))

FREE_MAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "gmx.de", "proton.me")

# Junk sign-ups: throwaway domains and keyboard mashing, as they arrive through web forms.
JUNK_DOMAINS = ("mailinator.com", "example.com", "test.com", "guerrillamail.com", "10minutemail.com",
                "yopmail.com", "asdf.com")
JUNK_NAMES = (("asdf", "asdf"), ("test", "test"), ("Test", "User"), ("qwerty", "qwerty"), ("aaa", "aaa"),
              ("Mickey", "Mouse"), ("John", "Doe"), ("x", "x"), ("no", "name"), ("Donald", "Duck"))
JUNK_COMPANIES = ("asdf", "test", "n/a", "none", "-", "xxx", "Test Company", "home")

# Salesforce Lead.LeadSource values; "Purchased List" leads arrive in bulk imports sharing one timestamp.
LEAD_SOURCES = (("Web", 50), ("Phone Inquiry", 8), ("Partner Referral", 10), ("Purchased List", 17), ("Other", 15))

# HubSpot's hs_analytics_source options (original source of a contact).
HS_SOURCES = (
    ("ORGANIC_SEARCH", 30), ("DIRECT_TRAFFIC", 15), ("PAID_SEARCH", 12), ("EMAIL_MARKETING", 8),
    ("SOCIAL_MEDIA", 8), ("PAID_SOCIAL", 6), ("REFERRALS", 8), ("OTHER_CAMPAIGNS", 5), ("OFFLINE", 8),
)

# Lead.Status for leads that were not converted; "Nurture" is the one custom value the sandbox org adds.
OPEN_LEAD_STATUSES = (
    ("Open - Not Contacted", 38), ("Working - Contacted", 30), ("Nurture", 14), ("Closed - Not Converted", 18),
)

LIFECYCLE_STAGES = (
    ("subscriber", 18), ("lead", 45), ("marketingqualifiedlead", 12), ("salesqualifiedlead", 6),
    ("opportunity", 5), ("customer", 6), ("evangelist", 1), ("other", 7),
)
HS_LEAD_STATUSES = (
    ("", 30), ("NEW", 18), ("OPEN", 12), ("IN_PROGRESS", 10), ("ATTEMPTED_TO_CONTACT", 12), ("CONNECTED", 8),
    ("OPEN_DEAL", 3), ("BAD_TIMING", 4), ("UNQUALIFIED", 3),
)

# HubSpot's default call dispositions (the GUIDs every portal ships with) and the matching Salesforce
# CallDisposition text reps type; weights are typical outbound-dialling outcomes.
CALL_OUTCOMES = (
    ("f240bbac-87c9-4f6e-bf70-924b57d47db7", "Connected", 22),
    ("b2cf5968-551e-4856-9783-52b3da59a7d0", "Left voicemail", 30),
    ("a4c4c377-d246-4b32-a13b-75a56a4cd0ff", "Left live message", 6),
    ("73a0d17f-1163-4015-bdd5-ec830791da20", "No answer", 30),
    ("9d9162e7-6cf3-4944-bf63-4dff82258764", "Busy", 7),
    ("17b47fee-58de-441e-a44c-c6300d46f273", "Wrong number", 5),
)

MEETING_OUTCOMES = (("COMPLETED", 60), ("SCHEDULED", 15), ("NO_SHOW", 10), ("RESCHEDULED", 8), ("CANCELED", 7))

# Website paths visited; /pricing scores positively and /careers negatively in typical rule files.
PAGE_PATHS = (
    ("/", 14), ("/blog/lead-scoring-101", 8), ("/blog/funnel-metrics-that-matter", 6),
    ("/blog/salesforce-hubspot-sync", 6), ("/blog/mql-vs-sql", 5), ("/product", 8), ("/product/features", 6),
    ("/product/integrations", 4), ("/pricing", 7), ("/customers", 4), ("/docs/getting-started", 5),
    ("/docs/api", 3), ("/about", 3), ("/careers", 3), ("/careers/senior-software-engineer", 1),
    ("/contact", 2), ("/demo", 2), ("/resources/state-of-revops-2026", 3), ("/webinars", 2), ("/security", 2),
)
SITE = "https://www.leadsync-demo.example"

FORMS = (
    ("Newsletter Sign-up", 30), ("Ebook Download: The RevOps Playbook", 22), ("Webinar Registration", 15),
    ("Contact Us", 10), ("Request a Demo", 9), ("Free Trial Sign-up", 8), ("Event Badge Scan", 6),
)

EMAIL_CAMPAIGNS = (
    "Monthly Newsletter - January", "Monthly Newsletter - February", "Product Update: Scoring 2.0",
    "Webinar Invite: Funnel Metrics", "Nurture Track 1 - Welcome", "Nurture Track 2 - Case Study",
    "Nurture Track 3 - Pricing", "Event Follow-up: RevOps Summit", "Re-engagement: We Miss You",
)

WEBINARS = ("Funnel Metrics That Matter", "Lead Scoring Without Guesswork", "Speed to Lead: The 5-Minute Rule")

DOWNLOADS = ("The RevOps Playbook", "State of RevOps 2026", "Lead Scoring Template", "SLA Calculator")

# (Name, Type) of the org's Salesforce campaigns; CampaignMember statuses per campaign type.
CAMPAIGNS = (
    ("Webinar: Funnel Metrics That Matter", "Webinar"), ("Webinar: Lead Scoring Without Guesswork", "Webinar"),
    ("RevOps Summit 2026", "Conference"), ("SaaStr Booth Scans", "Trade Show"),
    ("Monthly Newsletter", "Email"), ("Nurture Track", "Email"), ("Partner Co-marketing Q2", "Partners"),
    ("LinkedIn Ads - Scoring Ebook", "Advertisement"), ("Direct Mail - Executive Kit", "Direct Mail"),
    ("Customer Reference Program", "Other"),
)
MEMBER_STATUSES = {
    "Webinar": (("Registered", False, 35), ("Attended", True, 45), ("No Show", False, 20)),
    "Conference": (("Registered", False, 30), ("Attended", True, 70)),
    "Trade Show": (("Attended", True, 100),),
    "Email": (("Sent", False, 70), ("Responded", True, 30)),
    "Partners": (("Sent", False, 60), ("Responded", True, 40)),
    "Advertisement": (("Responded", True, 100),),
    "Direct Mail": (("Sent", False, 75), ("Responded", True, 25)),
    "Other": (("Sent", False, 50), ("Responded", True, 50)),
}

CALL_SUBJECTS = ("Call", "Intro call", "Follow-up call", "Discovery call", "Cold call")
SALES_EMAIL_SUBJECTS = ("Following up", "Quick question", "Intro: leadsync", "Re: your demo request",
                        "Pricing information", "Checking in")
TASK_SUBJECTS = ("Send proposal", "Research account", "Follow up next quarter", "Update CRM notes",
                 "Prepare demo", "Connect on LinkedIn")
MEETING_TITLES = ("Discovery meeting", "Product demo", "Pricing discussion", "Technical deep dive", "Kick-off")
NOTE_BODIES = ("Interested, budget next quarter.", "Using a competitor, contract ends in 6 months.",
               "Asked for security documentation.", "Not the decision maker; referred to their VP.",
               "Wants a trial for the marketing team.")

OPEN_STAGES = ("Prospecting", "Qualification", "Needs Analysis", "Value Proposition", "Id. Decision Makers",
               "Perception Analysis", "Proposal/Price Quote", "Negotiation/Review")

QUEUES = ("Inbound Leads", "Partner Leads", "Nurture Pool")
