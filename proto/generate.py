"""Regenerate the Python modules of proto/ from the .proto sources.

    python -m cri_conformance.proto.generate            # rewrite in place
    python -m cri_conformance.proto.generate --check    # exit 1 when out of sync

Needs grpcio-tools (the `dev` extra, pinned with protobuf). The sources are
compiled under the virtual path `cri_conformance/proto/`, so the generated
modules import each other as `cri_conformance.proto.*`, never as top-level
modules.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

PROTO_DIR = Path(__file__).resolve().parent
SOURCES = ("runtime_v1.proto", "runtime_v1alpha2.proto")
VIRTUAL_PREFIX = "cri_conformance/proto"


def generated_names(source: str) -> list[str]:
    stem = source.removesuffix(".proto")
    return [f"{stem}_pb2.py", f"{stem}_pb2.pyi", f"{stem}_pb2_grpc.py"]


def generate_into(out_dir: Path) -> dict[str, bytes]:
    """Compile every source into out_dir; return {file name: content}."""
    from grpc_tools import protoc
    import grpc_tools

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "protoc",
        f"--proto_path={VIRTUAL_PREFIX}={PROTO_DIR}",
        f"--proto_path={well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(f"{VIRTUAL_PREFIX}/{s}" for s in SOURCES),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed: see the messages above")
    produced = out_dir / VIRTUAL_PREFIX
    return {
        name: (produced / name).read_bytes()
        for source in SOURCES
        for name in generated_names(source)
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate_into(Path(tmp))
    stale = [n for n, data in fresh.items() if not (PROTO_DIR / n).is_file() or (PROTO_DIR / n).read_bytes() != data]
    if args.check:
        for name in stale:
            print(f"out of sync: proto/{name}", file=sys.stderr)
        return 1 if stale else 0
    for name in stale:
        (PROTO_DIR / name).write_bytes(fresh[name])
        print(f"wrote proto/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
