"""Emit each page script only once.

jupyter-book 1.0.4 sets up sphinx-thebe and sphinx-togglebutton so that their inline configuration scripts are
added twice; the second ``const THEBE_JS_URL`` is a SyntaxError in every page's console. This drops exact repeats.
"""

from __future__ import annotations

from typing import Any


def _dedupe(app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    seen: set[tuple[str, str]] = set()
    unique = []
    for script in context.get("script_files", []):
        filename = getattr(script, "filename", script) or ""  # the repeat has None where the first has ""
        key = (str(filename), str(getattr(script, "attributes", {}).get("body", "")))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", _dedupe, priority=900)  # after the themes have filled the context
    return {"parallel_read_safe": True, "parallel_write_safe": True}
