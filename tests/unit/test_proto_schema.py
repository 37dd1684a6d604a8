"""proto/ is the CRI wire contract: prove it against the published schema.

The descriptor sets in ../shared/cri-schema are the facts (cri-api v0.36.3 for
v1, v0.25.16 for v1alpha2). Every service, method, message, field (name,
number, type, label, type name, deprecation) and enum value must match.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from cri_conformance.proto import runtime_v1_pb2, runtime_v1alpha2_pb2

SCHEMA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "cri-schema"

CASES = [
    pytest.param("runtime-v1.binpb", runtime_v1_pb2, id="v1"),
    pytest.param("runtime-v1alpha2.binpb", runtime_v1alpha2_pb2, id="v1alpha2"),
]


def published(file_name: str) -> descriptor_pb2.FileDescriptorProto:
    path = SCHEMA_DIR / file_name
    if not path.is_file():
        pytest.skip(f"{path} is absent: the shared CRI schema is not beside this checkout")
    fset = descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())
    assert len(fset.file) == 1
    return fset.file[0]


def ours(module) -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(proto)
    return proto


def field_facts(field: descriptor_pb2.FieldDescriptorProto) -> tuple:
    return (
        field.name,
        field.number,
        field.type,
        field.label,
        field.type_name,
        field.proto3_optional,
        field.options.deprecated,
    )


def message_facts(message: descriptor_pb2.DescriptorProto, prefix: str = "") -> dict[str, tuple]:
    name = prefix + message.name
    facts = {
        name: (
            tuple(field_facts(f) for f in message.field),
            message.options.map_entry,
            tuple(o.name for o in message.oneof_decl),
        )
    }
    for enum in message.enum_type:
        facts[f"{name}.{enum.name}"] = tuple((v.name, v.number) for v in enum.value)
    for nested in message.nested_type:
        facts.update(message_facts(nested, prefix=name + "."))
    return facts


def all_facts(fd: descriptor_pb2.FileDescriptorProto) -> dict[str, tuple]:
    facts: dict[str, tuple] = {}
    for message in fd.message_type:
        facts.update(message_facts(message))
    for enum in fd.enum_type:
        facts[f"enum {enum.name}"] = tuple((v.name, v.number) for v in enum.value)
    for service in fd.service:
        for method in service.method:
            facts[f"rpc {service.name}.{method.name}"] = (
                method.input_type,
                method.output_type,
                method.client_streaming,
                method.server_streaming,
            )
    return facts


@pytest.mark.parametrize("file_name, module", CASES)
def test_package_matches(file_name, module):
    assert ours(module).package == published(file_name).package


@pytest.mark.parametrize("file_name, module", CASES)
def test_same_set_of_definitions(file_name, module):
    expected, actual = all_facts(published(file_name)), all_facts(ours(module))
    assert sorted(set(expected) - set(actual)) == [], "missing from proto/"
    assert sorted(set(actual) - set(expected)) == [], "not in the published schema"


@pytest.mark.parametrize("file_name, module", CASES)
def test_every_definition_matches(file_name, module):
    expected, actual = all_facts(published(file_name)), all_facts(ours(module))
    mismatched = {name: (expected[name], actual[name]) for name in expected if actual.get(name) != expected[name]}
    assert mismatched == {}


def test_generated_modules_are_in_sync_with_sources():
    pytest.importorskip("grpc_tools", reason="grpcio-tools (the dev extra) is not installed")
    from cri_conformance.proto import generate

    assert generate.main(["--check"]) == 0, "run: python -m cri_conformance.proto.generate"
