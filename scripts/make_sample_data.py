#!/usr/bin/env python3
"""Builds the training sets shipped in config/sample/train/ for deskpilot's demo.

Reads the Bitext customer-support training split (CDLA-Sharing-1.0) and writes:

  bitext.jsonl     every row as {"text", "category", "intent"}; category lower-cased,
                   intent = Bitext's `label`.
  priority.jsonl   synthetic {"text", "label"} with label low | normal | high | urgent.
  sentiment.jsonl  synthetic {"text", "label"} with label negative | neutral | positive.

No public data set available to the project has priority or sentiment labels, so those
two sets are composed like tickets: a Bitext request (the "what"; its category drawn with the
same odds for every label) plus a hand-written cue sentence that carries the label (the "how
urgent" / "how it feels"), calm narrative and context shared by every label, a subject line,
greeting or sign-off, and light casing noise. Cues are many and go at the start, middle or
end, and the narrative reuses the cues' everyday words in harmless senses, so a model has to
learn the concept rather than a template, a position or a word. config/sample/README.md has
the figures on hand-written tickets. The output is deterministic for a given input file: one
seeded RNG, no clock.

Usage: python3 scripts/make_sample_data.py [--bitext PATH] [--out DIR]
Standard library only.
"""

import argparse
import collections
import json
import pathlib
import random
import re
import sys

from sample_phrases import NARRATIVE_EXTRA, PRIORITY_CUES_EXTRA, SENTIMENT_CUES_EXTRA

SEED = 20240611
DEFAULT_BITEXT = pathlib.Path("/work/shared/data/bitext_customer_support/train.jsonl")
DEFAULT_OUT = pathlib.Path(__file__).resolve().parent.parent / "config" / "sample" / "train"

PRIORITY_ROWS_PER_LABEL = 500
SENTIMENT_ROWS_PER_LABEL = 500

# ---------------------------------------------------------------------------------------
# Slot values used by cue templates and by Bitext placeholders.

PRODUCTS = [
    "Ridgeline 2P tent", "hiking boots", "down jacket", "rain shell", "sleeping bag",
    "climbing harness", "kayak paddle", "trekking poles", "backpacking stove", "headlamp",
    "Switchback 45 pack", "trail running shoes", "fleece hoodie", "camp chair",
    "water filter", "insulated bottle", "ski goggles", "bike helmet", "sleeping pad",
    "merino base layer", "climbing rope", "hammock", "cooler", "snowshoes",
    "child carrier", "duffel bag", "soft-shell pants", "gaiters", "lantern", "wetsuit",
]
EVENTS = [
    "my wedding", "a backpacking trip", "my daughter's birthday", "a ski trip",
    "a trip to Yosemite", "my brother's wedding", "a race on Sunday", "a scout camp",
    "our honeymoon", "a school expedition", "a hunting trip", "a family reunion",
    "a climbing course", "a Grand Canyon hike", "a fishing trip", "a marathon",
]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
# With their preposition, so "I ordered it {past}" reads right for every value.
PAST_DATES = [
    "on March 3", "last Tuesday", "on the 14th", "on April 22", "two weeks ago", "on May 9",
    "last weekend", "on June 1", "on Monday", "on the 28th", "on January 17", "ten days ago",
]
NAMES = [
    "Maria", "James", "Aisha", "Tom", "Priya", "Luis", "Hannah", "Kenji", "Olivia",
    "Dmitri", "Grace", "Mateo", "Chloe", "Samuel", "Fatima", "Noah", "Emily", "Raj",
]
CITIES = ["Denver", "Portland", "Austin", "Boise", "Seattle", "Toronto", "Calgary"]
COUNTRIES = ["United States", "Canada"]


def Money(rng):
    return f"${rng.choice([19, 24, 38, 49, 64, 89, 112, 129, 175, 249, 310, 412, 599])}.{rng.choice(['00', '95', '99', '50'])}"


def OrderNumber(rng):
    return f"NW-{rng.randint(1000000, 9999999)}"


SLOTS = {
    "order": OrderNumber,
    "amount": Money,
    "product": lambda rng: rng.choice(PRODUCTS),
    "event": lambda rng: rng.choice(EVENTS),
    "weekday": lambda rng: rng.choice(WEEKDAYS),
    "past": lambda rng: rng.choice(PAST_DATES),
    "days": lambda rng: str(rng.choice([4, 5, 6, 8, 9, 10, 12, 15, 18, 21])),
    "count": lambda rng: rng.choice(["two", "three", "four", "five"]),
    "hours": lambda rng: rng.choice(["two", "three", "four", "five"]),
    "name": lambda rng: rng.choice(NAMES),
    "city": lambda rng: rng.choice(CITIES),
}


def Fill(template, rng):
    return re.sub(r"\{(\w+)\}", lambda m: SLOTS[m.group(1)](rng), template)


# Bitext template placeholders ("{{Order Number}}"). The release used here has none in the
# customer text, but later releases do; an unknown placeholder stops the run rather than
# shipping a literal "{{...}}" to users.
PLACEHOLDERS = {
    "Order Number": OrderNumber,
    "Invoice Number": lambda rng: f"INV-{rng.randint(100000, 999999)}",
    "Person Name": lambda rng: rng.choice(NAMES),
    "Account Type": lambda rng: rng.choice(["Trail Club", "Trail Club Plus", "business"]),
    "Account Category": lambda rng: rng.choice(["Trail Club", "Trail Club Plus", "business"]),
    "Refund Amount": lambda rng: Money(rng)[1:],
    "Currency Symbol": lambda rng: "$",
    "Delivery City": lambda rng: rng.choice(CITIES),
    "Delivery Country": lambda rng: rng.choice(COUNTRIES),
}


def FillPlaceholders(text, rng, counter):
    def Replace(match):
        name = match.group(1).strip()
        if name not in PLACEHOLDERS:
            raise ValueError(f"unknown Bitext placeholder {match.group(0)!r} in {text!r}")
        counter[name] += 1
        return PLACEHOLDERS[name](rng)

    return re.sub(r"\{\{([^}]*)\}\}", Replace, text)


# ---------------------------------------------------------------------------------------
# Shared, label-neutral material: appears with every label so it carries no signal.

GREETINGS = ["Hi,", "Hello,", "Hi there,", "Hey,", "Good morning,", "Hello team,",
             "Hi Northwind,", "Dear support,", "Good afternoon,", "Hey folks,"]
SIGN_OFFS = ["Thanks.", "Thanks, {name}", "Regards, {name}", "- {name}", "Cheers.",
             "Sent from my phone", "Best, {name}", "Thank you.", "{name}"]
# Subject lines: label-neutral, some about the request's category, as real tickets have.
SUBJECTS = ["Question", "Quick question", "Help", "Hello", "Order {order}", "My order",
            "Re: your email", "Support request", "Enquiry", "A question about my account",
            "{product}", "Question about the {product}", "Following up", "Contact form"]
SUBJECTS_BY_CATEGORY = {
    "account": ["Account", "My account", "Login"], "cancellation_fee": ["Cancellation fee"],
    "contact": ["Contact", "Speaking to someone"], "delivery": ["Delivery", "Shipping times"],
    "feedback": ["Feedback", "About my experience"], "invoice": ["Invoice", "Invoice request"],
    "newsletter": ["Newsletter", "Trailhead emails"], "order": ["Order", "My order {order}"],
    "payment": ["Payment", "Payment question"], "refund": ["Refund", "Refund question"],
    "shipping_address": ["Shipping address", "Address"],
}
CONTEXT = [
    "My order number is {order}.", "I ordered the {product} {past}.",
    "It's order {order}.", "This is about the {product} I bought.",
    "I placed the order {past}.", "The order was for the {product}.",
    "I'm writing from my husband's account.", "I'm on the app, not the website.",
    "I checked the help center first.", "The order total was {amount}.",
    "I've been a customer for a few years.", "I bought it for my son.",
    "I paid with PayPal.", "I used a gift card for part of it.",
    "I'm in Canada, if that matters.", "We ordered the {product} and the {product}.",
]

# Ticket narrative: what real customers write around their request. Every sentence is
# calm and time-neutral, yet many reuse words that the cues above rely on ("still",
# "again", "keep", "today", "weeks", "thanks", "leaving", "charged"), so a model trained
# on these rows cannot read a label from a single word and must learn the cue's phrase.
# Without them the sample models gave "I still have the receipt." high priority at 94%.
NARRATIVE = [
    "I still have the receipt.", "I still have the original box.",
    "I still use the {product} I bought from you years ago.",
    "I'd like to order the same {product} again.", "I'm ordering again for my daughter.",
    "I'd like to keep the rest of the order.", "I want to keep the {product}.",
    "I keep my receipts in the app.", "I ordered it {past}.", "It arrived on {weekday}.",
    "I'm home most days this week.", "I'll be home on {weekday} if that helps.",
    "I can drop it at the post office today.", "I'm at work until six today.",
    "I'll check my email again tomorrow.", "I looked at the tracking page this morning.",
    "The tracking number is in the shipping email.", "It shipped a few days ago.",
    "I got the confirmation email right away.", "I have a trip planned for later this year.",
    "We're leaving on a camping trip in the summer.", "I'm going hiking with friends next month.",
    "This is my third order with you.", "This is the first time I've ordered online from you.",
    "I was charged the sale price, which is right.", "The card I used is a Visa.",
    "My bank is a credit union, if that matters.", "My account email is the same as this one.",
    "I logged in on my laptop.", "I'm writing from my phone.", "I'm writing from my work email.",
    "My wife usually does the ordering.", "The {product} is for my partner.",
    "The {product} fits well.", "I measured my feet twice.",
    "I moved to {city} last year.", "I live in {city} now.",
    "Your opening hours are on the website, I know.", "I read the FAQ page.",
    "I called once but the line was busy, so I'm writing instead.",
    "I have a screenshot of the checkout page.", "I used the discount code from the newsletter.",
    "The box had two items in it.", "My old {product} finally wore out after many seasons.",
    "We go camping every summer.", "I'm a member of the Trail Club.",
    "I'm asking now so I can plan.", "I need the details for my records.",
    "I need it for my files.", "It's the {product} in size medium.",
    "It's the blue one.", "I also bought a {product} in the same order.",
    "The parcel came in two boxes.", "Delivery was on time.",
    "Everything else in the order was fine.", "I paid {amount} in total.",
    "I have two accounts, one old and one new.", "I changed my password last month.",
    "I'm the account holder.", "My name on the account is {name}.",
    "I'm free to talk in the afternoon.", "You can reply to this email.",
    "I'll wait for your reply.", "I sent the same question through the form, in case it helps.",
    "The weather here has been good for hiking.", "It's for a weekend trip with the kids.",
    "My son is in the scouts.", "It was a gift from my sister.",
    "I compared a few sizes on the website.", "The product page says it ships in a week.",
    "I checked again just now.", "I tried on a different browser too.",
]

# ---------------------------------------------------------------------------------------
# Priority cues. A cue is (text, categories it fits or None for any). Prefix cues open the
# ticket and are followed by the rest on the same line.

MONEY = {"payment", "refund", "invoice", "order", "cancellation_fee"}
ACCESS = {"account", "payment", "order"}
SHIPMENT = {"order", "delivery", "shipping_address", "refund"}

PRIORITY_CUES = {
    "urgent": [
        ("Someone logged into my account and changed the email address, it wasn't me.", ACCESS),
        ("There are {count} orders on my account that I never placed.", ACCESS),
        ("I think my account has been hacked.", ACCESS),
        ("I got a password reset email I never asked for and now I'm locked out.", {"account"}),
        ("My card was charged {amount} on your site for a purchase I did not make.", MONEY),
        ("Your site just showed me another customer's name, address and orders.", ACCESS),
        ("I got an email that looks like it's from you asking for my full card number.", None),
        ("My saved card was used to buy gift cards I never ordered.", MONEY),
        ("Someone changed the delivery address on my order to a place I've never heard of.", SHIPMENT),
        ("If this isn't resolved today I'm handing it to my lawyer.", None),
        ("I am filing a complaint with the state attorney general.", None),
        ("Consider this formal notice before I take legal action.", None),
        ("I'm reporting this to my bank as fraud and to the Better Business Bureau.", MONEY),
        ("My attorney will contact you if I don't hear back by end of day.", None),
        ("This is a breach of consumer protection law and I will escalate it.", None),
        ("I'm disputing the charge with my credit card company today.", MONEY),
        ("Your checkout has been down for over an hour.", {"order", "payment"}),
        ("The whole website gives an error page for me and my colleagues.", None),
        ("The app crashes every time I open it and I can't get to anything.", None),
        ("None of the payment options work at all right now.", {"payment", "order"}),
        ("Nobody on our team can log in, everything is broken.", {"account"}),
        ("The backpacking stove I bought is leaking fuel and nearly caught fire.", None),
        ("The carabiner cracked during a climb and someone could get seriously hurt.", None),
        ("The headlamp battery got hot and started smoking.", None),
        ("The climbing harness buckle failed, this is a safety issue.", None),
        ("I've been charged {amount} {count} times and my account is now overdrawn.", MONEY),
        ("My flight leaves in {hours} hours and the package went to the wrong address.", SHIPMENT),
        ("Our school group leaves at dawn tomorrow and the order for 30 kids isn't here.", SHIPMENT),
        ("I need this fixed within the hour.", None),
        ("Please escalate this immediately.", None),
        ("This cannot wait another minute.", None),
        ("I need someone on this right now.", None),
        ("Every minute this stays open I'm losing money.", MONEY),
        ("My bank just flagged fraud on the card I used with you.", MONEY),
        ("My personal data from your site is showing up in a scam text.", None),
        ("I was charged {amount} for an account I deleted.", MONEY),
    ],
    "high": [
        ("I was charged twice for the same order.", MONEY),
        ("I need it by tomorrow for {event}.", SHIPMENT),
        ("I need it before {event} on {weekday}.", SHIPMENT),
        ("It's been {days} days and nothing has arrived.", SHIPMENT),
        ("The refund you promised {days} days ago still hasn't shown up.", {"refund", "payment"}),
        ("This is the third time I'm writing about this.", None),
        ("Could you sort this out today, please?", None),
        ("I need this resolved before the weekend.", None),
        ("The {product} arrived broken.", {"order", "refund", "feedback", "delivery"}),
        ("The sale ends tonight and my payment keeps failing.", {"payment", "order"}),
        ("I need the invoice for a tax filing due {weekday}.", {"invoice"}),
        ("I can't get into my account and there's an order arriving tomorrow.", {"account"}),
        ("Tracking has been stuck for a week.", SHIPMENT),
        ("I got the wrong size and I'm leaving on {weekday}.", SHIPMENT),
        ("Please treat this as a priority.", None),
        ("A quick answer would really help.", None),
        ("The package says delivered but it isn't here.", SHIPMENT),
        ("I'm leaving the country on {weekday} and need this sorted before then.", None),
        ("I still have no answer after {days} days.", None),
        ("The wrong item came and I need the right one this week.", SHIPMENT),
        ("My card was charged but the order doesn't show up anywhere.", MONEY),
        ("I was charged {amount} more than the price at checkout.", MONEY),
        ("I'm locked out and can't see my order details.", {"account", "order"}),
        ("I need an answer by end of day tomorrow.", None),
        ("The parcel is going to the old address and it ships today.", {"shipping_address", "order"}),
        ("Our trip starts {weekday}, so timing matters here.", SHIPMENT),
        ("My accountant needs the corrected invoice this week.", {"invoice"}),
        ("The {product} leaked on the first night out.", {"order", "refund", "feedback"}),
        ("It's a gift for {event} and it has to arrive in time.", SHIPMENT),
        ("I've waited on hold twice already today.", {"contact", "order", "refund"}),
        ("Please get back to me today if at all possible.", None),
        ("I have a big group order riding on this.", {"order", "payment", "delivery"}),
        ("The pending charge of {amount} is blocking my card limit.", MONEY),
        ("I need to cancel before it ships tonight.", {"order", "cancellation_fee"}),
        ("Money was taken from my account but the refund never came back.", {"refund", "payment"}),
        ("My new address has to be on it before it leaves the warehouse.", {"shipping_address"}),
        ("My promo code expires tomorrow and checkout keeps failing.", {"payment", "order"}),
        ("It's been over two weeks since I sent the return.", {"refund"}),
        ("I'm still waiting on the reply you promised {past}.", None),
        ("This is holding up a reimbursement at work.", {"invoice", "refund"}),
    ],
    "normal": [
        ("Could you look into this?", None),
        ("Please let me know the next steps.", None),
        ("Can you help?", None),
        ("I'd appreciate your help with this.", None),
        ("What do I need to do?", None),
        ("Let me know if you need anything else from me.", None),
        ("Can someone check this for me?", None),
        ("I'd like to get this sorted.", None),
        ("Looking forward to your reply.", None),
        ("Could you confirm?", None),
        ("Please advise.", None),
        ("I couldn't find the answer in the help center.", None),
        ("I tried the website but couldn't work it out.", None),
        ("Is that possible?", None),
        ("Happy to send more details.", None),
        ("What are my options?", None),
        ("I'd like some guidance on this.", None),
        ("Can you walk me through it?", None),
        ("How does this usually work?", None),
        ("Just need a bit of help here.", None),
        ("I'm not sure where to start.", None),
        ("Could you point me in the right direction?", None),
        ("Is there a form for this?", None),
        ("Who should I talk to about this?", None),
        ("I want to make sure I do this right.", None),
        ("Please let me know what you need.", None),
        ("Any help is appreciated.", None),
        ("Can you tell me how?", None),
        ("I'd like to know the process.", None),
        ("Could you explain the steps?", None),
        ("I have the order confirmation if you need it.", None),
        ("Not sure if I'm doing something wrong.", None),
        ("Is this something you can do from your side?", None),
        ("Let me know what's possible.", None),
        ("I'd like an answer this week if you can.", None),
        ("Can you check on your end?", None),
        ("I've attached a screenshot.", None),
        ("I'd prefer to do it online if I can.", None),
        ("Thanks for checking.", None),
        ("Would you be able to help me with that?", None),
        ("Question about this:", None),
        ("I need some help:", None),
        ("Quick question:", None),
    ],
    "low": [
        ("No rush at all.", None),
        ("Whenever you get a chance.", None),
        ("Just curious.", None),
        ("Not urgent.", None),
        ("This can wait.", None),
        ("Only asking for future reference.", None),
        ("I'm planning ahead for next season.", None),
        ("No hurry on this one.", None),
        ("Take your time.", None),
        ("Answer at your convenience.", None),
        ("Low priority on my side.", None),
        ("Nothing is broken, I just have a question.", None),
        ("Feel free to answer next week.", None),
        ("Just something I was wondering about.", None),
        ("I'm not ordering until the fall anyway.", None),
        ("Thinking about it for a trip next year.", None),
        ("Asking for a friend, no urgency.", None),
        ("Small thing, really.", None),
        ("Not a big deal either way.", None),
        ("Only if you have a spare minute.", None),
        ("It's a minor point.", None),
        ("I'm in no hurry.", None),
        ("Not time-sensitive.", None),
        ("Whenever is convenient for you.", None),
        ("There's no deadline.", None),
        ("It's not pressing.", None),
        ("I'm just browsing for now.", None),
        ("Purely out of interest.", None),
        ("Might be useful to know someday.", None),
        ("A reply sometime this month is totally fine.", None),
        ("It's nothing important.", None),
        ("Don't worry if it takes a few days.", None),
        ("Just filing this away for later.", None),
        ("Whenever someone is free.", None),
        ("Just curious,", None),
        ("Out of curiosity,", None),
        ("For future reference,", None),
        ("Low-priority question:", None),
        ("No rush, but", None),
        ("When you have a moment,", None),
        ("Random question:", None),
        ("Not urgent, but", None),
        ("Idle question:", None),
        ("Something for later:", None),
        ("Whenever you're free:", None),
    ],
}

# Prefix-style cues for urgent/high, in addition to the sentence cues above.
PRIORITY_PREFIXES = {
    "urgent": ["URGENT:", "EMERGENCY:", "URGENT!!!", "Critical:", "Please help ASAP:",
               "Time critical:", "Immediate attention needed:"],
    "high": ["Time-sensitive:", "Important:", "Please prioritise:", "Kind of urgent:",
             "Need help soon:", "Priority request:"],
}

# ---------------------------------------------------------------------------------------
# Sentiment cues.

SENTIMENT_CUES = {
    "negative": [
        "This is absolutely ridiculous.", "I'm furious.",
        "Worst customer service I've ever dealt with.", "Great, just great. Another delay.",
        "Oh wonderful, a third email saying you're looking into it.",
        "What the heck is going on over there?", "I'm so fed up with this.", "Seriously?!",
        "Thanks for nothing.", "I've wasted an entire afternoon on this.",
        "Never ordering from you again.", "Your website is a joke.",
        "I'm extremely disappointed.", "This is unacceptable.", "Are you kidding me?",
        "Why is this so hard?!", "Frankly, this is a mess.", "I am beyond frustrated.",
        "Do you even read these messages?", "What an absolute nightmare.",
        "Really impressive how you managed to lose my order. Not.",
        "Brilliant system you have, where nothing works.",
        "I'm sick of being passed from one person to the next.", "Pathetic.",
        "This is crap service.", "I regret buying anything here.",
        "You people have no idea what you're doing.", "I'm livid.",
        "How hard can it be to answer a simple question?",
        "I'm losing my patience with this company.", "Useless, completely useless.",
        "I've never been so annoyed with a shop.", "This is a total rip-off.",
        "Honestly, what a joke.", "I can't believe how badly this has been handled.",
        "I'm angry and I want this fixed.", "Disgraceful.",
        "Wow, thanks for ignoring my last three emails.",
        "I'm so disappointed I could scream.", "Shame on you.",
        "I'm done being polite about this.", "This company has gone downhill.",
        "Every single time there's a problem with you guys.", "Unbelievable.",
        "This is the last straw.", "Ugh, not again.", "Damn it, this is the second time.",
    ],
    "positive": [
        "Thank you so much!", "You folks are fantastic.", "Love the new jacket, by the way.",
        "Your team has always been brilliant.", "Huge thanks to {name} in chat yesterday.",
        "Best outdoor shop I've ever used.", "Really appreciate the quick help last time.",
        "Keep up the great work!", "The {product} was perfect on our trip.",
        "I'm a very happy customer.", "Super impressed with how fast shipping was.",
        "Cheers, you're the best!", "Absolutely delighted with my order.",
        "Thanks a million.", "You've been so helpful.", "What a great shop.",
        "I love shopping with you.", "The {product} is amazing, thank you.",
        "Your service is always excellent.", "You guys rock!",
        "Thanks for being so easy to deal with.", "I'm thrilled with the {product}.",
        "Really lovely experience so far.", "Much appreciated, as always!",
        "Wonderful customer service.", "I'm recommending you to all my friends.",
        "Honestly the best support team out there.", "So happy with everything I've bought.",
        "I appreciate you all so much.", "Brilliant, thank you!",
        "The last agent I spoke to was lovely.", "Everything arrived beautifully packed.",
        "Great prices and great people.", "Love this store :)", "You made my day.",
        "Thanks again for sorting out my last order so quickly.", "Fantastic quality.",
        "I'm really pleased.", "Such a smooth experience.", "Big fan of Northwind!",
        "Happy customer here.", "Thank you, you're always so kind.",
        "The {product} exceeded my expectations.",
    ],
    "neutral": [
        "I have a question about this.", "Please see below.", "Just checking.",
        "This is regarding my recent order.", "Following up on my request.",
        "I'd like some information.", "Here are the details.",
        "I'm writing about my account.", "See my question below.",
        "Can you confirm this for me?", "I need some help with the following.",
        "I'm contacting you about an order.", "Could you tell me how this works?",
        "Let me know what you need from me.", "I'd like to check something.",
        "This is my first time ordering.", "I'm not sure which option applies.",
        "I have the order number handy.", "I read the FAQ but wasn't sure.",
        "Please let me know.", "Two questions, actually.", "One more thing.",
        "I'm asking on behalf of my partner.", "I'd like to understand the policy.",
        "Could you check the status?", "Noted, thanks.", "For reference, I'm in Ohio.",
        "I'm using the mobile app.", "Just to clarify.", "Looking for some guidance.",
        "My question is below.", "I'm following the steps on the website.",
        "I can send a screenshot if needed.", "It's a simple question.",
        "I'm writing to ask about this.", "Let me explain the situation.",
        "Here's what I need.", "A quick query.", "I'd like to know the options.",
        "Okay, so here's the thing.", "Details are in the order history.",
    ],
}

SENTIMENT_PREFIXES = {
    "negative": ["Unbelievable:", "Seriously,", "Honestly,", "Ugh,", "For the third time:"],
    "positive": ["Good news first: I love your gear!", "Hi lovely people,",
                 "Thanks in advance, you're great:"],
    "neutral": ["Question:", "Request:", "FYI,"],
}

# The longer lists written for this script live in sample_phrases.py.
NARRATIVE += NARRATIVE_EXTRA
_CATEGORY_SETS = {"MONEY": MONEY, "ACCESS": ACCESS, "SHIPMENT": SHIPMENT}
for _label, _cues in PRIORITY_CUES_EXTRA.items():
    PRIORITY_CUES[_label] += [(text, _CATEGORY_SETS.get(fits, fits) if isinstance(fits, str) else fits)
                              for text, fits in _cues]
for _label, _cues in SENTIMENT_CUES_EXTRA.items():
    SENTIMENT_CUES[_label] += _cues

# ---------------------------------------------------------------------------------------
# Composition.

QUESTION_WORDS = ("can", "could", "how", "what", "where", "when", "is", "are", "do",
                  "does", "will", "would", "why", "which", "who", "should", "may", "wanna")


def Sentence(text, rng):
    """Tidies a Bitext request into a sentence without changing its words."""
    text = re.sub(r"\s+", " ", text).strip()
    if text and text[-1] not in ".?!":
        first = text.split(" ", 1)[0].lower()
        text += "?" if first in QUESTION_WORDS else "."
    # Real tickets are often typed in lower case; keep some of Bitext's casing as is.
    if rng.random() < 0.7:
        text = text[:1].upper() + text[1:]
    return text


def Compose(base, cue, prefix, rng, category=None):
    """Joins the parts like a ticket: an optional subject line, then the request with the
    cue at a random position, 0-3 sentences of label-neutral narrative (same odds for every
    label), an optional greeting and sign-off. Returns the text the classifier sees."""
    parts = [base] if base else []
    if rng.random() < 0.25 or not parts:
        parts.insert(rng.randint(0, len(parts)), Fill(rng.choice(CONTEXT), rng))
    for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
        parts.insert(rng.randint(0, len(parts)), Fill(rng.choice(NARRATIVE), rng))
    if cue:
        parts.insert(rng.randint(0, len(parts)), Fill(cue, rng))
    if prefix:
        first = parts[0]
        # A prefix such as "Just curious," continues the sentence, so lower-case it
        # (but never the pronoun "I").
        if prefix.endswith(",") and not re.match(r"I\b", first):
            parts[0] = first[:1].lower() + first[1:]
        parts.insert(0, prefix)
    if rng.random() < 0.3:
        parts.insert(0, rng.choice(GREETINGS))
    if rng.random() < 0.45:
        parts.append(Fill(rng.choice(SIGN_OFFS), rng))
    text = " ".join(parts)
    if rng.random() < 0.08:
        text = text.lower()
    # Tickets reach the classifier as subject + newline + description.
    if rng.random() < 0.5:
        subjects = SUBJECTS + SUBJECTS_BY_CATEGORY.get(category, [])
        text = Fill(rng.choice(subjects), rng) + "\n" + text
    return text


def SplitCues(cues):
    """Separates sentence cues from prefix cues (ending in ':' or ',' or 'but')."""
    prefixes, sentences = [], []
    for cue in cues:
        text = cue[0] if isinstance(cue, tuple) else cue
        (prefixes if text.endswith((":", ",", "but")) else sentences).append(cue)
    return sentences, prefixes


def BuildPriority(rows, rng):
    by_category = collections.defaultdict(list)
    for row in rows:
        by_category[row["category"]].append(row)
    categories = sorted(by_category)
    out, seen = [], set()
    for label in ("low", "normal", "high", "urgent"):
        sentences, prefixes = SplitCues(PRIORITY_CUES[label])
        prefixes = [(p, None) for p in PRIORITY_PREFIXES.get(label, [])] + prefixes
        made = 0
        while made < PRIORITY_ROWS_PER_LABEL:
            # The request's category is drawn first, from the same distribution for every
            # label, and the cue must fit it. Drawing the cue first and then a request that
            # fits it made payment and account requests mostly urgent, and the model then
            # read urgency from "gift card" or "account" (urgent at 98% for "can I pay with
            # two gift cards?").
            category = rng.choice(categories)
            fits = lambda cues: [c for c in cues if c[1] is None or category in c[1]]
            roll = rng.random()
            # "normal" is the absence of an urgency cue as often as it is a mild cue.
            if label == "normal" and roll < 0.45:
                cue, prefix = None, None
            elif roll < 0.8:
                cue, prefix = rng.choice(fits(sentences)), None
            else:
                cue, prefix = None, rng.choice(fits(prefixes))
            pool = by_category[category]
            if label == "low":
                pool = [r for r in pool if "W" not in r["flags"]]
            # Some urgent/high tickets are nothing but the situation itself.
            standalone = label in ("urgent", "high") and cue and rng.random() < 0.15
            row = rng.choice(pool)
            base = None if standalone else Sentence(row["text"], rng)
            text = Compose(base, cue[0] if cue else None, prefix[0] if prefix else None, rng,
                           None if standalone else category)
            if text not in seen:
                seen.add(text)
                out.append({"text": text, "label": label})
                made += 1
    rng.shuffle(out)
    return out


def BuildSentiment(rows, rng):
    profane = [r for r in rows if "W" in r["flags"]]
    # Complaint requests and profanity carry tone of their own; keep them out of the
    # neutral and positive rows so those labels stay honest.
    calm = [r for r in rows if "W" not in r["flags"] and r["label"] != "complaint"]
    out, seen = [], set()
    for label in ("negative", "neutral", "positive"):
        sentences = SENTIMENT_CUES[label]
        prefixes = SENTIMENT_PREFIXES[label]
        made = 0
        while made < SENTIMENT_ROWS_PER_LABEL:
            roll = rng.random()
            if label == "neutral" and roll < 0.45:
                cue, prefix = None, None
            elif roll < 0.85:
                cue, prefix = rng.choice(sentences), None
            else:
                cue, prefix = None, rng.choice(prefixes)
            if label == "negative" and rng.random() < 0.25:
                base_row = rng.choice(profane)
            else:
                base_row = rng.choice(calm)
            base = Sentence(base_row["text"], rng)
            text = Compose(base, cue, prefix, rng, base_row["category"])
            if text not in seen:
                seen.add(text)
                out.append({"text": text, "label": label})
                made += 1
    rng.shuffle(out)
    return out


def WriteJsonl(path, records):
    with open(path, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


def Main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bitext", type=pathlib.Path, default=DEFAULT_BITEXT)
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    with open(args.bitext, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    for row in rows:
        row["category"] = row["category"].lower()

    rng = random.Random(SEED)
    filled = collections.Counter()
    bitext = [{"text": FillPlaceholders(r["text"], rng, filled),
               "category": r["category"], "intent": r["label"]} for r in rows]
    priority = BuildPriority(rows, rng)
    sentiment = BuildSentiment(rows, rng)

    args.out.mkdir(parents=True, exist_ok=True)
    WriteJsonl(args.out / "bitext.jsonl", bitext)
    WriteJsonl(args.out / "priority.jsonl", priority)
    WriteJsonl(args.out / "sentiment.jsonl", sentiment)

    print(f"bitext.jsonl: {len(bitext)} rows, placeholders filled: {dict(filled) or 'none'}")
    for name, records, field in (("bitext.jsonl", bitext, "category"),
                                 ("priority.jsonl", priority, "label"),
                                 ("sentiment.jsonl", sentiment, "label")):
        counts = collections.Counter(r[field] for r in records)
        print(f"{name} {field}: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(Main())
