"""The vectorised reader of "plain" GPX chunks, and what it shares with :mod:`.gpx`.

A chunk is plain when it has no comment, CDATA, DOCTYPE or processing instruction (the XML
declaration aside), every ``<`` pairs with the next ``>``, quotes pair up inside tags, point tags
carry ``lat``/``lon`` as their only double-quoted attributes, the fields read are text-only with
no entity reference, and tracks sit directly under the root. Then every tag is found and named
with whole-array numpy operations (names read eight bytes at a time), and the chunk's points come
out as the same text columns the expat handlers in :mod:`.gpx` produce. Anything else returns
None and the chunk goes to expat: the semantics are those of :mod:`.gpx`, and the tests check
that both readers agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mobco2.ingest import modes

# Element codes. Structural ones are recognised outside points and <extensions>; fields inside a point.
OTHER, GPX, TRK, TRKSEG, RTE, TRKPT, RTEPT, WPT, TYPE, EXT, ELE, TIME, SPEED, COURSE, HEADING, BEARING = range(16)
_NAMES = ("gpx", "trk", "trkseg", "rte", "trkpt", "rtept", "wpt", "type", "extensions",
          "ele", "time", "speed", "course", "heading", "bearing")  # fmt: skip
CODE = {name: i + 1 for i, name in enumerate(_NAMES)}
GROUP = {ELE: 0, TIME: 1, SPEED: 2, COURSE: 3, HEADING: 3, BEARING: 3}  # field slot of a point
FIELDS = ("ele", "time", "speed", "course")  # slot names, for warnings
KIND_OF = {TRKPT: 0, RTEPT: 1, WPT: 2}
_SLOT_OF_CODE = np.array([GROUP.get(c, -1) for c in range(16)], np.int8)
KINDS = pa.array(["trkpt", "rtept", "wpt"])
WPT_KIND = 2
TYPE_SLOT = 4  # capture slot of a trk's <type>


@dataclass
class State:
    """Where the parse stands between two chunks (both paths read and update it)."""

    depth: int = 0  # open elements
    ext: int = 0  # open <extensions> elements
    trk_depth: int = -1  # depth of the open trk, -1 if none
    hint: str | None = None  # canonical mode of the open trk's <type>
    new_segment: bool = True  # the next point starts a segment
    carry_seg: bool = False  # a rejected segment-first point hands its flag to the next kept one
    in_point: bool = False
    capturing: bool = False
    counts: tuple[int, int, int] = (0, 0, 0)  # trkpt, rtept, wpt seen so far
    bad_fields: dict[str, tuple[int, str]] = field(default_factory=dict)  # slot -> (count, first record)


@dataclass
class Raw:
    """One chunk's points as text columns, before conversion (shared by both paths)."""

    kind: np.ndarray  # int8: 0 trkpt, 1 rtept, 2 wpt
    index: np.ndarray  # 1-based count of that kind in the file
    lat: pa.Array
    lon: pa.Array
    fields: list[pa.Array]  # ele, time, speed, course: stripped text or null
    seg: np.ndarray  # bool
    hint: pa.Array  # canonical mode or null


_WS_MAX = 32  # bytes <= 32 end a name (space, tab, CR, LF; NUL is our padding)
_LAT = int.from_bytes(b"lat=", "little")
_LON = int.from_bytes(b"lon=", "little")
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]+)""")


def _key(name: str) -> tuple[int, int]:
    b = name.encode().ljust(16, b"\0")
    return int.from_bytes(b[:8], "little"), int.from_bytes(b[8:16], "little")


_BY_K0 = sorted(((CODE[name], *_key(name)) for name in _NAMES), key=lambda k: k[1])
_SORTED_CODE = np.array([k[0] for k in _BY_K0], np.int8)
_SORTED_K0 = np.array([k[1] for k in _BY_K0], np.uint64)
_SORTED_K1 = np.array([k[2] for k in _BY_K0], np.uint64)


_ONES = np.uint64(0x0101010101010101)
_HIGH = np.uint64(0x8080808080808080)
_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], np.uint64)


_BYTE_INDEX = np.uint64(0x0001020304050607)  # x·this, for x = 1 << 8i, has i in its top byte


def _lowest(marks: np.ndarray) -> np.ndarray:
    """Index of the lowest byte whose high bit is set in each word; 8 where none is."""
    low = (marks & (~marks + np.uint64(1))) >> np.uint64(7)  # 1 << 8i
    index = ((low * _BYTE_INDEX) >> np.uint64(56)).astype(np.int64)
    return np.where(marks == 0, 8, index)


def _equal_marks(x: np.ndarray, byte: int) -> np.ndarray:
    y = x ^ (_ONES * np.uint64(byte))
    return (y - _ONES) & ~y & _HIGH


def _delim_marks(w: np.ndarray) -> np.ndarray:
    """Marks bytes that end a name: whitespace/control (≤ 32), "/" and ">"."""
    return ((w - _ONES * np.uint64(_WS_MAX + 1)) & ~w & _HIGH) | _equal_marks(w, 47) | _equal_marks(w, 62)


_NAME_MAX = 64  # longer names (or two colons) send the chunk to expat; OsmAnd writes some of ~45


def _scan(u64: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Name length and first colon (both _NAME_MAX if none) of the names at ``pos``; their first 16 bytes.

    Word-at-a-time ("SWAR") tests, each giving its exact lowest match, which is all we use; a
    further word is read only for the names not ended yet.
    """
    w0, w1 = u64[pos], u64[pos + 8]
    end = _lowest(_delim_marks(w0))
    c = _lowest(_equal_marks(w0, 58))
    nlen = np.where(end < 8, end, _NAME_MAX)
    colon = np.where(c < end, c, _NAME_MAX)
    todo = np.flatnonzero(end == 8)
    for k in range(1, _NAME_MAX // 8):
        if not len(todo):
            break
        w = w1[todo] if k == 1 else u64[pos[todo] + 8 * k]
        end = _lowest(_delim_marks(w))
        c = _lowest(_equal_marks(w, 58))
        new = (colon[todo] == _NAME_MAX) & (c < end)
        colon[todo[new]] = 8 * k + c[new]
        done = end < 8
        nlen[todo[done]] = 8 * k + end[done]
        todo = todo[~done]
    return nlen, colon, w0, w1


def _classify(u64: np.ndarray, pos: np.ndarray) -> np.ndarray | None:
    """Element code of the tag names starting at ``pos`` (their local name, after a prefix).

    None when a name is _NAME_MAX bytes or longer, or has two colons: expat then reads the chunk.
    """
    nlen, colon, w0, w1 = _scan(u64, pos)
    prefixed = np.flatnonzero(colon < nlen)
    if len(prefixed):  # read again from after the prefix
        pnlen, pcolon, pw0, pw1 = _scan(u64, pos[prefixed] + colon[prefixed] + 1)
        if (pcolon < pnlen).any():
            return None
        nlen[prefixed], w0[prefixed], w1[prefixed] = pnlen, pw0, pw1
    if (nlen >= _NAME_MAX).any():
        return None
    # a local name of 16 bytes or more keeps all of w1 and so matches no (shorter, NUL-padded) key
    k0 = w0 & _MASKS[np.minimum(nlen, 8)]
    k1 = w1 & _MASKS[np.clip(nlen - 8, 0, 8)]
    at = np.minimum(np.searchsorted(_SORTED_K0, k0), len(_SORTED_K0) - 1)
    hit = (_SORTED_K0[at] == k0) & (_SORTED_K1[at] == k1)
    code = np.zeros(len(pos), np.int8)
    code[hit] = _SORTED_CODE[at[hit]]
    return code


def _codes(u64: np.ndarray, lt: np.ndarray, is_end: np.ndarray, selfc: np.ndarray, before: np.ndarray,
           after: np.ndarray) -> np.ndarray | None:  # fmt: skip
    """Element codes of all tags, reading only the names of start tags.

    An end tag closes the latest element opened at its depth: sorting the open and close tags by
    depth (stable) puts each end right after its start. (Expat checks the names match.) Ends of
    elements opened in an earlier chunk come first in their depth and are read by name.
    """
    code = np.zeros(len(lt), np.int8)
    starts = np.flatnonzero(~is_end)
    start_codes = _classify(u64, lt[starts] + 1)
    if start_codes is None:
        return None
    code[starts] = start_codes
    paired = np.flatnonzero(is_end | ~selfc)
    level = np.where(is_end, before, after)[paired].astype(np.int16)
    order = np.argsort(level, kind="stable")
    seq, level = paired[order], level[order]
    ends = np.flatnonzero(is_end[seq])
    prev = np.maximum(ends - 1, 0)
    matched = ends[(ends > 0) & ~is_end[seq[prev]] & (level[prev] == level[ends])]
    code[seq[matched]] = code[seq[matched - 1]]
    leading = seq[np.setdiff1d(ends, matched, assume_unique=True)]
    if len(leading):
        lead_codes = _classify(u64, lt[leading] + 2)
        if lead_codes is None:
            return None
        code[leading] = lead_codes
    return code


def _ragged(data: pa.Buffer, starts: np.ndarray, ends: np.ndarray) -> pa.Array:
    """The byte ranges ``[starts, ends)`` of ``data`` (ascending, disjoint) as an Arrow string array."""
    m = len(starts)
    if m == 0:
        return pa.array([], pa.string())
    # value, gap, value, gap…: one array over the chunk's bytes, then keep every other element
    offsets = np.empty(2 * m + 1, np.int64)
    offsets[0 : 2 * m : 2] = starts
    offsets[1 : 2 * m : 2] = ends
    offsets[2 * m] = ends[-1]
    if (np.diff(offsets) < 0).any():
        raise pa.ArrowInvalid("overlapping ranges")  # cannot happen for well-formed input
    both = pa.LargeStringArray.from_buffers(2 * m, pa.py_buffer(offsets), data)
    return both.take(pa.array(np.arange(0, 2 * m, 2))).cast(pa.string())


def _contains(points: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> bool:
    """Whether any of the sorted ``points`` falls inside one of the ranges ``[starts, ends)``."""
    if not len(points) or not len(starts):
        return False
    lo = np.searchsorted(points, starts)
    hi = np.searchsorted(points, ends)
    return bool((hi > lo).any())


def analyse(chunk: bytes, st: State, at_start: bool) -> tuple[Raw, State, list[str]] | None:
    """The chunk's points computed from its bytes, or None if it is not plain GPX (see module doc)."""
    if st.in_point or st.capturing or st.trk_depth not in (-1, 2):
        return None
    try:
        return _analyse_plain(chunk, st, at_start)
    except pa.ArrowInvalid:
        return None  # e.g. invalid UTF-8: expat will say where


def _analyse_plain(chunk: bytes, st: State, at_start: bool) -> tuple[Raw, State, list[str]] | None:
    padded = chunk + b"\0" * (_NAME_MAX + 16)
    buf = np.frombuffer(padded, np.uint8)
    data = pa.py_buffer(padded)
    u64 = np.ndarray(shape=(len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,))
    body = buf[: len(chunk)]
    lt = np.flatnonzero(body == ord("<"))
    gt = np.flatnonzero(body == ord(">"))
    n = len(lt)
    if len(gt) != n or (n and ((lt >= gt).any() or (gt[:-1] >= lt[1:]).any())):
        return None  # a ">" in text or an attribute value: not plain
    if n == 0:
        return Raw(*_empty()), replace(st), []
    after_lt = buf[lt + 1]
    if (after_lt == ord("!")).any():
        return None  # comment, CDATA or DOCTYPE
    pis = np.flatnonzero(after_lt == ord("?"))
    if len(pis):
        # only the XML declaration, at the very start, and in UTF-8
        if not (at_start and len(pis) == 1 and pis[0] == 0 and lt[0] == 0 and chunk.startswith(b"<?xml")):
            return None
        enc = _ENCODING.search(chunk, 0, int(gt[0]))
        if enc and enc.group(1).lower() not in (b"utf-8", b"utf8", b"us-ascii", b"ascii"):
            return None
        lt, gt, after_lt = lt[1:], gt[1:], after_lt[1:]
        n -= 1
        if n == 0:
            return Raw(*_empty()), replace(st), []
    # quotes per tag; an odd count means a ">" inside an attribute value (or a chunk cut inside
    # one): the "<"/">" pairing above cannot be trusted
    quotes = np.flatnonzero(body == ord('"'))
    tag_of = np.searchsorted(lt, quotes, side="right") - 1
    in_tag = (tag_of >= 0) & (quotes < gt[np.maximum(tag_of, 0)])
    per_tag = np.bincount(tag_of[in_tag], minlength=n)
    apostrophes = np.flatnonzero(body == ord("'"))
    if (per_tag & 1).any():
        return None
    if len(apostrophes):
        a_tag = np.searchsorted(lt, apostrophes, side="right") - 1
        a_in = (a_tag >= 0) & (apostrophes < gt[np.maximum(a_tag, 0)])
        if (np.bincount(a_tag[a_in], minlength=n) & 1).any():
            return None
    quote_rank = np.cumsum(per_tag) - per_tag  # index in `quotes` of each tag's first quote ...
    quotes = quotes[in_tag]  # ... counting quotes inside tags only
    is_end = after_lt == ord("/")
    selfc = (buf[gt - 1] == ord("/")) & ~is_end
    start = ~is_end
    delta = np.where(is_end, -1, np.where(selfc, 0, 1)).astype(np.int32)
    after = st.depth + np.cumsum(delta)
    before = after - delta
    if (after < 0).any() or after.max() > 10_000:
        return None
    code = _codes(u64, lt, is_end, selfc, before, after)
    if code is None or (code[start & (before == 0)] != GPX).any():
        return None
    ext_delta = np.where(code == EXT, delta, 0)

    is_pt = (code >= TRKPT) & (code <= WPT)
    ps_mask = is_pt & start
    pe_mask = is_pt & (is_end | selfc)
    open_after = np.cumsum(ps_mask.astype(np.int8) - pe_mask, dtype=np.int32)
    if open_after.min() < 0 or open_after.max() > 1 or open_after[-1] != 0:
        return None  # a point inside a point, or one cut by the chunk boundary
    inside = (open_after - ps_mask + pe_mask == 1) & ~pe_mask
    structural = (code >= GPX) & (code <= WPT)
    if (structural & (inside | (st.ext + np.cumsum(ext_delta) - ext_delta > 0))).any():
        return None
    is_trk = code == TRK
    if (is_trk & (before + start != 2)).any():
        return None
    trk_open = (st.trk_depth == 2) + np.cumsum(np.where(is_trk, delta, 0), dtype=np.int32)
    if trk_open.min() < 0 or trk_open.max() > 1:
        return None
    ps = np.flatnonzero(ps_mask)
    pe = np.flatnonzero(pe_mask)

    # a trk's <type>: direct child of the open trk (trk sits at depth 2, so the type at depth 3)
    ty = np.flatnonzero((code == TYPE) & start & (before == 2) & (trk_open == 1) & ~inside)
    ty_next = np.minimum(ty + 1, n - 1)
    if not (selfc[ty] | is_end[ty_next]).all():
        return None
    ty_s = gt[ty] + 1
    ty_e = np.where(selfc[ty], ty_s, lt[ty_next])
    ty_vals = _ragged(data, ty_s, ty_e)

    # point fields: any descendant with a field name; the first non-empty one per slot wins
    cand = np.flatnonzero((code >= ELE) & start & inside)
    nxt = np.minimum(cand + 1, n - 1)
    if not (selfc[cand] | is_end[nxt]).all():
        return None
    vs = gt[cand] + 1
    ve = np.where(selfc[cand], vs, lt[nxt])

    # lat/lon: exactly two double-quoted attributes named lat and lon, no apostrophes
    kinds = (code[ps] - TRKPT).astype(np.int8)
    pst, pgt = lt[ps], gt[ps]
    first = quote_rank[ps]
    if (per_tag[ps] != 4).any() or _contains(apostrophes, pst, pgt):
        return None
    q = [quotes[first + i] for i in range(4)] if len(ps) else [pst] * 4
    names = [u64[q[i] - 5] for i in (0, 2)]
    spaces = [(nm & np.uint64(0xFF)) <= _WS_MAX for nm in names]
    attr = [(nm >> np.uint64(8)) & np.uint64(0xFFFFFFFF) for nm in names]
    lat_first = (attr[0] == _LAT) & (attr[1] == _LON)
    if not ((lat_first | ((attr[0] == _LON) & (attr[1] == _LAT))) & spaces[0] & spaces[1]).all():
        return None
    lat_s = np.where(lat_first, q[0], q[2]) + 1
    lat_e = np.where(lat_first, q[1], q[3])
    lon_s = np.where(lat_first, q[2], q[0]) + 1
    lon_e = np.where(lat_first, q[3], q[1])
    amps = np.flatnonzero(buf[: len(chunk)] == ord("&"))
    if len(amps) and any(_contains(amps, s, e) for s, e in ((vs, ve), (lat_s, lat_e), (lon_s, lon_e), (ty_s, ty_e))):
        return None  # an entity reference in a value: expat decodes those
    raw_types = [v.strip() for v in ty_vals.to_pylist()]
    if any("\r" in v for v in raw_types):
        return None

    # segment starts: a trk/trkseg/rte boundary or the end of a wpt since the previous point
    brk = ((code == TRK) | (code == TRKSEG) | (code == RTE)).astype(np.int32)
    brk[pe[kinds == WPT_KIND]] += 1
    cb = np.cumsum(brk)
    at_ps = (cb - brk)[ps]
    seg = np.diff(at_ps, prepend=0) > 0
    if len(ps):
        seg[0] |= st.new_segment
        seg |= kinds == WPT_KIND
        new_segment = bool(cb[-1] - at_ps[-1] > 0)
    else:
        new_segment = st.new_segment or bool(cb[-1] > 0)

    # mode hints: events in tag order (trk start/end clear it, a trk <type> sets it)
    trk_tags = np.flatnonzero(is_trk)
    mapped = {t: modes.map_mode("free_text", t)[0] for t in set(raw_types)}
    ev_tags = np.concatenate([trk_tags, ty])
    ev_vals = [None] * len(trk_tags) + [None if mapped[t] is None else mapped[t].value for t in raw_types]
    order = np.argsort(ev_tags, kind="stable")
    dictionary = pa.array([st.hint, *(ev_vals[i] for i in order)], pa.string())
    hidx = np.searchsorted(ev_tags[order], ps, side="right").astype(np.int32)
    hint = pa.DictionaryArray.from_arrays(pa.array(hidx, mask=kinds != 0), dictionary).dictionary_decode()

    counts = list(st.counts)
    index = np.zeros(len(ps), np.int64)
    for k in range(3):
        sel = kinds == k
        index[sel] = counts[k] + np.arange(1, int(sel.sum()) + 1)
        counts[k] += int(sel.sum())

    values = pc.utf8_trim_whitespace(_ragged(data, vs, ve))
    nonempty = np.asarray(pc.greater(pc.utf8_length(values), 0), dtype=bool)
    owner = (np.cumsum(ps_mask, dtype=np.int32) - 1)[cand]
    slots = _SLOT_OF_CODE[code[cand]]
    fields = []
    for slot in range(4):
        sel = np.flatnonzero((slots == slot) & nonempty)
        o = owner[sel]
        firsts = np.flatnonzero(np.diff(o, prepend=-1))  # owners ascend: first of each run
        pick = np.full(len(ps), -1, np.int64)
        pick[o[firsts]] = sel[firsts]
        fields.append(values.take(pa.array(pick, mask=pick < 0)))

    raw = Raw(
        kind=kinds,
        index=index,
        lat=_ragged(data, lat_s, lat_e),
        lon=_ragged(data, lon_s, lon_e),
        fields=fields,
        seg=seg,
        hint=hint,
    )
    new_state = replace(
        st,
        depth=int(after[-1]),
        ext=int(st.ext + ext_delta.sum()),
        trk_depth=2 if trk_open[-1] == 1 else -1,
        hint=dictionary[len(dictionary) - 1].as_py(),
        new_segment=new_segment,
        counts=(counts[0], counts[1], counts[2]),
    )
    return raw, new_state, raw_types


def _empty() -> tuple:
    s = pa.array([], pa.string())
    return np.zeros(0, np.int8), np.zeros(0, np.int64), s, s, [s] * 4, np.zeros(0, bool), s
