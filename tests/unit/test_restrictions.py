"""Restrictions evaluated by the server agree with a straightforward Python filter (issue #3)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fakegc.directory import loader
from fakegc.directory import props as P
from fakegc.nspi.restrictions import matches

D = loader.load_default()
OBJECTS = [D.objects[m] for m in D.table(D.gal)]
DEPTS = sorted({str(o.props.get(P.PR_DEPARTMENT_NAME)) for o in OBJECTS if P.PR_DEPARTMENT_NAME in o.props})
TITLES = sorted({str(o.props.get(P.PR_TITLE)) for o in OBJECTS if P.PR_TITLE in o.props})

leaves = st.one_of(
    st.builds(lambda d: (("property", 4, P.PR_DEPARTMENT_NAME, d),
                         lambda o: o.props.get(P.PR_DEPARTMENT_NAME) == d), st.sampled_from(DEPTS)),
    st.builds(lambda t: (("content", 0x10002, P.PR_TITLE, t.lower()[:4]),
                         lambda o: str(o.props.get(P.PR_TITLE, "")).lower().startswith(t.lower()[:4])
                         if P.PR_TITLE in o.props else False), st.sampled_from(TITLES)),
    st.just((("exist", P.PR_TITLE), lambda o: P.PR_TITLE in o.props)),
    st.sampled_from([0, 1, 6]).map(lambda dt: (("property", 4, P.PR_DISPLAY_TYPE, dt),
                                               lambda o: o.display_type == dt)),
    st.sampled_from([0, 1]).map(lambda bit: (("bitmask", bit, P.PR_DISPLAY_TYPE, 1),
                                             lambda o: ((o.display_type & 1) != 0) == bool(bit))),
)


def combine(children):  # type: ignore[no-untyped-def]
    return st.one_of(
        st.lists(children, min_size=1, max_size=3).map(
            lambda xs: (("and", [x[0] for x in xs]), lambda o: all(x[1](o) for x in xs))),
        st.lists(children, min_size=1, max_size=3).map(
            lambda xs: (("or", [x[0] for x in xs]), lambda o: any(x[1](o) for x in xs))),
        children.map(lambda x: (("not", x[0]), lambda o: not x[1](o))),
    )


restrictions = st.recursive(leaves, combine, max_leaves=6)


@settings(max_examples=60, deadline=None)
@given(r=restrictions)
def test_restriction_agrees_with_python_filter(r):
    restriction, reference = r
    server = [o.mid for o in OBJECTS if matches(D, o, restriction)]
    python = [o.mid for o in OBJECTS if reference(o)]
    assert server == python
