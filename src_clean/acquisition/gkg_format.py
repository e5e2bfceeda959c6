"""GDELT 2.0 Global Knowledge Graph (GKG 2.1) files: the master file list and the rows.

Formats as GDELT documents them ("GDELT Global Knowledge Graph Codebook V2.1", and
http://data.gdeltproject.org/gdeltv2/masterfilelist.txt):

* ``masterfilelist.txt``: one line per file, ``<size bytes> <md5 hex> <url>``; the GKG
  files are ``.../gdeltv2/<YYYYMMDDHHMMSS>.gkg.csv.zip``, one every 15 minutes since
  2015-02-18 23:00 UTC (a few batches are missing, and a few lines are malformed).
* A GKG file is a zip holding one tab-separated file, no header, 27 columns per row
  (``COLUMNS``). ``V2.1DATE`` is the batch time; ``V1.5TONE`` is comma-separated (tone
  first); ``V2EXTRASXML`` may hold ``<PAGE_TITLE>`` and ``<PAGE_PRECISEPUBTIMESTAMP>``;
  themes and organisations are ``;``-separated (themes with ``,offset`` in the enhanced
  columns, which this reader does not need). ``V2SOURCECOLLECTIONIDENTIFIER`` 1 is the
  open web, whose ``V2DOCUMENTIDENTIFIER`` is the article URL. The main stream is English
  sources only (translated ones are a separate ``translation`` stream, not read here).

Rows are read one at a time: a file is never held decoded in memory.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

COLUMNS = (
    "GKGRECORDID",
    "V2.1DATE",
    "V2SOURCECOLLECTIONIDENTIFIER",
    "V2SOURCECOMMONNAME",
    "V2DOCUMENTIDENTIFIER",
    "V1COUNTS",
    "V2.1COUNTS",
    "V1THEMES",
    "V2ENHANCEDTHEMES",
    "V1LOCATIONS",
    "V2ENHANCEDLOCATIONS",
    "V1PERSONS",
    "V2ENHANCEDPERSONS",
    "V1ORGANIZATIONS",
    "V2ENHANCEDORGANIZATIONS",
    "V1.5TONE",
    "V2.1ENHANCEDDATES",
    "V2GCAM",
    "V2.1SHARINGIMAGE",
    "V2.1RELATEDIMAGES",
    "V2.1SOCIALIMAGEEMBEDS",
    "V2.1SOCIALVIDEOEMBEDS",
    "V2.1QUOTATIONS",
    "V2.1ALLNAMES",
    "V2.1AMOUNTS",
    "V2.1TRANSLATIONINFO",
    "V2EXTRASXML",
)
_COL = {name: i for i, name in enumerate(COLUMNS)}
WEB = "1"
STAMP = "%Y%m%d%H%M%S"
BATCH = dt.timedelta(minutes=15)
FIRST_BATCH = dt.datetime(2015, 2, 18, 23, 0, tzinfo=dt.UTC)
_GKG_URL = re.compile(r"/(\d{14})\.gkg\.csv\.zip$")
_TITLE = re.compile(r"<PAGE_TITLE>(.*?)</PAGE_TITLE>", re.S)
TONE_LIMIT = 100.0  # GDELT's tone scale is -100..+100
EARLIEST_PUBLISHED = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)  # before: not a real time
_PRECISE = re.compile(r"<PAGE_PRECISEPUBTIMESTAMP>(\d{14})</PAGE_PRECISEPUBTIMESTAMP>")

# US market news: GDELT themes (GKG theme list) and S&P 500 bellwethers as GKG names them
DEFAULT_THEMES = ("ECON_STOCKMARKET", "ECON_INTEREST_RATES", "ECON_CENTRALBANK", "ECON_INFLATION")
DEFAULT_ORGANIZATIONS = (
    "federal reserve",
    "new york stock exchange",
    "nasdaq",
    "standard poor",
    "apple",
    "microsoft",
    "amazon",
    "alphabet",
    "nvidia",
    "jpmorgan chase",
)


@dataclass(frozen=True)
class MasterEntry:
    """One GKG file of the master list: its batch time, size, MD5 and URL."""

    batch: dt.datetime
    size: int
    md5: str
    url: str


GDELT_HOST = "gdeltproject.org"
_MD5 = re.compile(r"[0-9a-fA-F]{32}")


def parse_master_list(
    lines: Iterable[str], hosts: Iterable[str] = (), malformed: list[str] | None = None
) -> Iterator[MasterEntry]:
    """The GKG entries of ``masterfilelist.txt``; other files are skipped, and so is a GKG
    line that is malformed (not ``<size> <md5> <url>``, a batch time that is no time, a URL
    that is not http(s) on GDELT's host or one of ``hosts``), each appended to
    ``malformed`` when given. A bad line never stops the list."""
    allowed = {host.lower() for host in hosts}
    for line in lines:
        if ".gkg.csv.zip" not in line:
            continue
        problem = _master_line_problem(line.split(), allowed)
        if problem is not None:
            if malformed is not None:
                malformed.append(f"{problem}: {line.strip()[:200]}")
            continue
        size, md5, url = line.split()
        batch = _time(_GKG_URL.search(url).group(1))
        yield MasterEntry(batch, int(size), md5.lower(), url)  # type: ignore[arg-type]


def _master_line_problem(parts: list[str], hosts: set[str]) -> str | None:
    from urllib.parse import urlsplit

    if len(parts) != 3:
        return f"{len(parts)} fields, not 3"
    size, md5, url = parts
    if not size.isdigit():
        return "size is not a number"
    if not _MD5.fullmatch(md5):
        return "MD5 is not 32 hex digits"
    address = urlsplit(url)
    host = (address.hostname or "").lower()
    if address.scheme not in ("http", "https"):
        return f"not an http(s) URL ({address.scheme or 'no scheme'})"
    if not (host == GDELT_HOST or host.endswith("." + GDELT_HOST) or host in hosts):
        return f"host {host or '?'} is not GDELT's"
    found = _GKG_URL.search(url)
    if found is None or _time(found.group(1)) is None:
        return "the batch time in the file name is no time"
    return None


@dataclass(frozen=True)
class GkgFilter:
    """Which rows are kept: web articles with any of ``themes`` (V1THEMES, exact) or any
    of ``organizations`` (V1ORGANIZATIONS, lower-case, exact). Empty both: every row."""

    themes: tuple[str, ...] = DEFAULT_THEMES
    organizations: tuple[str, ...] = DEFAULT_ORGANIZATIONS
    _themes: frozenset[str] = field(init=False, repr=False, compare=False)
    _orgs: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_themes", frozenset(self.themes))
        object.__setattr__(self, "_orgs", frozenset(o.lower() for o in self.organizations))

    def keeps(self, themes: str, organizations: str) -> bool:
        if not self._themes and not self._orgs:
            return True
        if self._themes and not self._themes.isdisjoint(themes.split(";")):
            return True
        return bool(self._orgs) and not self._orgs.isdisjoint(organizations.split(";"))


@dataclass
class RowCounts:
    """What reading one file found: rows, kept, not web, malformed, and the kept rows
    cleaned at the edge: a tone nulled (not finite or outside -100..100), a publication
    time replaced by the batch time (implausible: before 1990 or unreadable)."""

    rows: int = 0
    kept: int = 0
    not_web: int = 0
    malformed: int = 0
    tone_nulled: int = 0
    time_from_batch: int = 0

    def add(self, other: RowCounts) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def _time(stamp: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(stamp, STAMP).replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rows(
    lines: Iterable[str], batch: dt.datetime, keep: GkgFilter, counts: RowCounts
) -> Iterator[dict[str, object]]:
    """The kept articles of one GKG file's ``lines``, as landing records.

    ``available_at`` is the batch time (when GDELT published the row); ``published_at`` is
    ``<PAGE_PRECISEPUBTIMESTAMP>`` when present and not after the batch, else the batch
    time; ``gdelt_tone`` is V1.5TONE's first value.
    """
    for line in lines:
        counts.rows += 1
        cells = line.rstrip("\r\n").split("\t")
        if len(cells) != len(COLUMNS):
            counts.malformed += 1
            continue
        if cells[_COL["V2SOURCECOLLECTIONIDENTIFIER"]] != WEB:
            counts.not_web += 1
            continue
        if not keep.keeps(cells[_COL["V1THEMES"]], cells[_COL["V1ORGANIZATIONS"]]):
            continue
        url = cells[_COL["V2DOCUMENTIDENTIFIER"]]
        if not url.startswith(("http://", "https://")):
            counts.malformed += 1
            continue
        extras = cells[_COL["V2EXTRASXML"]]
        title = _TITLE.search(extras)
        precise = _PRECISE.search(extras)
        published = _time(precise.group(1)) if precise else None
        if precise and (published is None or published < EARLIEST_PUBLISHED):
            counts.time_from_batch += 1  # 00010101000000 and the like: not a time
            published = None
        if published is None or published > batch:
            published = batch
        tone = _tone(cells[_COL["V1.5TONE"]].split(",", 1)[0])
        if tone is None and cells[_COL["V1.5TONE"]].strip():
            counts.tone_nulled += 1
        counts.kept += 1
        yield {
            "url": url,
            "title": html.unescape(title.group(1)).strip() if title else None,
            "domain": cells[_COL["V2SOURCECOMMONNAME"]],
            "published_at": _iso(published),
            "available_at": _iso(batch),
            "gdelt_tone": tone,
            "gkg_record_id": cells[_COL["GKGRECORDID"]],
            "language": "en",
        }


def _tone(text: str) -> float | None:
    """V1.5TONE's first value; None unless a finite number in GDELT's -100..100 (nan,
    1e999 and the like would land as bare NaN/Infinity, which bronze then quarantines)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and -TONE_LIMIT <= value <= TONE_LIMIT else None
