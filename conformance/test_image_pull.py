"""PullImage: by tag, without a tag, by digest, again, for a pod or a handler; errors and deadlines.

Tests that pull and remove share the `images` xdist group and only touch
images the image set marks `removable`, so no other test sees them vanish.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time

import grpc
import pytest

from cri_conformance.fixtures import image_calls
from cri_conformance.fixtures.image_reference import ImageReference, parse_reference
from cri_conformance.fixtures.polling import wait_for
from cri_conformance.proto import runtime_v1_pb2 as pb

PULL_DEADLINE = 1.0  # seconds: the short deadline of the deadline test
ABANDON_WITHIN = 5.0  # seconds after the deadline by which the runtime must have dropped its connections


def absent_before(image_service, images, name: str):
    test_image = images.image(name)
    image_calls.make_absent(image_service, test_image)
    return test_image


@pytest.mark.xdist_group("images")
@pytest.mark.contract("PullImage.image_ref_nonempty", "Image.repo_tags", "ImageStatus.after_pull",
                      "Image.id_matches_pull", "ListImages.all")
def test_pull_by_tag_is_visible_at_once(image_service, images):
    test_image = absent_before(image_service, images, "pull")
    reference = test_image.reference
    image_ref = image_calls.pull(image_service, reference)
    assert image_ref, f"PullImage({reference!r}) returned an empty image_ref"
    image = image_calls.present(image_service, reference)
    assert image is not None, f"ImageStatus({reference!r}) has `image` unset right after PullImage returned"
    assert image.id == image_ref, f"Image.id {image.id!r} != PullImageResponse.image_ref {image_ref!r}"
    assert list(image.repo_tags) == [reference], f"repo_tags: expected [{reference!r}], got {list(image.repo_tags)}"
    entry = image_calls.listed(image_service, image_ref)
    assert entry is not None, f"ListImages does not list {reference} ({image_ref}) right after the pull"
    assert reference in entry.repo_tags, f"ListImages entry of {image_ref} lacks the tag {reference}: {entry}"


@pytest.mark.xdist_group("images")
@pytest.mark.contract("PullImage.tagless_latest")
def test_pull_without_tag_means_latest(image_service, images):
    test_image = absent_before(image_service, images, "latest")
    tagged = parse_reference(test_image.reference)
    assert tagged.tag == "latest", f"image set: {test_image.name} must be published as :latest, not {tagged}"
    untagged = str(tagged.untagged())
    image_ref = image_calls.pull(image_service, untagged)
    image = image_calls.present(image_service, untagged)
    assert image is not None, f"ImageStatus({untagged!r}) (no tag, meaning :latest) is unset after pulling it"
    assert image.id == image_ref
    assert list(image.repo_tags) == [str(tagged)], (
        f"pulling {untagged!r}: expected repo_tags [{str(tagged)!r}], got {list(image.repo_tags)}"
    )


def digest_of(image_service, reference: str) -> str:
    """The manifest digest the registry serves for `reference` (learnt through a pull)."""
    image_calls.pull(image_service, reference)
    image = image_calls.present(image_service, reference)
    name = parse_reference(reference).name
    digests = [parse_reference(d).digest for d in image.repo_digests if parse_reference(d).name == name]
    assert len(digests) == 1, f"expected one repo digest of {name} after pulling {reference}, got {list(image.repo_digests)}"
    return digests[0]


@pytest.mark.xdist_group("images")
@pytest.mark.contract("PullImage.by_digest", "Image.repo_digests")
def test_pull_by_digest_records_the_digest_and_no_tag(image_service, images):
    test_image = images.image("digest")
    digest = test_image.digest or digest_of(image_service, test_image.reference)
    image_calls.make_absent(image_service, test_image)
    by_digest = str(parse_reference(test_image.reference).with_digest(digest))
    image_ref = image_calls.pull(image_service, by_digest)
    image = image_calls.present(image_service, by_digest)
    assert image is not None, f"ImageStatus({by_digest!r}) is unset after pulling it"
    assert image.id == image_ref
    assert list(image.repo_tags) == [], f"a pull by digest recorded tags {list(image.repo_tags)}"
    assert list(image.repo_digests) == [by_digest], (
        f"repo_digests: expected [{by_digest!r}], got {list(image.repo_digests)}"
    )


@pytest.mark.contract("PullImage.repull")
def test_pulling_again_returns_the_same_ref(image_service, busybox):
    first = image_calls.pull(image_service, busybox)
    second = image_calls.pull(image_service, busybox)
    assert first and first == second, f"pulling {busybox} twice returned {first!r} then {second!r}"


@pytest.mark.contract("PullImage.sandbox_config")
def test_pull_in_a_pod_context_gives_the_same_image(image_service, busybox, resources):
    without = image_calls.pull(image_service, busybox)
    with_pod = image_calls.pull(image_service, busybox, sandbox_config=resources.pod_config())
    assert with_pod == without, f"PullImage with sandbox_config returned {with_pod!r}, without {without!r}"


@pytest.mark.contract("PullImage.handler", "ImageSpec.runtime_handler")
def test_pull_for_a_configured_handler(image_service, busybox, cri_settings):
    handler = cri_settings.alt_runtime_handler
    if not handler:
        pytest.skip("needs a second runtime handler (--alt-runtime-handler)")
    request = pb.PullImageRequest(image=image_calls.spec(busybox, runtime_handler=handler))
    image_ref = image_service.PullImage(request).image_ref
    assert image_ref == image_calls.pull(image_service, busybox), f"pull for handler {handler} gave another image"


@pytest.mark.contract("PullImage.handler", "ImageSpec.runtime_handler")
def test_pull_for_an_unknown_handler_is_rejected(image_service, busybox):
    handler = f"cri-conformance-no-such-handler-{secrets.token_hex(4)}"
    request = pb.PullImageRequest(image=image_calls.spec(busybox, runtime_handler=handler))
    image_calls.rpc_error(image_service.PullImage, request)


@pytest.mark.contract("PullImage.error_reasons")
def test_pull_of_a_missing_image_fails(image_service, images):
    registry = parse_reference(images.image("busybox").reference).registry
    missing = str(ImageReference(registry, f"cri-conformance-missing-{secrets.token_hex(4)}", tag="1.0"))
    error = image_calls.rpc_error(image_calls.pull, image_service, missing, timeout=60)
    assert error.code() not in (grpc.StatusCode.OK, grpc.StatusCode.DEADLINE_EXCEEDED), (
        f"PullImage of a missing image: expected a prompt error, got {error.code().name}: {error.details()}"
    )
    assert image_calls.present(image_service, missing) is None, f"{missing} is reported present after a failed pull"


class SilentRegistry:
    """A TCP server on 127.0.0.1 that accepts connections and never answers.

    A pull from it can only end by the deadline; the server sees when the
    runtime gives up (it closes its connections).
    """

    def __init__(self):
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.accepted = 0
        self.open = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self.open += 1
            threading.Thread(target=self._drain, args=(connection,), daemon=True).start()

    def _drain(self, connection: socket.socket):
        with connection:
            try:
                while connection.recv(65536):
                    pass
            except OSError:
                pass
        with self._lock:
            self.open -= 1

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return self.accepted, self.open

    def close(self):
        self._listener.close()


@pytest.fixture
def silent_registry(runtime_under_test):
    if runtime_under_test.endpoint.scheme != "unix":
        pytest.skip("needs the runtime on this host (a unix endpoint) to reach a server on 127.0.0.1")
    server = SilentRegistry()
    yield server
    server.close()


@pytest.mark.contract("PullImage.deadline", "X.deadline_honoured")
def test_pull_is_abandoned_at_its_deadline(image_service, silent_registry):
    reference = f"127.0.0.1:{silent_registry.port}/cri-conformance/deadline:1.0"
    started = time.monotonic()
    error = image_calls.rpc_error(image_calls.pull, image_service, reference, timeout=PULL_DEADLINE)
    waited = time.monotonic() - started
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED, (
        f"PullImage with a {PULL_DEADLINE:g} s deadline from a registry that never answers: "
        f"expected DEADLINE_EXCEEDED, got {error.code().name}: {error.details()}"
    )
    accepted, _ = silent_registry.counts()
    assert accepted > 0, f"the runtime never connected to the registry of {reference} within {waited:.1f} s"
    wait_for(silent_registry.counts, lambda counts: counts[1] == 0, timeout=ABANDON_WITHIN,
             what="the runtime to drop its connections to the registry after the deadline (accepted, open)")
    assert image_calls.present(image_service, reference) is None, f"{reference} is present after the aborted pull"


@pytest.mark.xdist_group("images")
@pytest.mark.contract("PullImage.same_content_same_ref", "ImageStatus.ref_kinds")
def test_one_content_under_several_names_is_one_image(image_service, images):
    test_image = images.image("tags")
    refs = {reference: image_calls.pull(image_service, reference) for reference in test_image.references}
    assert len(set(refs.values())) == 1, f"one content pulled under several names gave several image_refs: {refs}"
    image_ref = next(iter(refs.values()))
    for reference in test_image.references:
        image = image_calls.present(image_service, reference)
        assert image is not None and image.id == image_ref, (
            f"ImageStatus({reference!r}) is {image and image.id!r}, expected the pulled image {image_ref}"
        )
