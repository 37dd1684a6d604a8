"""Image references: parsing, normalising, and moving to another registry."""

import pytest

from cri_conformance.fixtures.image_reference import ImageReference, ReferenceError, parse_reference, rewrite_registry

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("text, expected", [
    ("busybox", ImageReference("docker.io", "library/busybox")),
    ("busybox:1.36", ImageReference("docker.io", "library/busybox", "1.36")),
    ("user/app", ImageReference("docker.io", "user/app")),
    ("index.docker.io/user/app:v1", ImageReference("docker.io", "user/app", "v1")),
    ("cri-conformance.test/busybox:1.0", ImageReference("cri-conformance.test", "busybox", "1.0")),
    ("localhost/app", ImageReference("localhost", "app")),
    ("127.0.0.1:5000/a/b/c:tag", ImageReference("127.0.0.1:5000", "a/b/c", "tag")),
    (f"reg.example/app@{DIGEST}", ImageReference("reg.example", "app", "", DIGEST)),
    (f"reg.example:443/app:1@{DIGEST}", ImageReference("reg.example:443", "app", "1", DIGEST)),
    ("[::1]:5000/app", ImageReference("[::1]:5000", "app")),
])
def test_parse(text, expected):
    assert parse_reference(text) == expected


@pytest.mark.parametrize("text", ["", "reg.example/UPPER", "reg.example/app:bad:tag", "reg.example/app@sha256:short",
                                  "reg.example/-app", "reg.example/app:"])
def test_invalid_references_are_rejected(text):
    with pytest.raises(ReferenceError):
        parse_reference(text)


@pytest.mark.parametrize("reference, registry, expected", [
    ("cri-conformance.test/busybox:1.0", "mirror.example:5000", "mirror.example:5000/busybox:1.0"),
    ("cri-conformance.test/a/b:2", "mirror.example", "mirror.example/a/b:2"),
    (f"cri-conformance.test/app@{DIGEST}", "10.0.0.1:5000", f"10.0.0.1:5000/app@{DIGEST}"),
    (f"cri-conformance.test/app:1@{DIGEST}", "r.example", f"r.example/app:1@{DIGEST}"),
    ("cri-conformance.test/refs", "r.example", "r.example/refs"),
    ("busybox:1.36", "r.example", "r.example/library/busybox:1.36"),
    ("cri-conformance.test/busybox:1.0", "harbor.example/project/cri", "harbor.example/project/cri/busybox:1.0"),
    ("cri-conformance.test/busybox:1.0", "r.example:5000/", "r.example:5000/busybox:1.0"),
])
def test_registry_rewrite_keeps_path_tag_and_digest(reference, registry, expected):
    assert rewrite_registry(reference, registry) == expected


@pytest.mark.parametrize("registry", ["https://r.example", "", "r.example/UPPER", "bad host"])
def test_invalid_registries_are_rejected(registry):
    with pytest.raises(ReferenceError):
        rewrite_registry("cri-conformance.test/busybox:1.0", registry)


def test_tag_digest_and_untagged_forms():
    reference = parse_reference("r.example/app:1")
    assert str(reference.with_digest(DIGEST)) == f"r.example/app@{DIGEST}"
    assert str(reference.with_tag("2")) == "r.example/app:2"
    assert str(reference.untagged()) == "r.example/app"
    assert reference.name == "r.example/app"
