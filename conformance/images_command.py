"""`cri-conformance images`: the test image set, built and published for offline nodes.

    cri-conformance images list [--test-images FILE] [--registry REGISTRY]
    cri-conformance images build DIR [--test-images FILE]
    cri-conformance images push [REGISTRY] [--from DIR] [--username USER --password-stdin]

`build` writes the whole set as one OCI image layout (same bytes and digests
on every build); `push` publishes it to REGISTRY under the same repository
paths and tags, or, without REGISTRY, to the local runtime's registries.
A node without internet then needs only that registry:
`cri-conformance run --registry REGISTRY ...`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

PASSWORD_ENV = "CRI_REGISTRY_PASSWORD"


def _image_set(args: argparse.Namespace, registry: str | None = None):
    from cri_conformance.fixtures.image_set import load_image_set

    return load_image_set(args.test_images, registry)


def cmd_list(args: argparse.Namespace) -> int:
    for image in _image_set(args, args.registry).images():
        print(f"{image.name:22} {' '.join(image.references)}")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from cri_conformance.fixtures.local.image_build import build_image_set

    built = build_image_set(_image_set(args), Path(args.dir))
    for image in built.values():
        print(f"{image.name:22} {image.descriptor.digest}  {' '.join(image.references)}")
    print(f"{len(built)} images written to {args.dir} (OCI layout)")
    return 0


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return os.environ.get(PASSWORD_ENV, "")


def _push_built(args: argparse.Namespace, layout: Path) -> list[str]:
    from cri_conformance.fixtures.local.image_push import RegistryClient, push_layout

    if args.registry:
        client = RegistryClient(args.registry, username=args.username or "", password=_password(args),
                                scheme="http" if args.plain_http else None, ca_file=args.ca_file,
                                verify_tls=not args.insecure_skip_tls_verify)
        return push_layout(layout, client, progress=print)
    return _push_to_local(args, layout)


def _push_to_local(args: argparse.Namespace, layout: Path) -> list[str]:
    from cri_conformance.cli import local_runtime
    from cri_conformance.fixtures.local import image_publish
    from cri_conformance.fixtures.local.state import load_state

    runtime = local_runtime(args.local_work_dir)
    state = load_state(runtime.layout.state_file)
    port = (state.get("registry") or {}).get("port")
    auth_port = (state.get("auth_registry") or {}).get("port")
    if not (runtime.status().get("up") and port and auth_port):
        raise RuntimeError(f"the local runtime at {runtime.workdir} is not up: name a REGISTRY, or run `local up`")
    return image_publish.publish(layout, port, auth_port, runtime.workdir, progress=print)


def cmd_push(args: argparse.Namespace) -> int:
    from cri_conformance.fixtures.local.errors import LocalRuntimeError
    from cri_conformance.fixtures.local.image_build import build_image_set

    try:
        if args.source:
            published = _push_built(args, Path(args.source))
        else:
            with tempfile.TemporaryDirectory(prefix="cri-conformance-images-") as scratch:
                layout = Path(scratch) / "layout"
                build_image_set(_image_set(args), layout)
                published = _push_built(args, layout)
    except (LocalRuntimeError, RuntimeError, ValueError) as err:
        print(f"cri-conformance: error: {err}", file=sys.stderr)
        return 2
    print(f"{len(published)} references published")
    return 0


def add_parser(commands) -> None:
    images = commands.add_parser("images", help="list, build or publish the suite's test images",
                                 description=__doc__.split("\n\n")[0])
    actions = images.add_subparsers(dest="images_action", required=True, metavar="ACTION")

    def image_set_option(parser):
        parser.add_argument("--test-images", help="TOML file overriding the shipped image set")

    listing = actions.add_parser("list", help="print each test image and its references")
    image_set_option(listing)
    listing.add_argument("--registry", help="show the references as moved to this registry")
    listing.set_defaults(func=cmd_list)

    build = actions.add_parser("build", help="write the image set as an OCI layout in DIR (reproducible)")
    build.add_argument("dir", metavar="DIR")
    image_set_option(build)
    build.set_defaults(func=cmd_build)

    push = actions.add_parser("push", help="publish the image set to REGISTRY (default: the local runtime's)")
    push.add_argument("registry", nargs="?", metavar="REGISTRY", help="host[:port][/path prefix]")
    push.add_argument("--from", dest="source", metavar="DIR", help="a layout made by `images build` (default: build now)")
    image_set_option(push)
    push.add_argument("--username", help=f"registry user; the password comes from ${PASSWORD_ENV} or --password-stdin")
    push.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    push.add_argument("--plain-http", action="store_true", help="HTTP instead of HTTPS (default for loopback only)")
    push.add_argument("--ca-file", help="CA bundle that signs the registry's certificate")
    push.add_argument("--insecure-skip-tls-verify", action="store_true", help="do not verify the registry's certificate")
    push.add_argument("--local-work-dir", help="work directory of the local runtime (when no REGISTRY is given)")
    push.set_defaults(func=cmd_push)
