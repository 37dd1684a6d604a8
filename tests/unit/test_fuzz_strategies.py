"""The descriptor-driven strategy generator (fixtures/fuzz/strategies.py), as pure logic.

A schema of our own (built here from a FileDescriptorProto) covers what CRI
does not use: every scalar type, oneofs, proto3 `optional`, recursion and
maps of messages. The CRI request messages themselves must all be drawable.
"""

from __future__ import annotations

import math

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, text_format
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from cri_conformance.fixtures.fuzz.strategies import (
    INT32,
    INT64,
    UINT32,
    UINT64,
    Limits,
    enum_numbers,
    message_class,
    messages,
    texts,
)
from cri_conformance.proto import runtime_v1_pb2 as pb

FAST = settings(max_examples=30, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# Reachability: stop at the first example that shows it (shrinking it would only cost time).
REACH = settings(max_examples=1500, deadline=None, database=None, phases=[Phase.generate],
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
F = descriptor_pb2.FieldDescriptorProto

SCALARS = {
    "i32": F.TYPE_INT32, "i64": F.TYPE_INT64, "u32": F.TYPE_UINT32, "u64": F.TYPE_UINT64, "s32": F.TYPE_SINT32,
    "s64": F.TYPE_SINT64, "f32": F.TYPE_FIXED32, "f64": F.TYPE_FIXED64, "sf32": F.TYPE_SFIXED32,
    "sf64": F.TYPE_SFIXED64, "flag": F.TYPE_BOOL, "real": F.TYPE_FLOAT, "wide": F.TYPE_DOUBLE, "text": F.TYPE_STRING,
    "blob": F.TYPE_BYTES,
}
RANGES = {"i32": INT32, "i64": INT64, "u32": UINT32, "u64": UINT64, "s32": INT32, "s64": INT64, "f32": UINT32,
          "f64": UINT64, "sf32": INT32, "sf64": INT64}


def build_schema():
    """package t: enum Color; message Node { scalars..., oneof, optional, recursion, maps }."""
    file = descriptor_pb2.FileDescriptorProto(name="fuzz_test.proto", package="t", syntax="proto3")
    color = file.enum_type.add(name="Color")
    for number, name in enumerate(("RED", "GREEN", "BLUE")):
        color.value.add(name=name, number=number)
    node = file.message_type.add(name="Node")
    number = 1
    for name, kind in SCALARS.items():
        node.field.add(name=name, number=number, type=kind, label=F.LABEL_OPTIONAL)
        number += 1
    node.field.add(name="color", number=number, type=F.TYPE_ENUM, type_name=".t.Color", label=F.LABEL_OPTIONAL)
    node.field.add(name="colors", number=number + 1, type=F.TYPE_ENUM, type_name=".t.Color", label=F.LABEL_REPEATED)
    node.field.add(name="child", number=number + 2, type=F.TYPE_MESSAGE, type_name=".t.Node", label=F.LABEL_OPTIONAL)
    node.field.add(name="children", number=number + 3, type=F.TYPE_MESSAGE, type_name=".t.Node",
                   label=F.LABEL_REPEATED)
    entry = node.nested_type.add(name="ByNameEntry", options=descriptor_pb2.MessageOptions(map_entry=True))
    entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    entry.field.add(name="value", number=2, type=F.TYPE_MESSAGE, type_name=".t.Node", label=F.LABEL_OPTIONAL)
    node.field.add(name="by_name", number=number + 4, type=F.TYPE_MESSAGE, type_name=".t.Node.ByNameEntry",
                   label=F.LABEL_REPEATED)
    node.oneof_decl.add(name="choice")
    node.field.add(name="pick_text", number=number + 5, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL, oneof_index=0)
    node.field.add(name="pick_node", number=number + 6, type=F.TYPE_MESSAGE, type_name=".t.Node",
                   label=F.LABEL_OPTIONAL, oneof_index=0)
    node.oneof_decl.add(name="_maybe")
    node.field.add(name="maybe", number=number + 7, type=F.TYPE_INT32, label=F.LABEL_OPTIONAL, oneof_index=1,
                   proto3_optional=True)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return pool.FindMessageTypeByName("t.Node")


NODE = build_schema()
Node = message_class(NODE)


def depth(message) -> int:
    nested = [message.child] if message.HasField("child") else []
    nested += list(message.children) + list(message.by_name.values())
    if message.HasField("pick_node"):
        nested.append(message.pick_node)
    return 1 + max((depth(m) for m in nested), default=0)


# --- every field kind ------------------------------------------------------------------

def wire(message) -> bytes:
    return message.SerializeToString(deterministic=True)  # map order is otherwise free


@FAST
@given(messages(NODE, limits=Limits(max_depth=1)))
def test_drawn_messages_survive_the_wire_and_text_form(node):
    assert wire(Node.FromString(wire(node))) == wire(node)
    text = text_format.MessageToString(node)  # compared as text: it prints every NaN as "nan"
    assert text_format.MessageToString(text_format.Parse(text, Node())) == text


@FAST
@given(messages(NODE, limits=Limits(max_depth=1)))
def test_integers_stay_in_their_wire_ranges(node):
    for name, (lo, hi) in RANGES.items():
        assert lo <= getattr(node, name) <= hi, name


@pytest.mark.parametrize("name, value", [("i32", -(2**31)), ("i32", 2**31 - 1), ("i64", -(2**63)), ("u64", 2**64 - 1),
                                         ("sf32", -(2**31)), ("sf64", -(2**63)), ("f32", 2**32 - 1)])
def test_integer_edges_are_reached(name, value):
    find(messages(NODE, limits=Limits(max_depth=0)), lambda n: getattr(n, name) == value,
         settings=REACH)


def test_float_edges_are_reached():
    find(messages(NODE, limits=Limits(max_depth=0)), lambda n: math.isnan(n.wide),
         settings=REACH)


@FAST
@given(texts())
def test_strings_are_valid_utf8(text):
    text.encode("utf-8")  # a lone surrogate would raise: proto3 strings must be UTF-8


@pytest.mark.parametrize("length", [255, 4096])
def test_long_edge_lengths_are_reached(length):
    find(texts(), lambda t: len(t) == length, settings=REACH)


def test_enums_include_unknown_numbers_unless_disabled():
    known = {0, 1, 2}
    color = NODE.fields_by_name["color"].enum_type
    find(enum_numbers(color), lambda n: n not in known, settings=REACH)

    @FAST
    @given(enum_numbers(color, Limits(unknown_enums=False)))
    def only_known(number):
        assert number in known

    only_known()


# --- presence ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape", ["unset", "empty", "filled"])
def test_sub_messages_are_unset_empty_or_filled(shape):
    def has(node):
        if shape == "unset":
            return not node.HasField("child")
        return node.HasField("child") and (node.child.ByteSize() == 0) == (shape == "empty")

    find(messages(NODE, limits=Limits(max_depth=1)), has, settings=REACH)


@FAST
@given(messages(NODE, limits=Limits(max_depth=1)))
def test_a_oneof_has_at_most_one_member(node):
    assert node.WhichOneof("choice") in (None, "pick_text", "pick_node")


def test_proto3_optional_is_set_with_zero_too():
    find(messages(NODE, limits=Limits(max_depth=0)), lambda n: n.HasField("maybe") and n.maybe == 0,
         settings=REACH)
    find(messages(NODE, limits=Limits(max_depth=0)), lambda n: not n.HasField("maybe"),
         settings=REACH)


# --- limits -----------------------------------------------------------------------------

@FAST
@given(messages(NODE, limits=Limits(max_depth=2, max_items=2, max_map_items=1)))
def test_depth_and_sizes_are_bounded(node):
    assert depth(node) <= 3 + 1  # the root, two filled levels, then empty messages only
    assert len(node.children) <= 2 and len(node.colors) <= 2 and len(node.by_name) <= 1


# --- overrides ---------------------------------------------------------------------------

@FAST
@given(messages(NODE, {"t.Node.text": st.just("pinned"),
                       "t.Node.i32": lambda default: default.filter(lambda v: v is None or v >= 0)},
                limits=Limits(max_depth=1)))
def test_field_overrides_pin_or_refine_and_reach_nested_messages(node):
    for message in (node, node.child, *node.children):
        if message.ByteSize():
            assert message.text == "pinned"
        assert message.i32 >= 0


@FAST
@given(messages(NODE, {"t.Node.child": st.none()}, limits=Limits(max_depth=1)))
def test_an_override_drawing_none_leaves_the_field_unset(node):
    assert not node.HasField("child")


@FAST
@given(messages(pb.ContainerConfig, {"runtime.v1.ImageSpec": st.just(pb.ImageSpec(image="img"))}))
def test_message_type_overrides_apply_wherever_the_type_appears(config):
    """The override gives each filled instance; a field may still be unset or present but empty."""
    specs = ([config.image] if config.HasField("image") else []) + [m.image for m in config.mounts
                                                                      if m.HasField("image")]
    assert all(spec in (pb.ImageSpec(image="img"), pb.ImageSpec()) for spec in specs)


# --- every CRI request ---------------------------------------------------------------------

REQUESTS = sorted({method.input_type.full_name: method.input_type
                   for service in pb.DESCRIPTOR.services_by_name.values() for method in service.methods}.items())


@pytest.mark.parametrize("descriptor", [d for _, d in REQUESTS], ids=[name for name, _ in REQUESTS])
def test_every_cri_request_type_can_be_drawn(descriptor):
    @settings(max_examples=10, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(messages(descriptor))
    def draws(request):
        assert wire(type(request).FromString(wire(request))) == wire(request)

    draws()
