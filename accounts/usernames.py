"""Look-alike usernames: `d\u0435mo` (a Cyrillic e) must not pass for `demo`."""

import json
import unicodedata
from functools import cache
from importlib import resources

from django.contrib.auth import get_user_model


@cache
def _to_ascii() -> dict[str, str]:
    """Each non-ASCII character that Unicode lists (UTS #39 confusables) as looking like an ASCII
    letter or digit, mapped to that character, lower-cased."""
    data = json.loads(
        resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8")
    )
    mapping: dict[str, str] = {}
    for char, glyphs in data.items():
        if len(char) != 1 or char.isascii():
            continue
        for glyph in glyphs:
            target = glyph["c"]
            if len(target) == 1 and target.isascii() and target.isalnum():
                mapping[char] = target.lower()
                break
    return mapping


def username_normalize(username: str) -> str:
    """NFKC, as Django stores usernames (full-width `\uff44\uff45\uff4d\uff4f` is `demo`)."""
    return unicodedata.normalize("NFKC", username)


def username_skeleton(username: str) -> str:
    """What the name looks like: NFKC, case-folded, look-alikes of ASCII letters as ASCII."""
    folded = username_normalize(username).casefold()
    table = _to_ascii()
    return "".join(table.get(char, char) for char in folded)


def username_lookalike_exists(*, username: str) -> bool:
    """Whether an account already has a name that looks the same (ignoring case)."""
    from accounts.models import UsernameSkeleton

    skeleton = username_skeleton(username)
    if UsernameSkeleton.objects.filter(skeleton=skeleton).exists():
        return True
    # Accounts made before the skeletons were kept, or the same name in another case.
    return get_user_model().objects.filter(username__iexact=skeleton).exists()
