"""Fragments rendered once per shape, then filled in: the frame of a started turn.

When hundreds of people ask at once, rendering each started turn's frame (the two new bubbles,
the new title) through Django's template engine was the largest cost before their first words:
about a millisecond of the process's one interpreter per question. Those frames differ only in
a few values: ids, the question, the title, the times. So a frame is rendered once with
stand-ins for those values (the holes), cut at the stand-ins, and then filled with each call's
values, escaped and formatted as the templates do.

The templates stay the one truth:
- the stand-in render records every attribute the templates read; a skeleton serves only
  objects that give the same value for each of them (the templates would take the same path);
- a new skeleton is kept only if it fills to exactly what the templates render, both for the
  call's own values and for awkward other ones (markup, quotes, long text, another day);
  otherwise the fragment is rendered in full from then on, with a warning in the log (a filter
  that transforms a hole, a date format not listed here).

So a hole must only be printed (or tested for being empty) by the templates: a branch on a hole's
length or content is caught only if one of the values tried falls on its other side.
"""

import copy
import enum
import itertools
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, NamedTuple

from django.conf import settings
from django.core.signals import setting_changed
from django.db.models import Manager, Model
from django.dispatch import receiver
from django.template import defaultfilters
from django.urls import get_script_prefix
from django.utils import timezone, translation
from django.utils.autoreload import file_changed
from django.utils.html import conditional_escape

logger = logging.getLogger(__name__)


class Hole(enum.Enum):
    NUMBER = "number"  # an id: printed as is (and inside URLs)
    TEXT = "text"  # a person's or a model's words: escaped
    TIME = "time"  # a datetime: through the date and time filters below


# The (filter, format) pairs the templates may apply to a TIME hole. A template using another
# makes its skeleton fail the check, and it is rendered in full.
TIME_FORMATS: tuple[tuple[str, str], ...] = (
    ("date", "c"),
    ("date", "DATETIME_FORMAT"),
    ("date", "MONTH_DAY_FORMAT"),
    ("time", "H:i"),
)
_FILTERS: dict[str, Callable[[Any, str], str]] = {
    "date": defaultfilters.date,
    "time": defaultfilters.time,
}
MAX_SKELETONS_PER_KEY = 8  # shapes of one fragment in one language and zone
MAX_KEYS = 512

# Holes of one object: attribute -> kind.
Holes = Mapping[str, Hole]
# A piece of a skeleton: literal text, or (object, attribute, time format or None).
_Piece = str | tuple[str, str, tuple[str, str] | None]


class _Unsupported(Exception):
    """This fragment cannot be made a skeleton; it is rendered in full."""


class _Reader:
    """Stands in for a model instance in a render: records what the templates read, and answers
    the holes with the values it is given."""

    def __init__(self, target: Model, holes: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_holes", holes)
        object.__setattr__(self, "_reads", {})
        object.__setattr__(self, "_refused", None)

    def __getattr__(self, name: str) -> Any:
        holes: Mapping[str, Any] = object.__getattribute__(self, "_holes")
        if name in holes:
            return holes[name]
        value = getattr(object.__getattribute__(self, "_target"), name)
        if callable(value) or isinstance(value, Model | Manager):
            # A method or a related object could read anything: not recorded, not supported.
            # Kept on the reader too: `{% if %}` swallows any exception of its operands.
            refused = _Unsupported(f"the templates read {name!r}, which is not a plain value")
            object.__setattr__(self, "_refused", refused)
            raise refused
        # A copy: a dict read now (usage) may be changed in place later by the turn.
        object.__getattribute__(self, "_reads")[name] = copy.deepcopy(value)
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        raise _Unsupported(f"the templates set {name!r}")


@dataclass(frozen=True)
class _Skeleton:
    reads: dict[str, dict[str, Any]]  # object -> attribute -> value read by the templates
    pieces: tuple[_Piece, ...]

    def serves(self, objects: Mapping[str, Any]) -> bool:
        return all(
            getattr(objects[name], attribute) == value
            for name, read in self.reads.items()
            for attribute, value in read.items()
        )

    def fill(
        self,
        objects: Mapping[str, Any],
        holes: Mapping[str, Holes],
        locale: "_Locale | None" = None,
    ) -> str:
        locale = locale or _locale()
        out: list[str] = []
        # A value printed several times (an id in each of its attributes, a time as machine
        # and human text) is escaped and formatted once: 33 holes, 6 values in a turn's frame.
        printed: dict[_Piece, str] = {}
        for piece in self.pieces:
            if isinstance(piece, str):
                out.append(piece)
                continue
            html = printed.get(piece)
            if html is None:
                name, attribute, time_format = piece
                value = getattr(objects[name], attribute)
                kind = holes[name][attribute]
                html = printed[piece] = _hole_html(kind, value, time_format, locale)
            out.append(html)
        return "".join(out)


class _Locale(NamedTuple):
    """What a printed time depends on: the active language and time zone, read once per fill
    (each read is a context-local lookup; once per printed time they were a fifth of a fill)."""

    language: str
    zone: tzinfo


def _locale() -> _Locale:
    return _Locale(translation.get_language(), timezone.get_current_timezone())


def _hole_html(kind: Hole, value: Any, time_format: tuple[str, str] | None, locale: _Locale) -> str:
    if kind is Hole.TIME:
        assert time_format is not None
        # Escaped as the template escapes a filter's output.
        return str(conditional_escape(_time_html(value, time_format, locale)))
    if kind is Hole.TEXT:
        return str(conditional_escape(value))
    return str(value)


def _time_html(value: datetime, time_format: tuple[str, str], locale: _Locale) -> str:
    """As `{{ value|date:format }}` (or `|time:`) prints it in the active language and zone.

    Formatting is most of a fill's cost, and the times of a turn's frame fall in the same
    minute: a format that prints nothing finer than the minute is kept per minute, any other
    per moment (the questions started together share theirs: `chat.batch_writes`)."""
    moment = (*locale, time_format, value)
    printed = _printed.get(moment)
    if printed is not None:
        return printed
    filter_name, argument = time_format
    local = _local_time(value, locale.zone)
    by_minute = None
    if _minute_precise(locale.language, time_format):
        by_minute = (*locale, time_format, local.replace(second=0, microsecond=0))
        printed = _printed.get(by_minute)
    if printed is None:
        printed = str(_FILTERS[filter_name](local, argument))
    if len(_printed) >= MAX_KEYS:
        _printed.clear()
    _printed[moment] = printed
    if by_minute is not None:
        _printed[by_minute] = printed
    return printed


def _local_time(value: datetime, zone: tzinfo) -> datetime:
    """As the templates' `template_localtime`, in `zone`."""
    if (
        settings.USE_TZ
        and not timezone.is_naive(value)
        and getattr(value, "convert_to_local_time", True)
    ):
        return value.astimezone(zone)
    return value


_printed: dict[tuple[Any, ...], str] = {}
_minute_formats: dict[tuple[str, tuple[str, str]], bool] = {}


def _minute_precise(language: str, time_format: tuple[str, str]) -> bool:
    """Whether the format prints the same for any two moments of one minute (it prints no
    seconds, no fraction, no timestamp)."""
    known = _minute_formats.get((language, time_format))
    if known is None:
        filter_name, argument = time_format
        early = datetime(2003, 4, 5, 6, 7, 1, 100_000, tzinfo=UTC)
        late = early.replace(second=58, microsecond=987_654)
        print_ = _FILTERS[filter_name]
        known = _minute_formats[(language, time_format)] = print_(early, argument) == print_(
            late, argument
        )
    return known


# Stand-ins: values no template holds, whose printed forms are distinct from each other.
def _stand_in(kind: Hole, index: int) -> Any:
    if kind is Hole.NUMBER:
        return 970_000_000 + 1_001 * (index + 1)
    if kind is Hole.TEXT:
        return f"\ue000stand-in-{index}\ue001"
    return datetime(
        2003 + index,
        1 + index % 12,
        3 + index % 20,
        5 + index % 12,
        7 + index,
        11,
        130_000 + index,
        tzinfo=UTC,
    )


# Awkward values to check a skeleton with: every escaped character, line breaks, long text,
# a large id, another year, a time of the day a summer clock change skips in Europe.
def _awkward(kind: Hole, index: int) -> Any:
    if kind is Hole.NUMBER:
        return 123_456_789 + index
    if kind is Hole.TEXT:
        return f"<b>\"Q{index}\" & 'R'</b>\nline two\n\n" + "long words " * 40
    return datetime(2024, 3, 31, 1, 30 + index, 59, 999_999, tzinfo=UTC)


_skeletons: dict[tuple[Any, ...], list[_Skeleton]] = {}
# Keys a skeleton could not be made for (a branch the check refused): no more attempts; the
# skeletons made for their other shapes keep serving those.
_in_full: set[tuple[Any, ...]] = set()


def render(
    name: str,
    template: Callable[[Mapping[str, Any]], str],
    objects: Mapping[str, Any],
    holes: Mapping[str, Holes],
    *,
    shape: tuple[Any, ...] = (),
) -> str:
    """`template(objects)`, from a skeleton when one serves these objects.

    `holes` says, per object, which attributes are holes; one that is empty or None is not
    (the templates may test it) and is compared like any other read. `shape` holds whatever
    else `template` depends on (flags of the call)."""
    open_holes = {
        object_name: {
            attribute: kind
            for attribute, kind in object_holes.items()
            if getattr(objects[object_name], attribute) not in (None, "")
        }
        for object_name, object_holes in holes.items()
    }
    locale = _locale()
    key = (
        name,
        shape,
        *locale,
        get_script_prefix(),  # in every {% url %}
        tuple((n, tuple(sorted(h))) for n, h in sorted(open_holes.items())),
    )
    known = _skeletons.get(key, [])
    for skeleton in known:
        if skeleton.serves(objects):
            return skeleton.fill(objects, open_holes, locale)
    html = template(objects)
    if key not in _in_full and len(known) < MAX_SKELETONS_PER_KEY:
        try:
            skeleton = _build(template, objects, open_holes, html)
        except _Unsupported as why:
            logger.warning("Fragment %s is rendered in full: %s", name, why)
            _remember_in_full(key)
        except Exception:  # a template that fails on stand-ins: in full, as before
            logger.exception("Fragment %s is rendered in full", name)
            _remember_in_full(key)
        else:
            _remember(key, [*known, skeleton])
    return html


@receiver(setting_changed)
@receiver(file_changed)
def _forget_all(**kwargs: Any) -> None:
    """Settings shape what the templates print (formats, URLs, static files), and a template
    edited under the development server is reloaded without a restart: either makes every
    skeleton and printed time stale."""
    _skeletons.clear()
    _in_full.clear()
    _printed.clear()
    _minute_formats.clear()


def _remember(key: tuple[Any, ...], skeletons: list[_Skeleton]) -> None:
    if len(_skeletons) >= MAX_KEYS and key not in _skeletons:
        _skeletons.clear()
    _skeletons[key] = skeletons


def _remember_in_full(key: tuple[Any, ...]) -> None:
    if len(_in_full) >= MAX_KEYS:
        _in_full.clear()
    _in_full.add(key)


def _build(
    template: Callable[[Mapping[str, Any]], str],
    objects: Mapping[str, Any],
    holes: Mapping[str, Holes],
    html: str,
) -> _Skeleton:
    counter = itertools.count()
    stand_ins: dict[str, dict[str, Any]] = {}
    awkward: dict[str, dict[str, Any]] = {}
    for object_name, object_holes in holes.items():
        for attribute, kind in object_holes.items():
            index = next(counter)
            stand_ins.setdefault(object_name, {})[attribute] = _stand_in(kind, index)
            awkward.setdefault(object_name, {})[attribute] = _awkward(kind, index)

    readers = {n: _Reader(o, stand_ins.get(n, {})) for n, o in objects.items()}
    pieces = _cut(_render_reading(template, readers), stand_ins, holes)
    reads = {n: dict(object.__getattribute__(r, "_reads")) for n, r in readers.items()}
    skeleton = _Skeleton({n: read for n, read in reads.items() if read}, pieces)

    if skeleton.fill(objects, holes) != html:
        raise _Unsupported("its skeleton does not fill to the same HTML for this call")
    checkers = {n: _Reader(o, awkward.get(n, {})) for n, o in objects.items()}
    checked = _render_reading(template, checkers)
    if any(object.__getattribute__(r, "_reads") != reads[n] for n, r in checkers.items()):
        raise _Unsupported("the templates read other attributes for other values")
    if skeleton.fill(checkers, holes) != checked:
        raise _Unsupported("its skeleton does not fill to the same HTML for other values")
    return skeleton


def _render_reading(template: Callable[[Mapping[str, Any]], str], readers: dict[str, Any]) -> str:
    html = template(readers)
    for reader in readers.values():
        refused = object.__getattribute__(reader, "_refused")
        if refused is not None:
            raise refused
    return html


def _cut(
    html: str, stand_ins: Mapping[str, Mapping[str, Any]], holes: Mapping[str, Holes]
) -> tuple[_Piece, ...]:
    """The stand-in render cut at each stand-in's printed forms."""
    locale = _locale()
    tokens: dict[str, tuple[str, str, tuple[str, str] | None]] = {}
    for object_name, values in stand_ins.items():
        for attribute, value in values.items():
            kind = holes[object_name][attribute]
            formats = TIME_FORMATS if kind is Hole.TIME else (None,)
            for time_format in formats:
                token = _hole_html(kind, value, time_format, locale)
                if token in tokens:
                    raise _Unsupported(f"two holes print as {token!r}")
                tokens[token] = (object_name, attribute, time_format)
    if not tokens:
        return (html,)
    # Longest first: a time printed with its date holds the same time printed alone.
    pattern = re.compile("|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True)))
    pieces: list[_Piece] = []
    position = 0
    for match in pattern.finditer(html):
        if match.start() > position:
            pieces.append(html[position : match.start()])
        pieces.append(tokens[match.group()])
        position = match.end()
    if position < len(html):
        pieces.append(html[position:])
    return tuple(pieces)
