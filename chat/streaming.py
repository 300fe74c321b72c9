"""A streaming answer as blocks: what can still change is re-rendered, nothing else.

While an answer streams, its Markdown is split into blocks (paragraphs, lists, fences...). Every
block but the last is finished: rendered once, sent once. Each push re-renders only from the
first block that changed, so the cost of a push does not grow with the length of the answer.
Blocks are capped in length so that one endless paragraph cannot make pushes grow either; the
final answer is rendered whole, once, when the turn finishes.
"""

import json
import re
from dataclasses import dataclass

from chat.rendering import markdown_to_safe_html

# A block longer than this is cut at its last line break or space while it streams.
MAX_BLOCK_CHARS = 1500
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})", re.MULTILINE)


def _spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each block: split at blank lines outside code fences, capped in length."""
    spans: list[tuple[int, int]] = []
    block_start: int | None = None
    fence: str | None = None
    position = 0
    for line in text.split("\n"):
        line_end = position + len(line)
        match = _FENCE.match(line)
        if match:
            marker = match.group(1)[0] * 3
            if fence is None:
                fence = marker
            elif marker == fence:
                fence = None
        blank = line.strip() == ""
        if blank and fence is None:
            if block_start is not None:
                spans.append((block_start, position))
                block_start = None
        elif block_start is None:
            block_start = position
        position = line_end + 1
    if block_start is not None:
        spans.append((block_start, len(text)))
    capped: list[tuple[int, int]] = []
    for start, end in spans:
        while end - start > MAX_BLOCK_CHARS:
            window = text[start : start + MAX_BLOCK_CHARS]
            cut = max(window.rfind("\n"), window.rfind(" "))
            cut = start + (cut if cut > 0 else MAX_BLOCK_CHARS)
            capped.append((start, cut))
            start = cut
        capped.append((start, end))
    return capped


def split_blocks(text: str) -> list[str]:
    """The text's blocks, as a streaming answer shows them; never empty."""
    return [text[start:end].strip("\n") for start, end in _spans(text)]


def render_blocks(text: str) -> list[str]:
    """Every block rendered (page render and snapshots of a streaming answer)."""
    return [markdown_to_safe_html(block) for block in split_blocks(text)]


@dataclass
class BlockStream:
    """What a streaming answer's page already has: the finished blocks.

    Text only ever grows at the end, so a block followed by another block outside a fence is
    final. Only the unfinished tail is split and rendered at each push: a push costs the length
    of the last block, not of the answer.
    """

    finished: int = 0  # blocks sent for good
    offset: int = 0  # where the unfinished tail starts in the text

    def advance(self, text: str) -> tuple[int, list[str]]:
        """Blocks to (re)send for `text`: (index of the first, their HTML)."""
        tail = text[self.offset :]
        spans = _spans(tail)
        start = self.finished
        html = [markdown_to_safe_html(tail[a:b].strip("\n")) for a, b in spans]
        if len(spans) > 1:
            self.finished += len(spans) - 1
            self.offset += spans[-1][0]
        return start, html


def delta_frame(
    *, message_id: int, seq: int, start: int, blocks: list[str], text: str, reasoning: str
) -> str:
    """The JSON frame of one push, serialized once for every socket that receives it."""
    return json.dumps(
        {
            "type": "delta",
            "message": message_id,
            "seq": seq,
            "from": start,
            "blocks": blocks,
            "text": text,
            "reasoning": reasoning,
        },
        separators=(",", ":"),
    ).translate(_JSON_HTML_SAFE)


# As Django's json_script does: the frame holds no markup characters at all, so even a client
# that mistook it for HTML would find no tag in it (the page reads `blocks`, sanitized by nh3).
_JSON_HTML_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})
