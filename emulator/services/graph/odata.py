"""OData query options as the directory part of Microsoft Graph applies them (graph-intune.md §1.4, §8.4).

`$filter` is parsed into a small tree and compiled to a Python predicate over the *model* objects
(never over serialised JSON), so a filtered page over 100,000 devices only serialises the page.
Each resource describes which properties accept which operators (`ResourceSpec`); anything else is
refused with the real `Request_UnsupportedQuery` message. Operators that are "advanced" (`ne`,
`not`, `endsWith`) need `ConsistencyLevel: eventual` and `$count=true`.
"""
from __future__ import annotations

import base64
import datetime as _dt
import itertools
import re
from collections.abc import Callable, Iterable, Sized
from dataclasses import dataclass, field
from operator import attrgetter
from operator import is_ as operator_is
from typing import Any
from urllib.parse import quote

from .exceptions import GraphError, bad_request

ADVANCED_OPS = frozenset({"ne", "not", "endsWith"})
# Inferred (open question 8): directory collections page by 100 and accept $top up to 999.
DEFAULT_TOP = 100
MAX_TOP = 999

ADVANCED_HINT = ("Try adding $count=true query parameter and ConsistencyLevel:eventual header. "
                 "Refer to https://aka.ms/graph-docs/advanced-queries for more information")


@dataclass
class Prop:
    """One filterable/sortable property: how to read it from a model object, and what it allows."""

    getter: Callable[[Any], Any]
    ops: frozenset[str] = frozenset()
    #: "" = not sortable, "basic" = sortable by default, "advanced" = needs advanced query params.
    orderby: str = ""
    search: bool = False
    #: For collection properties filtered with any()/all(): "" -> operators on the element itself,
    #: "skuId" -> operators on that property of each element.
    elements: dict[str, frozenset[str]] | None = None
    #: EDM type for literal type checks ("Edm.Boolean", "Edm.String"); "" = unchecked.
    edm: str = ""


@dataclass
class ResourceSpec:
    type_name: str                 # "device" (microsoft.graph.<type_name>)
    resource_name: str             # "Device" (as directory error messages name it)
    props: dict[str, Prop]
    #: Every property name known for $select (case-insensitive match, canonical spelling kept).
    selectable: tuple[str, ...] = ()
    #: Directory collections use $skiptoken paging and these rules; logs page up to 1000.
    default_top: int = DEFAULT_TOP
    max_top: int = MAX_TOP
    case_insensitive: bool = True
    #: $filter together with $orderby needs advanced query params (directory objects).
    filter_orderby_advanced: bool = True
    #: Which query options the resource accepts at all.
    supports: frozenset[str] = frozenset({"$select", "$filter", "$top", "$skiptoken", "$orderby", "$count",
                                          "$search", "$expand"})
    #: Operators that need advanced query parameters on this resource.
    advanced_ops: frozenset[str] = ADVANCED_OPS
    #: `$count=true` is honoured only with `ConsistencyLevel: eventual` (directory objects).
    count_needs_header: bool = True
    #: "directory" tokens look like `RFNwdAIAAQAAA...`; "log" tokens like `9177f2e3..._1` (GD paging.md).
    skiptoken_style: str = "directory"

    def __post_init__(self) -> None:
        self._props_ci = {k.lower(): k for k in self.props}
        self._select_ci = {k.lower(): k for k in (self.selectable or tuple(self.props))}

    def prop(self, name: str) -> tuple[str, Prop | None]:
        canon = self._props_ci.get(name.lower())
        return (canon, self.props[canon]) if canon else (name, None)


# -- $filter ---------------------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>'(?:[^']|'')*')
  | (?P<dt>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)
  | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_$@][\w$.@]*(?:/[A-Za-z_$][\w$]*)*)
  | (?P<punct>[(),:])
""", re.VERBOSE)

_CMP = {"eq", "ne", "gt", "ge", "lt", "le"}


class _FilterSyntax(Exception):
    def __init__(self, pos: int):
        self.pos = pos


class _FilterTooDeep(Exception):
    pass


#: How deep a $filter may nest: parentheses, `not` and lambdas while parsing (MAX_FILTER_NESTING),
#: and the depth of the parsed tree, where a chain of `and`/`or` counts one level per operator
#: (MAX_FILTER_DEPTH). ODataLib's own limit is 800 recursions; these are lower so that parsing,
#: compiling and evaluating stay far below Python's recursion limit.
MAX_FILTER_NESTING = 100
MAX_FILTER_DEPTH = 300


def _lex(text: str) -> list[tuple[str, Any, int]]:
    out: list[tuple[str, Any, int]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise _FilterSyntax(pos)
        kind = m.lastgroup
        val = m.group()
        if kind == "str":
            out.append(("lit", val[1:-1].replace("''", "'"), pos))
        elif kind == "dt":
            out.append(("lit", _parse_dt(val), pos))
        elif kind == "guid":
            out.append(("lit", val, pos))
        elif kind == "num":
            out.append(("lit", float(val) if "." in val else int(val), pos))
        elif kind == "ident":
            low = val.lower()
            if low in ("true", "false"):
                out.append(("lit", low == "true", pos))
            elif low == "null":
                out.append(("lit", None, pos))
            else:
                out.append(("ident", val, pos))
        elif kind == "punct":
            out.append((val, val, pos))
        pos = m.end()
    out.append(("end", None, len(text)))
    return out


def _parse_dt(s: str) -> _dt.datetime:
    s2 = s.replace("Z", "+00:00")
    if re.search(r"T\d{2}:\d{2}$", s2):
        s2 += ":00"
    d = _dt.datetime.fromisoformat(s2)
    if d.tzinfo is None:
        d = d.replace(tzinfo=_dt.timezone.utc)
    return d


@dataclass
class Node:
    kind: str                      # and | or | not | cmp | func | in
    op: str = ""
    prop: str = ""
    value: Any = None
    children: list[Node] = field(default_factory=list)


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = _lex(text)
        self.i = 0
        self.depth = 0

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_FILTER_NESTING:
            raise _FilterTooDeep()

    def peek(self, k: int = 0):
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self):
        t = self.toks[self.i]
        self.i += 1
        return t

    def kw(self, word: str) -> bool:
        t = self.peek()
        return t[0] == "ident" and t[1].lower() == word

    def expect(self, kind: str):
        t = self.next()
        if t[0] != kind:
            raise _FilterSyntax(t[2])
        return t

    def parse(self) -> Node:
        n = self.or_()
        if self.peek()[0] != "end":
            raise _FilterSyntax(self.peek()[2])
        return n

    def or_(self) -> Node:
        n = self.and_()
        while self.kw("or"):
            self.next()
            n = Node("or", children=[n, self.and_()])
        return n

    def and_(self) -> Node:
        n = self.unary()
        while self.kw("and"):
            self.next()
            n = Node("and", children=[n, self.unary()])
        return n

    def unary(self) -> Node:
        if self.kw("not"):
            self.next()
            self.enter()
            n = Node("not", children=[self.unary()])
            self.depth -= 1
            return n
        return self.primary()

    def literal(self):
        t = self.next()
        if t[0] != "lit":
            raise _FilterSyntax(t[2])
        return t[1]

    def primary(self) -> Node:
        t = self.peek()
        if t[0] == "(":
            self.next()
            self.enter()
            n = self.or_()
            self.expect(")")
            self.depth -= 1
            return n
        if t[0] != "ident":
            raise _FilterSyntax(t[2])
        name = self.next()[1]
        low = name.lower()
        if (low.endswith("/any") or low.endswith("/all")) and self.peek()[0] == "(":
            # lambda operator: coll/any(x: x eq 'v')
            self.next()
            var = self.expect("ident")[1]
            self.expect(":")
            self.enter()
            inner = self.or_()
            self.expect(")")
            self.depth -= 1
            return Node(low.rsplit("/", 1)[1], prop=name.rsplit("/", 1)[0], value=(var, inner))
        if self.peek()[0] == "(":
            # function call: startsWith(prop,'x'), endsWith(prop,'x'), contains(...)
            self.next()
            prop = self.expect("ident")[1]
            self.expect(",")
            value = self.literal()
            self.expect(")")
            node = Node("func", op=name, prop=prop, value=value)
            if self.peek()[0] == "ident" and self.peek()[1].lower() in _CMP:
                # startsWith(x,'y') eq true
                op = self.next()[1].lower()
                lit = self.literal()
                if op == "eq" and lit is True or op == "ne" and lit is False:
                    return node
                if op == "eq" and lit is False or op == "ne" and lit is True:
                    return Node("not", children=[node])
                raise _FilterSyntax(self.peek()[2])
            return node
        t = self.peek()
        if t[0] == "ident" and t[1].lower() in _CMP:
            op = self.next()[1].lower()
            return Node("cmp", op=op, prop=name, value=self.literal())
        if t[0] == "ident" and t[1].lower() == "in":
            self.next()
            self.expect("(")
            values = [self.literal()]
            while self.peek()[0] == ",":
                self.next()
                values.append(self.literal())
            self.expect(")")
            return Node("in", op="in", prop=name, value=values)
        raise _FilterSyntax(t[2])


def parse_filter(text: str) -> Node:
    try:
        node = _Parser(text).parse()
        if _tree_depth(node) > MAX_FILTER_DEPTH:
            raise _FilterTooDeep()
        return node
    except _FilterSyntax as exc:
        # Inferred: ODataLib's syntax error text, as Graph relays it.
        raise GraphError(400, "BadRequest", f"Invalid filter clause: Syntax error at position {exc.pos} "
                                            f"in '{text}'.") from None
    except (_FilterTooDeep, RecursionError):
        # Inferred: ODataLib's text when a query option nests past its recursion limit.
        raise GraphError(400, "BadRequest", "Invalid filter clause: The recursion limit has been exceeded.") from None


def _tree_depth(node: Node) -> int:
    """Depth of a parsed filter, without recursion (a long `and` chain is a deep left spine)."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        n, d = stack.pop()
        deepest = max(deepest, d)
        stack.extend((c, d + 1) for c in n.children)
        if n.kind in ("any", "all") and isinstance(n.value, tuple):
            stack.append((n.value[1], d + 1))
    return deepest


def _unsupported(spec: ResourceSpec, prop: str) -> GraphError:
    return GraphError(400, "Request_UnsupportedQuery", f"Unsupported or invalid query filter clause specified for "
                                                       f"property '{prop}' of resource '{spec.resource_name}'.")


def _advanced_missing(op: str) -> GraphError:
    return GraphError(400, "Request_UnsupportedQuery", f"Operator '{op}' is not supported because the required "
                                                       f"parameters might be missing. {ADVANCED_HINT}")


def _edm_of(lit: Any) -> str:
    if isinstance(lit, bool):
        return "Edm.Boolean"
    if isinstance(lit, int):
        return "Edm.Int32"
    if isinstance(lit, float):
        return "Edm.Double"
    if isinstance(lit, _dt.datetime):
        return "Edm.DateTimeOffset"
    return "Edm.String"


_OP_KIND = {"eq": "Equal", "ne": "NotEqual", "gt": "GreaterThan", "ge": "GreaterThanOrEqual", "lt": "LessThan",
            "le": "LessThanOrEqual", "in": "In"}


def _type_check(prop: Prop, lit: Any, op: str) -> None:
    if not prop.edm or lit is None:
        return
    got = _edm_of(lit)
    if got != prop.edm:
        raise GraphError(400, "BadRequest", "Invalid filter clause: A binary operator with incompatible types was "
                                            f"detected. Found operand types '{prop.edm}' and '{got}' for operator "
                                            f"kind '{_OP_KIND.get(op, op)}'.")


def _norm(v: Any, ci: bool) -> Any:
    if ci and isinstance(v, str):
        return v.lower()
    return v


def _coerce(v: Any, lit: Any) -> Any:
    if isinstance(lit, _dt.datetime) and isinstance(v, str):
        try:
            return _parse_dt(v)
        except ValueError:
            return None
    if isinstance(lit, _dt.datetime) and isinstance(v, _dt.datetime) and v.tzinfo is None:
        return v.replace(tzinfo=_dt.timezone.utc)
    return v


def _blockwise(pred: Callable[[Any], bool], getter: Any, tests: Callable[[Iterable[str]], Iterable[bool]],
               lower: bool):
    """Give `pred` a `block(objs)` method answering `[o for o in objs if pred(o)]` with C-level
    loops, where `pred(o)` is `isinstance(v, str) and <test>(v.lower() if lower else v)` with
    `v = getter(o)` and `tests(values)` maps <test> over plain strs. Used when the getter is a plain
    attrgetter and every value read is a str (not a subclass); otherwise `block` calls `pred`."""
    if not isinstance(getter, attrgetter):
        return pred

    def block(objs: list[Any]) -> list[Any]:
        vals = list(map(getter, objs))
        if not vals or set(map(type, vals)) != {str}:
            return [o for o in objs if pred(o)]
        return list(itertools.compress(objs, tests(map(str.lower, vals) if lower else vals)))

    pred.block = block  # type: ignore[attr-defined]
    pred.scan = (getter, tests, lower)  # type: ignore[attr-defined]
    return pred


#: Filtered page prefixes remembered per collection by `_remembered_matches`.
FILTER_PAGES_KEPT = 16


def _remembered_matches(spec: ResourceSpec, text: str, coll: Any, pred: Any, need: int) -> list[Any] | None:
    """The first `need` values of `coll` that `pred` keeps (all of them if fewer), when `coll` is a
    collection that counts its changes (world.models._CountedDict); else None.

    The answer depends only on the objects up to the `need`-th match (the prefix), or on all of
    them when there are fewer matches. It is remembered with the prefix's length, the values the
    filter read (all plain str), and the collection's counts; it is used again while no key was
    removed or re-bound (keys added since come after the prefix; they matter only when the prefix
    was the whole collection) and the prefix objects still hold the very same values."""
    memo = getattr(coll, "memo", None)
    if memo is None or not hasattr(pred, "scan"):
        return None
    items = coll.values()
    getter, tests, lower = pred.scan
    key = (id(spec), text, need)
    with coll.lock:
        changes, adds = coll.changes, coll.adds
    hit = memo.get(key)
    if hit is not None and hit[0] is spec and hit[1] == changes and (hit[2] == adds or not hit[3]):
        seen = hit[4]
        vals = list(map(getter, itertools.islice(items, len(seen))))
        if len(vals) == len(seen) and all(map(operator_is, vals, seen)) and coll.changes == changes:
            return list(hit[5])
    # Scan in growing slices, keeping the values read up to the last match needed.
    matches: list[Any] = []
    seen = []
    exhausted = True
    it = iter(items)
    size = 256
    while True:
        chunk = list(itertools.islice(it, size))
        if not chunk:
            break
        vals = list(map(getter, chunk))
        if set(map(type, vals)) != {str}:
            return None
        flags = list(tests(map(str.lower, vals) if lower else vals))
        hits = list(itertools.compress(range(len(chunk)), flags))
        if len(matches) + len(hits) >= need:
            last = hits[need - len(matches) - 1]
            matches.extend(chunk[i] for i in hits[:need - len(matches)])
            seen.extend(vals[:last + 1])
            exhausted = False
            break
        matches.extend(chunk[i] for i in hits)
        seen.extend(vals)
        if size < 8192:
            size *= 2
    with coll.lock:
        unchanged = coll.changes == changes and coll.adds == adds
    if unchanged:
        if len(memo) >= FILTER_PAGES_KEPT:
            try:  # drop the oldest (another thread may be changing the dict: then skip)
                del memo[next(iter(memo))]
            except (RuntimeError, StopIteration, KeyError):
                pass
        memo[key] = (spec, changes, adds, exhausted, seen, matches)
    return list(matches)


def _blocks(items: Iterable[Any], block: Callable[[list[Any]], list[Any]]):
    """The items `block` keeps, in order, reading `items` in growing slices."""
    it = iter(items)
    size = 256
    while True:
        chunk = list(itertools.islice(it, size))
        if not chunk:
            return
        yield from block(chunk)
        if size < 8192:
            size *= 2


def compile_filter(spec: ResourceSpec, node: Node, advanced: bool) -> Callable[[Any], bool]:
    """A predicate over model objects; raises the real errors for unsupported clauses."""
    ci = spec.case_insensitive

    def check(prop_name: str, op: str) -> Prop:
        canon, prop = spec.prop(prop_name)
        if prop is None:
            if "/" in prop_name and prop_name.split("/", 1)[0].lower() in spec._props_ci:
                raise _unsupported(spec, prop_name.split("/", 1)[0])
            raise GraphError(400, "BadRequest", f"Could not find a property named '{prop_name}' on type "
                                                f"'microsoft.graph.{spec.type_name}'.")
        if op not in prop.ops:
            raise _unsupported(spec, canon)
        if op in spec.advanced_ops and not advanced:
            raise _advanced_missing(op)
        return prop

    def build(n: Node, negated_by: bool = False) -> Callable[[Any], bool]:
        if n.kind in ("any", "all"):
            prop = check(n.prop, n.kind)
            var, inner = n.value
            subs: dict[str, Prop] = {}
            for sub, ops in (prop.elements or {}).items():
                if sub == "":
                    subs[var] = Prop(lambda e: e, ops)
                else:
                    subs[f"{var}/{sub}"] = Prop((lambda s: (lambda e: e.get(s) if isinstance(e, dict) else None))(sub),
                                                ops)
            subspec = ResourceSpec(spec.type_name, spec.resource_name, subs, case_insensitive=ci,
                                   advanced_ops=spec.advanced_ops)
            f = compile_filter(subspec, inner, advanced)
            g = prop.getter
            if n.kind == "any":
                return lambda o: any(f(e) for e in (g(o) or ()))
            return lambda o: all(f(e) for e in (g(o) or ()))
        if n.kind == "and":
            a, b = build(n.children[0]), build(n.children[1])
            return lambda o: a(o) and b(o)
        if n.kind == "or":
            a, b = build(n.children[0]), build(n.children[1])
            return lambda o: a(o) or b(o)
        if n.kind == "not":
            inner = n.children[0]
            if inner.kind in ("cmp", "func", "in"):
                check(inner.prop, "not")
            elif not advanced and "not" in spec.advanced_ops:
                raise _advanced_missing("not")
            f = build(inner)
            return lambda o: not f(o)
        if n.kind == "func":
            fname = n.op.lower()
            op = {"startswith": "startsWith", "endswith": "endsWith"}.get(fname)
            if op is None:
                if fname == "contains":
                    raise _unsupported(spec, spec.prop(n.prop)[0])
                raise GraphError(400, "BadRequest", f"An unknown function with name '{n.op}' was found. This may "
                                                    "also be a function import or a key lookup on a navigation "
                                                    "property, which is not allowed.")
            g = check(n.prop, op).getter
            lit = _norm(n.value, ci)
            if not isinstance(lit, str):
                raise GraphError(400, "BadRequest", f"Invalid filter clause: The argument of '{n.op}' must be a string.")
            if op == "startsWith":
                if ci:
                    return _blockwise(lambda o: isinstance(v := g(o), str) and v.lower().startswith(lit),
                                      g, lambda vs: map(str.startswith, vs, itertools.repeat(lit)), True)
                return _blockwise(lambda o: isinstance(v := g(o), str) and v.startswith(lit),
                                  g, lambda vs: map(str.startswith, vs, itertools.repeat(lit)), False)
            return lambda o: isinstance(v := g(o), str) and _norm(v, ci).endswith(lit)
        if n.kind == "in":
            p_in = check(n.prop, "in")
            for v in n.value:
                _type_check(p_in, v, "eq")
            g = p_in.getter
            vals = {_norm(v, ci) for v in n.value}
            return lambda o: _norm(g(o), ci) in vals
        # comparison
        op = n.op
        lit = n.value
        if lit is None:
            if op not in ("eq", "ne"):
                raise _unsupported(spec, spec.prop(n.prop)[0])
            check(n.prop, "null")
            g = check(n.prop, op if op == "ne" else "null").getter
            if op == "eq":
                return lambda o: g(o) is None
            return lambda o: g(o) is not None
        p_cmp = check(n.prop, op)
        _type_check(p_cmp, lit, op)
        g = p_cmp.getter
        if op == "eq":
            if isinstance(lit, str) and ci:
                ll = lit.lower()
                return _blockwise(lambda o: isinstance(v := g(o), str) and v.lower() == ll,
                                  g, lambda vs: map(ll.__eq__, vs), True)
            if isinstance(lit, _dt.datetime):
                return lambda o: _coerce(g(o), lit) == lit
            return lambda o: g(o) == lit
        if op == "ne":
            if isinstance(lit, str) and ci:
                ll = lit.lower()
                return lambda o: not (isinstance(v := g(o), str) and v.lower() == ll)
            return lambda o: _coerce(g(o), lit) != lit
        cmpf = {"gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
                "lt": lambda a, b: a < b, "le": lambda a, b: a <= b}[op]
        nl = _norm(lit, ci)

        def rel(o, g=g, cmpf=cmpf, nl=nl):
            v = _coerce(g(o), lit)
            if v is None:
                return False
            try:
                return cmpf(_norm(v, ci), nl)
            except TypeError:
                return False
        return rel

    return build(node)


# -- the query as a whole ----------------------------------------------------------------------------

_KNOWN = ("$select", "$filter", "$top", "$skiptoken", "$orderby", "$count", "$search", "$expand", "$skip",
          "$format")


@dataclass
class Query:
    select: list[str] | None = None
    filter: str | None = None
    top: int | None = None
    skiptoken: str | None = None
    orderby: list[tuple[str, bool]] = field(default_factory=list)   # (prop, descending)
    count: bool = False
    search: str | None = None
    expand: list[str] = field(default_factory=list)
    consistency_eventual: bool = False

    @property
    def advanced(self) -> bool:
        return self.consistency_eventual and self.count


def parse_query(request) -> Query:
    raw = request.query
    opts: dict[str, str] = {}
    for k, v in raw.items():
        key = k if k.startswith("$") else "$" + k
        if key.lower() in _KNOWN:
            opts[key.lower()] = v
    q = Query()
    q.consistency_eventual = (request.headers.get("ConsistencyLevel") or "").strip().lower() == "eventual"
    if "$skip" in opts:
        raise bad_request("'$skip' is not supported by the service.")
    if "$select" in opts:
        # An empty item between commas ("$select=id,,displayName", "$select=,,,") is refused later
        # as a property named '' (resolve_select / select_fields); a wholly empty $select selects all.
        items = [s.strip() for s in opts["$select"].split(",")]
        q.select = items if len(items) > 1 and "" in items else [s for s in items if s]
    if "$filter" in opts:
        q.filter = opts["$filter"].strip() or None
    if "$top" in opts:
        v = opts["$top"].strip()
        if not re.fullmatch(r"-?\d+", v):
            raise GraphError(400, "BadRequest", f"Invalid value '{v}' for $top query option found. The $top query "
                                                "option requires a non-negative integer value.")
        q.top = int(v)
    if "$skiptoken" in opts:
        q.skiptoken = opts["$skiptoken"]
    if "$orderby" in opts:
        for part in opts["$orderby"].split(","):
            bits = part.split()
            if not bits:
                continue
            desc = len(bits) > 1 and bits[1].lower() == "desc"
            if len(bits) > 2 or (len(bits) == 2 and bits[1].lower() not in ("asc", "desc")):
                raise GraphError(400, "BadRequest", f"Syntax error at position {len(part)} in '{opts['$orderby']}'.")
            q.orderby.append((bits[0], desc))
    if "$count" in opts:
        v = opts["$count"].strip().lower()
        if v not in ("true", "false"):
            raise GraphError(400, "BadRequest", f"'{opts['$count']}' is not a valid count option.")
        q.count = v == "true"
    if "$search" in opts:
        q.search = opts["$search"]
    if "$expand" in opts:
        q.expand = [s.strip() for s in opts["$expand"].split(",") if s.strip()]
    return q


def check_top(spec: ResourceSpec, q: Query) -> int:
    if q.top is None:
        return spec.default_top
    if q.top < 1 or q.top > spec.max_top:
        raise bad_request(f"Invalid page size specified: '{q.top}'. Must be between 1 and {spec.max_top} inclusive.")
    return q.top


def resolve_select(spec: ResourceSpec, q: Query) -> list[str] | None:
    """Canonical property names for $select, or None; unknown names are refused (ODataLib text)."""
    if not q.select:
        return None
    out = []
    for s in q.select:
        if s == "*":
            if "" in q.select:   # "*," still names an empty property
                continue
            return None
        canon = spec._select_ci.get(s.lower())
        if canon is None:
            raise GraphError(400, "BadRequest", f"Could not find a property named '{s}' on type "
                                                f"'microsoft.graph.{spec.type_name}'.")
        if canon not in out:
            out.append(canon)
    return out


# -- $search ---------------------------------------------------------------------------------------

_SEARCH_CLAUSE = re.compile(r'"(?P<prop>[^":]+):(?P<term>[^"]*)"')


def compile_search(spec: ResourceSpec, text: str) -> Callable[[Any], bool]:
    """`"displayName:desk"` clauses joined by AND/OR; tokenised prefix match, as directory search does."""
    s = text.strip()
    parts = re.split(r"\s+(AND|OR)\s+", s)
    preds: list[Callable[[Any], bool]] = []
    joins: list[str] = []
    for i, part in enumerate(parts):
        if i % 2 == 1:
            joins.append(part)
            continue
        m = _SEARCH_CLAUSE.fullmatch(part.strip())
        if not m:
            # Inferred: the directory's answer to an unquoted or property-less search term.
            raise GraphError(400, "Request_UnsupportedQuery", "Syntax error: character '" + (part[:1] or '"')
                             + "' is not valid at position 0 in '" + text + "'.")
        canon, prop = spec.prop(m.group("prop"))
        if prop is None or not prop.search:
            raise GraphError(400, "Request_UnsupportedQuery", f"Unsupported or invalid search clause specified for "
                                                              f"property '{m.group('prop')}' of resource "
                                                              f"'{spec.resource_name}'.")
        term = m.group("term").lower()
        g = prop.getter

        def pred(o, g=g, term=term):
            v = g(o)
            if not isinstance(v, str):
                return False
            low = v.lower()
            if low.startswith(term):
                return True
            return any(tok.startswith(term) for tok in re.split(r"[^0-9a-z]+", low) if tok)
        preds.append(pred)
    result = preds[0]
    for j, p in zip(joins, preds[1:], strict=True):
        a = result
        if j == "AND":
            result = (lambda o, a=a, p=p: a(o) and p(o))
        else:
            result = (lambda o, a=a, p=p: a(o) or p(o))
    return result


# -- paging ------------------------------------------------------------------------------------------

_SKIP_PREFIX = "RFNwdAIAAQAAA"


_LOG_TOKEN = re.compile(r"[0-9a-f]{32}_(\d+)\Z")


def encode_skiptoken(offset: int, style: str = "directory") -> str:
    if style == "log":
        import hashlib

        return hashlib.md5(f"page:{offset}".encode()).hexdigest() + f"_{offset}"
    return _SKIP_PREFIX + base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_skiptoken(token: str, style: str = "directory") -> int:
    if style == "log":
        m = _LOG_TOKEN.match(token)
        if m:
            return int(m.group(1))
        raise bad_request("The specified page token value has expired and can no longer be included in your request.",
                          code="Directory_ExpiredPageToken")
    try:
        if not token.startswith(_SKIP_PREFIX):
            raise ValueError
        raw = token[len(_SKIP_PREFIX):]
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        if not text.startswith("o:"):
            raise ValueError
        off = int(text[2:])
        if off < 0:
            raise ValueError
        return off
    except (ValueError, UnicodeDecodeError):
        # Inferred: the directory's answer to a token it did not issue.
        raise bad_request("The specified page token value has expired and can no longer be included in your request.",
                          code="Directory_ExpiredPageToken") from None


def next_link(request, offset: int, style: str = "directory") -> str:
    """The request's URL with its query options kept and $skiptoken set to the next page."""
    base = f"https://{request.host}{request.path}"
    parts = []
    for k, v in request.query.items():
        key = k if k.startswith("$") else "$" + k
        if key.lower() == "$skiptoken":
            continue
        parts.append(k + "=" + quote(v, safe="',()=:$"))
    parts.append(f"$skiptoken={encode_skiptoken(offset, style)}")
    return base + "?" + "&".join(parts)


def sort_key(g: Callable[[Any], Any], ci: bool):
    def key(o):
        v = g(o)
        if v is None:
            return (0, "")
        if isinstance(v, str) and ci:
            return (1, v.lower())
        return (1, v)
    return key


@dataclass
class Page:
    items: list[Any]
    next_offset: int | None
    count: int | None


def run_query(spec: ResourceSpec, q: Query, items: Iterable[Any], *,
              extra_filter: Callable[[Any], bool] | None = None, source: Any = None) -> Page:
    """Apply $filter/$search/$orderby/$count/$top/$skiptoken to model objects; return one page.
    `source`, when given, is the collection whose `values()` are `items` (lets a filtered page be
    remembered, see `_remembered_matches`)."""
    top = check_top(spec, q)
    if q.search is not None and not q.consistency_eventual:
        raise GraphError(400, "Request_UnsupportedQuery", "Request with $search query parameter only works through "
                                                          "MSGraph with a special request header: "
                                                          "'ConsistencyLevel: eventual'")
    if q.search is not None and "$search" not in spec.supports:
        raise GraphError(400, "Request_UnsupportedQuery", "Unsupported query.")
    preds: list[Callable[[Any], bool]] = []
    if extra_filter is not None:
        preds.append(extra_filter)
    if q.filter:
        if "$filter" not in spec.supports:
            raise GraphError(400, "Request_UnsupportedQuery", "Unsupported query.")
        preds.append(compile_filter(spec, parse_filter(q.filter), q.advanced))
    if q.search:
        preds.append(compile_search(spec, q.search))
    offset = decode_skiptoken(q.skiptoken, spec.skiptoken_style) if q.skiptoken else 0
    want_count = q.count and (q.consistency_eventual or not spec.count_needs_header)
    if preds:
        if len(preds) == 1:
            p0 = preds[0]
            block = getattr(p0, "block", None)
            it: Iterable[Any] = _blocks(items, block) if block is not None else (o for o in items if p0(o))
        else:
            it = (o for o in items if all(p(o) for p in preds))
    else:
        it = items
    if q.orderby:
        if "$orderby" not in spec.supports:
            raise GraphError(400, "Request_UnsupportedQuery", "Unsupported query.")
        if q.filter and spec.filter_orderby_advanced and not q.advanced:
            raise GraphError(400, "Request_UnsupportedQuery", "Sorting not supported for current query.")
        keys = []
        for name, desc in q.orderby:
            canon, prop = spec.prop(name)
            if prop is None:
                raise GraphError(400, "BadRequest", f"Could not find a property named '{name}' on type "
                                                    f"'microsoft.graph.{spec.type_name}'.")
            if not prop.orderby or (prop.orderby == "advanced" and not q.advanced):
                raise GraphError(400, "Request_UnsupportedQuery", "Sorting not supported for current query.")
            keys.append((sort_key(prop.getter, spec.case_insensitive), desc))
        lst = list(it)
        for key, desc in reversed(keys):
            lst.sort(key=key, reverse=desc)
        count = len(lst) if want_count else None
        chunk = lst[offset:offset + top + 1]
    elif want_count and not preds and isinstance(items, Sized):
        # Nothing to filter or sort: count without copying the collection.
        count = len(items)
        chunk = list(itertools.islice(items, offset, offset + top + 1))
    elif want_count:
        lst = list(it)
        count = len(lst)
        chunk = lst[offset:offset + top + 1]
    else:
        count = None
        found = None
        if source is not None and len(preds) == 1 and extra_filter is None and q.filter and not q.search:
            found = _remembered_matches(spec, q.filter, source, preds[0], offset + top + 1)
        chunk = found[offset:] if found is not None else list(itertools.islice(it, offset, offset + top + 1))
    more = len(chunk) > top
    return Page(chunk[:top], offset + top if more else None, count if offset == 0 else None)


def count_all(spec: ResourceSpec, q: Query, items: Iterable[Any]) -> int:
    """For `/{collection}/$count` (with its $filter/$search)."""
    preds = []
    if q.filter:
        preds.append(compile_filter(spec, parse_filter(q.filter), q.consistency_eventual))
    if q.search:
        preds.append(compile_search(spec, q.search))
    return sum(1 for o in items if all(p(o) for p in preds))


def select_fields(obj: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    if fields is None:
        return obj
    if "" in fields:   # "$select=,,," on a resource without a property list: still the real refusal
        type_name = str(obj.get("@odata.type") or "#microsoft.graph.entity").lstrip("#")
        raise GraphError(400, "BadRequest", f"Could not find a property named '' on type '{type_name}'.")
    out = {k: v for k, v in obj.items() if k.startswith("@odata.type")}
    for f in fields:
        out[f] = obj.get(f)
    return out
