"""Read a Markdown runbook into sections and the sentences to check.

Understood Markdown: ATX headings (`#`..`######`), bulleted (`-`, `*`, `+`) and numbered (`1.`,
`1)`) list items with continuation lines, paragraphs, fenced code blocks (``` or ~~~), inline
code and bold, links, block quotes and tables (both ignored), and HTML comments used as
directives: `<!-- scenarios: mdm-scope-none, intune-license-missing -->` (which scenarios a
troubleshooting section is checked against) and `<!-- runbook: skip -->` (ignore the section).

A paragraph or list item that ends with ":" and is followed by a fenced block takes the block as
its object: "Open PowerShell and run:" + ```dsregcmd /status``` is one step; "Look for:" + lines
makes one check per line; list items under a "Look for:" / "Expected:" lead-in are checks too.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
LIST_ITEM = re.compile(r"^(\s*)(?:[-*+]|(\d+)[.)])\s+(.*)$")
FENCE = re.compile(r"^\s*(```|~~~)")
COMMENT = re.compile(r"<!--(.*?)-->", re.S)
EXPECT_LEADIN = re.compile(r"^(?:look for|expected(?: output| result)?|you should see|check for|verify)\s*:?\s*$",
                           re.I)


@dataclass
class Block:
    """One list item, paragraph or code block."""

    kind: str                 # item | para | code
    text: str
    line: int
    indent: int = 0
    numbered: bool = False
    code: list[str] = field(default_factory=list)


@dataclass
class Sentence:
    """One step to check: the normalised text (what the mapper sees), the source line, and the
    alternatives to try when the first reading is not understood."""

    text: str
    line: int
    source: str
    alternatives: list[str] = field(default_factory=list)
    list_item: bool = False
    optional: bool = False
    #: Index of the top-level numbered item it belongs to (troubleshooting issues without headings).
    group: int | None = None


@dataclass
class Section:
    title: str
    level: int
    line: int
    blocks: list[Block] = field(default_factory=list)
    directives: dict[str, str] = field(default_factory=dict)
    parent: Section | None = None

    @property
    def path(self) -> str:
        parent = self.parent
        while parent is not None and parent.level <= 1:    # the document title is not repeated
            parent = parent.parent
        return f"{parent.path} > {self.title}" if parent else self.title


@dataclass
class Runbook:
    title: str
    sections: list[Section]


def parse(text: str) -> Runbook:
    lines = text.splitlines()
    root = Section("(top)", 0, 1)
    sections = [root]
    stack = [root]
    para: list[str] = []
    para_line = 0
    i = 0

    def flush_para() -> None:
        nonlocal para
        if para:
            stack[-1].blocks.append(Block("para", " ".join(s.strip() for s in para), para_line))
            para = []

    while i < len(lines):
        raw = lines[i]
        lineno = i + 1
        # HTML comments (may span lines): directives
        if "<!--" in raw:
            j = i
            chunk = raw
            while "-->" not in chunk and j + 1 < len(lines):
                j += 1
                chunk += "\n" + lines[j]
            for body in COMMENT.findall(chunk):
                m = re.match(r"\s*(scenarios?|runbook)\s*:\s*(.*?)\s*$", body, re.S | re.I)
                if m:
                    stack[-1].directives[m.group(1).lower().rstrip("s") + ("s" if m.group(1).lower().startswith(
                        "scenario") else "")] = m.group(2)
            rest = COMMENT.sub("", chunk).strip()
            i = j + 1
            if not rest:
                continue
            raw = rest
        if FENCE.match(raw):
            flush_para()
            fence = FENCE.match(raw).group(1)
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(fence):
                body.append(lines[i])
                i += 1
            stack[-1].blocks.append(Block("code", "\n".join(body), lineno, code=[b for b in body if b.strip()]))
            i += 1
            continue
        m = HEADING.match(raw)
        if m:
            flush_para()
            level = len(m.group(1))
            while stack[-1].level >= level and len(stack) > 1:
                stack.pop()
            sec = Section(_inline(m.group(2), quote=False), level, lineno, parent=stack[-1] if stack[-1] is not root
                          else None)
            sections.append(sec)
            stack.append(sec)
            i += 1
            continue
        if not raw.strip():
            flush_para()
            i += 1
            continue
        if raw.lstrip().startswith(("|", ">")):
            flush_para()
            i += 1
            continue
        m = LIST_ITEM.match(raw)
        if m:
            flush_para()
            indent = len(m.group(1).expandtabs(4))
            body = [m.group(3)]
            i += 1
            while i < len(lines) and lines[i].strip() and not LIST_ITEM.match(lines[i]) \
                    and not HEADING.match(lines[i]) and not FENCE.match(lines[i]) \
                    and (lines[i].startswith((" ", "\t")) or not lines[i].lstrip().startswith(("|", ">"))):
                body.append(lines[i].strip())
                i += 1
            stack[-1].blocks.append(Block("item", " ".join(body), lineno, indent=indent,
                                          numbered=m.group(2) is not None))
            continue
        if not para:
            para_line = lineno
        para.append(raw)
        i += 1
    flush_para()
    title = next((s.title for s in sections if s.level == 1), "")
    return Runbook(title, [s for s in sections if s.blocks or s is not root])


# -- sentences ---------------------------------------------------------------------------------------

SMART = {"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'", "\u2013": "-", "\u2014": "-", "\u00a0": " "}
PLACEHOLDER = re.compile(r"\s*\((?:for example|for instance|e\.g\.|such as|like)[,:]?\s[^)]*\)"
                         r"|\s*\(\s*\"?[\w.+-]+@[\w.-]+\"?\s*\)", re.I)
LEADING = re.compile(r"^(?:then|and|next|finally|now|after that|afterwards|once done|first)\s*,?\s+", re.I)
SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"`*])|;\s+|,?\s+then\s+(?=[a-z])|\s+and (?=(?:look for|check|verify|"
                   r"expect|confirm)\b)", re.I)


def _inline(text: str, quote: bool = True) -> str:
    for k, v in SMART.items():
        text = text.replace(k, v)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)            # links / images -> text
    q = '"' if quote else ""
    text = re.sub(r"\*\*(.+?)\*\*|__(.+?)__", lambda m: q + (m.group(1) or m.group(2)) + q, text)
    text = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?!\w)", r"\1", text)
    text = re.sub(r"(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)", r"\1", text)
    text = re.sub(r"`([^`]+)`", lambda m: q + m.group(1) + q, text)
    return re.sub(r"\s+", " ", text).strip()


def normalise(sentence: str) -> str:
    s = PLACEHOLDER.sub("", sentence)
    s = s.strip().rstrip(".:!").strip()
    prev = None
    while prev != s:
        prev = s
        s = LEADING.sub("", s)
    return s.strip()


def split_sentences(text: str) -> list[str]:
    text = _inline(text)
    # protect dots inside quotes ("portal.office.com") and common abbreviations
    parts = [p for p in SPLIT.split(text) if p and p.strip()]
    return [normalise(p) for p in parts if normalise(p)]


def sentences(section: Section, *, trouble: bool = False) -> list[Sentence]:
    """The section's steps, in order. In a troubleshooting section (`trouble`), a top-level
    numbered item followed by bullets is an issue title ("1) You cannot join this device")."""
    out: list[Sentence] = []
    blocks = section.blocks
    lead_in: str | None = None       # "look for" / "run" lead-in that applies to the next blocks
    lead_indent = -1
    optional = False
    group: int | None = None
    group_count = -1
    for bi, b in enumerate(blocks):
        if b.kind == "code":
            for k, ln in enumerate(b.code):
                ln = ln.strip()
                if lead_in == "run":
                    out.append(Sentence(f"Run {ln}", b.line + 1 + k, ln, [ln], optional=optional, group=group))
                elif lead_in == "expect":
                    out.append(Sentence(f"Look for {ln}", b.line + 1 + k, ln, [ln], optional=optional, group=group))
                else:
                    out.append(Sentence(ln, b.line + 1 + k, ln, [f"Run {ln}", f"Look for {ln}"], optional=optional,
                                        group=group))
            lead_in = None
            continue
        text = _inline(b.text)
        if b.kind == "para" and re.match(r"^optional\b", text, re.I):
            optional = True
        if b.kind == "item" and b.numbered and b.indent == 0:
            group_count += 1
            group = group_count
        # a lead-in ending with ':' takes the following code block / list as its object
        if text.rstrip().endswith(":"):
            stripped = normalise(text)
            if EXPECT_LEADIN.match(stripped + ":") or re.search(r"\b(?:look for|expected(?: output)?)$", stripped,
                                                                 re.I):
                lead_in, lead_indent = "expect", b.indent
                pre = re.sub(r"\b(?:and )?(?:look for|expected(?: output)?)$", "", stripped, flags=re.I).strip(" ,")
                if pre and b.kind == "item":
                    out += [Sentence(s, b.line, b.text, list_item=True, optional=optional, group=group)
                            for s in split_sentences(pre)]
                continue
            if re.search(r"\b(?:run|type|enter)$", stripped, re.I) and bi + 1 < len(blocks) \
                    and blocks[bi + 1].kind == "code":
                lead_in = "run"
                continue
            if b.kind == "para" or (b.kind == "item" and bi + 1 < len(blocks) and blocks[bi + 1].indent > b.indent):
                # "After successful sign-in:", "1) "You cannot join this device"" -> an intro, not a step
                if b.kind == "item" and b.numbered:
                    out.append(Sentence(normalise(text), b.line, b.text, list_item=False, group=group,
                                        optional=optional, alternatives=["__title__"]))
                continue
        if lead_in == "expect" and b.kind == "item" and b.indent >= max(lead_indent, 0):
            for s in split_sentences(b.text):
                # "AzureAdJoined : YES" is an output line; "Valid user/device state sections" may be a check
                first, other = (f"Look for {s}", s) if " : " in s or s.endswith(" :") else (s, f"Look for {s}")
                out.append(Sentence(first, b.line, b.text, [other], list_item=True, optional=optional,
                                    group=group))
            continue
        if b.kind == "item" and b.numbered and b.indent == 0 and bi + 1 < len(blocks) \
                and blocks[bi + 1].kind == "item" and (blocks[bi + 1].indent > 0
                                                       or (trouble and not blocks[bi + 1].numbered)):
            out.append(Sentence(normalise(text), b.line, b.text, alternatives=["__title__"], group=group))
            continue
        lead_in = None
        for s in split_sentences(b.text):
            out.append(Sentence(s, b.line, b.text, list_item=b.kind == "item", optional=optional, group=group))
    return out
