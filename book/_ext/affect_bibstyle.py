"""The book's bibliography style ``affect``: the same "Author et al., 2024" label in the text and in the list.

sphinxcontrib-bibtex's ``author_year`` reference style writes "[Yang et al., 2024]" in the text while the default
``alpha`` style labels the list "[YQZ24]". This style labels the list the same way, sorts it by author and year,
and turns a DOI or an ``arXiv:ID`` note into a link.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pybtex.plugin import register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting.author_year_title import SortingStyle

ARXIV = re.compile(r"^\s*arXiv:\s*(\S+)\s*$", re.IGNORECASE)


def author_year(entry: Any) -> str:
    """``Yang et al., 2024``, ``Fu and Liu, 2021`` or ``Mironov, 2017`` (``and others`` counts as et al.)."""
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    last = [" ".join(p.last_names) for p in people]
    others = any(name.lower() == "others" for name in last)
    last = [name for name in last if name.lower() != "others"]
    if not last:
        names = entry.fields.get("title", entry.key)
    elif len(last) == 1 and not others:
        names = last[0]
    elif len(last) == 2 and not others:
        names = f"{last[0]} and {last[1]}"
    else:
        names = f"{last[0]} et al."
    return f"{names}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearLabels(BaseLabelStyle):
    def format_labels(self, sorted_entries: list[Any]) -> Iterator[str]:
        for entry in sorted_entries:
            yield author_year(entry)


class AffectStyle(UnsrtStyle):
    default_label_style = AuthorYearLabels
    default_sorting_style = SortingStyle

    def format_entry(self, label: str, entry: Any, bib_data: Any = None) -> Any:
        note = entry.fields.get("note", "")
        match = ARXIV.match(str(note))
        if match and "eprint" not in entry.fields:  # an arXiv note becomes a link
            copy = entry.__class__(entry.type, fields=dict(entry.fields), persons=entry.persons)
            copy.key = entry.key
            entry = copy
            del entry.fields["note"]
            entry.fields["eprint"] = match.group(1)
        return super().format_entry(label, entry, bib_data=bib_data)


register_plugin("pybtex.style.formatting", "affect", AffectStyle)
