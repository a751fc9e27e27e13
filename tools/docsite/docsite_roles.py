"""Sphinx roles in the docstrings, turned into cross-references mkdocstrings renders.

The docstrings of ``src/deltaprop`` use reST roles (``:class:`~deltaprop.network.Network```,
``:meth:`predict```) and reST's ``::`` before a literal block. Markdown prints both as they are.
This griffe extension (listed under the python handler's ``extensions`` in ``mkdocs.yml``)
rewrites each docstring once the package is loaded, before anything is rendered:

- a role becomes an autorefs cross-reference to the object's canonical path, the name resolved
  the way Python resolves it in the docstring's scope (the object, its class, its module, then
  the package); a role naming nothing in the package is a warning, so a failed strict build.
  The reference is autorefs' optional one: a link where a page documents the target, plain
  code where none does (a private object, an undocumented one, a module on no API page);
- a paragraph's closing ``::`` becomes ``:`` (the indented block after it is already a code
  block in Markdown), and a ``::`` alone on its line goes.

The source files stay as they are: the rewrite is the docs build's, in one place.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterator
from typing import Any

from griffe import AliasResolutionError, CyclicAliasError, Extension, GriffeLoader, Module, Object

LOG = logging.getLogger("mkdocs.plugins.docsite.roles")

ROLE = re.compile(r":(?:py:)?(class|meth|func|mod|attr|data|exc|obj|const):`(~?)([^`]+)`")
EXPLICIT_TARGET = re.compile(r"(.*?)\s*<([^<>]+)>$", re.DOTALL)  # :attr:`History.loss <deltaprop...>`
LITERAL_MARKER = re.compile(r"(?<=\S)::[ \t]*$", re.MULTILINE)
LONE_MARKER = re.compile(r"^[ \t]*::[ \t]*\n", re.MULTILINE)


def walk(obj: Object) -> Iterator[Object]:
    """``obj`` and every object it defines (aliases, i.e. imported names, are skipped)."""
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from walk(member)  # type: ignore[arg-type]


def relative_module(name: str, obj: Object) -> str:
    """``.choice`` written in ``deltaprop.engine.compiled`` (or one of its modules): a full path."""
    module = obj.module
    package = module if module.is_init_module else module.parent
    dots = len(name) - len(name.lstrip("."))
    for _ in range(dots - 1):
        package = package.parent if package is not None else None
    return f"{package.path}.{name.lstrip('.')}" if package is not None else name


def lookup(scope: Object, name: str) -> Object | None:
    """``name`` (dotted) among the members of ``scope``, or None."""
    try:
        return scope[name]  # type: ignore[no-any-return]
    except (KeyError, ValueError, AttributeError, AliasResolutionError, CyclicAliasError):
        return None


def resolve(name: str, obj: Object, loader: GriffeLoader) -> str | None:
    """The canonical path of ``name`` as written in the docstring of ``obj``, or None."""
    if name.startswith("."):
        name = relative_module(name, obj)
    candidates: list[Any] = []
    scope: Object | None = obj
    while scope is not None:
        candidates.append(lookup(scope, name))
        scope = scope.parent
    try:
        candidates.append(loader.modules_collection[name])
    except (KeyError, ValueError, AliasResolutionError, CyclicAliasError):
        pass
    # A name found nowhere in scope, or a full path gone stale: the one object of that name.
    last = name.rsplit(".", 1)[-1]
    same_name = [o for o in walk(obj.package) if o.name == last]
    candidates += same_name if len(same_name) == 1 else []
    for found in candidates:
        if found is None:
            continue
        try:
            return str(found.canonical_path)
        except (AliasResolutionError, CyclicAliasError):
            continue
    return None


def is_ours(role: str, name: str, obj: Object) -> bool:
    """Whether ``name`` names something of the package (not ``csv`` or ``numpy.ndarray``)."""
    return name.startswith((".", f"{obj.package.name}.")) or ("." not in name and role != "mod")


def in_reference(path: str, loader: GriffeLoader) -> bool:
    """Whether the API pages show ``path``: public at every level and with a docstring (the
    handler's ``filters: ["!^_"]`` and its default of hiding undocumented objects)."""
    target = loader.modules_collection[path]
    return not any(part.startswith("_") for part in path.split(".")) and bool(target.docstring)


def rewrite(text: str, obj: Object, loader: GriffeLoader) -> str:
    """``text`` with its roles as cross-references and its ``::`` markers gone."""

    def reference(match: re.Match[str]) -> str:
        short, name = match.group(2), " ".join(match.group(3).split())
        explicit = EXPLICIT_TARGET.match(name)
        shown, name = explicit.groups() if explicit else (name.rsplit(".", 1)[-1] if short else name, name)
        path = resolve(name, obj, loader)
        if path is None and is_ours(match.group(1), name, obj):
            LOG.warning("%s: cannot resolve %s", obj.path, match.group(0))
        if path is None or not in_reference(path, loader):
            return f"`{shown}`"
        # autorefs' optional form: a link when a page documents the target, plain code when none
        # does yet (a module not on an API page), so that a new module does not break the build.
        return f'<autoref identifier="{path}" optional><code>{html.escape(shown)}</code></autoref>'


    text = ROLE.sub(reference, text)
    text = LONE_MARKER.sub("", text)
    return LITERAL_MARKER.sub(":", text)


class SphinxRoles(Extension):
    """The griffe extension: rewrites every docstring of a package once it is loaded."""

    def on_package(self, *, pkg: Module, loader: GriffeLoader, **kwargs: Any) -> None:
        for obj in walk(pkg):
            if obj.docstring is not None:
                obj.docstring.value = rewrite(obj.docstring.value, obj, loader)
