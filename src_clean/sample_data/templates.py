"""Headline and body templates for synthetic financial news (fictional companies and brokers).

Positive stories use clear positive finance words (surge, rally, beats estimates, record
profit, strong, upgrade, gains, growth), negative ones clear negative words (plunge, slump,
misses, loss, weak, downgrade, layoffs, fraud, recession fears) so a lexicon scorer (VADER
plus Loughran-McDonald) can recover the planted sentiment; neutral stories are factual
announcements. A few use negation ("does not expect a recession", "fails to meet targets").
Placeholders are filled by ``news._fields``.
"""

from __future__ import annotations

from typing import NamedTuple


class Story(NamedTuple):
    """A headline template and the body's lead sentence template."""

    headline: str
    lead: str


POSITIVE = (
    Story(
        "{company} shares surge after earnings beat estimates",
        "{company} ({ticker}) reported quarterly earnings of ${eps:.2f} per share, topping "
        "analyst estimates by {pct}%, as strong revenue growth accelerated to {pct2}%.",
    ),
    Story(
        "{company} posts record profit on strong {sector} demand",
        "{company} said net profit rose {pct}% to a record ${amount} billion as strong demand "
        "in {sector} boosted sales.",
    ),
    Story(
        "{broker} upgrades {company} to buy, citing strong growth",
        "Analysts at {broker} upgraded {company} ({ticker}) to buy and raised their price "
        "target by {pct}%, citing improving margins and strong growth.",
    ),
    Story(
        "{company} raises full-year outlook after strong quarter",
        "{company} raised its full-year revenue guidance to ${amount} billion, above "
        "expectations, citing strong growth, and announced a ${buyback} billion buyback.",
    ),
    Story(
        "{company} wins ${amount} billion order, shares jump",
        "{company} ({ticker}) won a ${amount} billion order, a major boost to its backlog, "
        "and its shares gained {pct}% in premarket trading.",
    ),
    Story(
        "Stocks rally as inflation cools more than expected",
        "Consumer prices rose just {small:.1f}% in {month}, better than forecast, boosting "
        "optimism about growth and lifting the S&P 500 to strong gains.",
    ),
    Story(
        "Payrolls beat forecasts as hiring stays strong",
        "The U.S. economy added {jobs},000 jobs in {month}, well above expectations, a strong "
        "gain that points to solid growth.",
    ),
    Story(
        "Fed chair does not expect a recession; stocks extend gains",
        "The Federal Reserve chair said policymakers do not expect a recession, and stocks "
        "extended their rally on optimism about strong growth.",
    ),
)

NEGATIVE = (
    Story(
        "{company} stock plunges after earnings miss estimates",
        "{company} ({ticker}) reported quarterly earnings of ${eps:.2f} per share, missing "
        "analyst estimates by {pct}%, as revenue declined on weak demand.",
    ),
    Story(
        "{company} swings to a loss, cuts outlook on weak demand",
        "{company} reported a net loss of ${amount} billion and cut its outlook, blaming weak "
        "demand in {sector}.",
    ),
    Story(
        "{broker} downgrades {company} on weak guidance",
        "Analysts at {broker} downgraded {company} ({ticker}) to sell and cut their price "
        "target by {pct}%, warning of weak margins and falling sales.",
    ),
    Story(
        "{company} announces {layoffs} layoffs as sales slump",
        "{company} will cut {layoffs} jobs, about {pct}% of its workforce, after sales slumped "
        "on weak demand for a third consecutive quarter.",
    ),
    Story(
        "{company} faces fraud investigation; stock tumbles",
        "Regulators opened a fraud investigation into accounting at {company}, and its stock "
        "tumbled {pct}% on concerns about restated losses.",
    ),
    Story(
        "{company} fails to meet targets as costs climb",
        "{company} ({ticker}) failed to meet its sales targets as rising costs hurt margins, "
        "and it warned of further weakness.",
    ),
    Story(
        "Stocks slump as recession fears mount",
        "Stocks fell sharply as weak manufacturing data deepened recession fears, and the "
        "S&P 500 suffered its worst loss in weeks.",
    ),
    Story(
        "Inflation unexpectedly accelerates; stocks fall on rate worries",
        "Consumer prices rose {small:.1f}% in {month}, worse than forecast, raising fears of "
        "further rate hikes and hurting stocks.",
    ),
)

NEUTRAL = (
    Story(
        "{company} to report {quarter} results on {weekday}",
        "{company} ({ticker}) said it will release its {quarter} results on {weekday} after "
        "the market close and hold a conference call with analysts.",
    ),
    Story(
        "{company} schedules annual shareholder meeting",
        "{company} announced that its annual shareholder meeting will take place on "
        "{next_month} {day} in {city}.",
    ),
    Story(
        "{company} files quarterly report with the SEC",
        "{company} ({ticker}) filed its quarterly report on Form 10-Q with the SEC on "
        "{weekday}, the company said.",
    ),
    Story(
        "Fed announces date of next policy meeting",
        "The Federal Reserve published its calendar, with the next policy meeting scheduled "
        "for {next_month} {day}.",
    ),
    Story(
        "{company} to hold investor conference in {city}",
        "{company} executives will hold an investor conference in {city} on {weekday}, the "
        "company said in a statement.",
    ),
    Story(
        "{company} names new chief financial officer",
        "{company} ({ticker}) appointed a new chief financial officer, starting {next_month} "
        "{day}, the company said in a filing.",
    ),
    Story(
        "Labor Department to release {month} jobs report on Friday",
        "The Labor Department will publish the {month} employment report on Friday at 8:30 "
        "a.m. Eastern time.",
    ),
)

STORIES = {1: POSITIVE, -1: NEGATIVE, 0: NEUTRAL}

CONTEXT = {
    1: (
        "Investors welcomed the news, and confidence improved across the market.",
        "Traders said the report strengthens the case for further gains.",
        "Strategists said the outlook for earnings growth has improved.",
    ),
    -1: (
        "Investors reacted with concern, and worries about losses spread across the market.",
        "Traders said the report adds to worries about a slowdown.",
        "Strategists warned that earnings could weaken further.",
    ),
    0: (
        "The announcement follows the usual schedule.",
        "Details were published in a regulatory filing.",
        "A spokesperson confirmed the announcement.",
    ),
}

COMPANIES = (
    ("Northwind Semiconductor", "NWSC", "chips"),
    ("Bluefield Oil & Gas", "BFOG", "oil and gas"),
    ("Harborview Bank", "HVBK", "banking"),
    ("Crestline Pharmaceuticals", "CRPH", "pharmaceuticals"),
    ("Summit Retail Group", "SMRG", "retail"),
    ("Ironclad Industries", "IRCL", "industrial equipment"),
    ("Lumen Cloud Systems", "LMCS", "cloud software"),
    ("Redwood Motors", "RWDM", "electric vehicles"),
    ("Silverline Airlines", "SLAL", "air travel"),
    ("Greenway Foods", "GWFD", "packaged foods"),
    ("Pinnacle Health", "PNHL", "health insurance"),
    ("Atlas Aerospace", "ATAS", "aerospace"),
    ("Meridian Telecom", "MRTC", "wireless services"),
    ("Cobalt Mining", "CBMN", "metals"),
    ("Beacon Media", "BCMD", "streaming"),
    ("Keystone Payments", "KSPY", "digital payments"),
    ("Evergreen Utilities", "EVUT", "power generation"),
    ("Vertex Biotech", "VXBT", "biotech"),
)

BROKERS = ("Halden Partners", "Marlow & Co", "Eastgate Capital", "Tidewater Research")
CITIES = ("New York", "Chicago", "San Francisco", "Boston", "Dallas", "Seattle", "Atlanta")
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
QUARTERS = ("first-quarter", "second-quarter", "third-quarter", "fourth-quarter")
SOURCES = (
    "marketwire.example.com",
    "financialdaily.example.com",
    "streetledger.example.com",
    "capitaltimes.example.com",
)
