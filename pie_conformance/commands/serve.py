"""``pie-check serve``: a dataset in a mocked S3 (or any S3 endpoint), with the exports a notebook needs."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import threading
from collections.abc import Mapping
from typing import Any

HELP = "serve a dataset from a mocked S3 and print the export lines that let aiUtils reach it"

#: Where keys for an external endpoint come from, in order.
_KEY_SOURCES = (
    ("PIE_S3_ACCESS_KEY_ID", "PIE_S3_SECRET_ACCESS_KEY"),
    ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
)


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """Options of ``pie-check serve``."""
    from pie_conformance.commands.dataset import add_dataset_options

    add_dataset_options(parser)
    parser.add_argument(
        "--dir", metavar="DATASET_DIR", help="serve this dataset folder instead of a synthetic one"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port of the mock on 127.0.0.1 (default: a free one)"
    )
    parser.add_argument(
        "--env-file", metavar="FILE", help="also write the export lines to FILE (for `source`)"
    )
    parser.add_argument(
        "--max-object-size",
        metavar="SIZE",
        default=None,
        help="the mock refuses larger uploads with EntityTooLarge, without holding them in memory "
        "(bytes, or e.g. 512MiB, 2GiB; default: $PIE_S3_MAX_OBJECT_SIZE, else 1GiB)",
    )
    parser.add_argument(
        "--traincfg", metavar="FILE", help="also write the dataset's matching traincfg.json to FILE"
    )
    remote = parser.add_argument_group(
        "any S3-compatible endpoint instead of the mock",
        "keys come from PIE_S3_ACCESS_KEY_ID/PIE_S3_SECRET_ACCESS_KEY or "
        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; "
        "the kit writes nothing outside the dataset's prefix there, and exits after printing the exports",
    )
    remote.add_argument("--endpoint-url", metavar="URL", help="e.g. http://127.0.0.1:9000 for a MinIO server")
    remote.add_argument("--bucket", default=None, help="bucket (default pie-engine-ai)")
    remote.add_argument(
        "--prefix",
        metavar="KEY_PREFIX",
        help="a dataset already in the bucket under this prefix: upload nothing, just serve it",
    )
    remote.add_argument("--dataset-id", help="the id aiUtils.s3GetImg() knows the dataset by (with --prefix)")


def _external_keys() -> tuple[str, str]:
    from pie_conformance.errors import UsageError

    for access_var, secret_var in _KEY_SOURCES:
        if os.environ.get(access_var) and os.environ.get(secret_var):
            return os.environ[access_var], os.environ[secret_var]
    names = " or ".join(f"{a}/{s}" for a, s in _KEY_SOURCES)
    raise UsageError(f"--endpoint-url needs keys in the environment: set {names}")


def export_lines(env: Mapping[str, str]) -> list[str]:
    """``export NAME=value`` lines for a POSIX shell; PYTHONPATH keeps the shell's own after the shim's."""
    lines = []
    for name, value in env.items():
        if name == "PYTHONPATH":
            from pie_conformance.s3 import AIUTILS_PATH

            lines.append(f"export PYTHONPATH={shlex.quote(AIUTILS_PATH)}${{PYTHONPATH:+:$PYTHONPATH}}")
        else:
            lines.append(f"export {name}={shlex.quote(value)}")
    return lines


def _load_dataset(args: argparse.Namespace) -> Any:
    from pie_conformance.commands.dataset import spec_from_args
    from pie_conformance.datasets import generate, load_dir

    if args.dir:
        # A broken folder raises DatasetLayoutError (a UsageError); files are read only while uploading.
        return load_dir(args.dir, args.task, lazy=True)
    return generate(spec_from_args(args))


def _announce(args: argparse.Namespace, env: Mapping[str, str], title: str, tail: str) -> None:
    from pathlib import Path

    from pie_conformance.errors import UsageError

    lines = export_lines(env)
    out = sys.stdout
    out.write(f"# {title}\n")
    out.write("# paste these lines into another shell, then run your notebook or `python train.py` there:\n")
    out.write("\n".join(lines) + "\n")
    if args.env_file:
        try:
            Path(args.env_file).write_text("\n".join(lines) + "\n", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write --env-file {args.env_file}: {exc.strerror or exc}") from None
        out.write(f"# (also written to {args.env_file}: `source {shlex.quote(args.env_file)}`)\n")
    out.write(f"# {tail}\n")
    out.flush()


def _write_traincfg(args: argparse.Namespace, cfg: Mapping[str, Any]) -> None:
    import json
    from pathlib import Path

    from pie_conformance.errors import UsageError

    if args.traincfg:
        try:
            Path(args.traincfg).write_text(
                json.dumps(dict(cfg), indent=4, ensure_ascii=False) + "\n", "utf-8"
            )
        except OSError as exc:
            raise UsageError(f"cannot write --traincfg {args.traincfg}: {exc.strerror or exc}") from None


def _serve_external(args: argparse.Namespace) -> int:
    from pie_conformance.s3 import BUCKET, DatasetStore, aiutils_env

    access, secret = _external_keys()
    bucket = args.bucket or BUCKET
    if args.prefix:
        from pie_conformance.datasets._generate import derived_uuid
        from pie_conformance.errors import UsageError

        prefix = args.prefix.strip("/") + "/"
        dataset_id = args.dataset_id or derived_uuid("pie-prefix", bucket, prefix)
        store = DatasetStore(args.endpoint_url, access, secret, bucket, write_prefix=prefix)
        count = sum(1 for _ in store.list_keys(prefix))
        if not count:
            raise UsageError(f"no objects under s3://{bucket}/{prefix} at {args.endpoint_url}")
        title = f"dataset {dataset_id} at s3://{bucket}/{prefix} ({count} objects) on {args.endpoint_url}"
        cfg: Mapping[str, Any] | None = None
    else:
        dataset = _load_dataset(args)
        prefix, dataset_id = dataset.prefix, dataset.dataset_id
        store = DatasetStore(args.endpoint_url, access, secret, bucket, write_prefix=prefix)
        store.upload(dataset)
        title = (
            f"{dataset.task} dataset {dataset_id} uploaded to s3://{bucket}/{prefix} on {args.endpoint_url}"
        )
        cfg = dataset.traincfg()
    env = aiutils_env(
        args.endpoint_url,
        {dataset_id: prefix},
        dataset_id,
        access_key=access,
        secret_key=secret,
        bucket=bucket,
    )
    if cfg is not None:
        _write_traincfg(args, cfg)
    _announce(args, env, title, "the endpoint is yours: nothing to keep running here")
    return 0


def _start_deaf_to_ctrl_c(server: Any) -> None:
    """Start the mock S3 child with SIGINT blocked, so that Ctrl-C in a terminal reaches only this process.

    A terminal sends SIGINT to its whole foreground process group, the mock child included; the child would
    end at once, and the request count asked of it on the way out would be lost. The child inherits the
    blocked signal across fork and exec (the mask is kept, unlike handlers), so it ends only when this
    process stops it (its standard input closes, then SIGTERM). This process takes SIGINT again at once.
    """
    if not hasattr(signal, "pthread_sigmask"):  # not POSIX: no process groups to worry about
        server.start()
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        server.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def execute(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C or SIGTERM (mock), or upload and print (external endpoint); 0 on a clean stop."""
    from pie_conformance.errors import UsageError

    if args.prefix and not args.endpoint_url:
        raise UsageError("--prefix names a dataset on an --endpoint-url; the mock starts empty")
    if args.endpoint_url:
        if args.max_object_size is not None:
            raise UsageError("--max-object-size sets the mock's limit; an --endpoint-url has its own")
        return _serve_external(args)
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port: expected 0..65535, got {args.port}")
    from pie_conformance.s3 import DatasetStore, MockS3Server, aiutils_env, registry_for

    max_object_size = None
    if args.max_object_size is not None:
        from pie_conformance.s3._server import parse_size

        try:
            max_object_size = parse_size(args.max_object_size)
        except ValueError as exc:
            raise UsageError(f"--max-object-size: {exc}") from None
    dataset = _load_dataset(args)
    stop = threading.Event()

    def on_signal(*_: Any) -> None:
        # The first Ctrl-C or SIGTERM asks for the clean stop (after an upload in progress); a second one
        # interrupts at once.
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    server = MockS3Server(port=args.port, max_object_size=max_object_size)
    try:
        _start_deaf_to_ctrl_c(server)
        DatasetStore(server.endpoint_url).upload(dataset)
        server.clear_requests()
        env = aiutils_env(server.endpoint_url, registry_for(dataset), dataset.dataset_id)
        _write_traincfg(args, dataset.traincfg())
        spec = dataset.spec
        _announce(
            args,
            env,
            f"{dataset.task} dataset {dataset.dataset_id} ({spec.train_images} train + "
            f"{spec.valid_images} valid images) at s3://{env['PIE_S3_BUCKET']}/{dataset.prefix}",
            f"serving on {server.endpoint_url} until Ctrl-C",
        )
        while not stop.wait(0.5):
            if not server.running:
                raise UsageError("the mock S3 server stopped unexpectedly")
        try:
            served = server.requests()
        except (OSError, RuntimeError):  # the mock was ended from outside (e.g. killed by its own id)
            sys.stdout.write("# stopped: the mock S3 server had already ended; its request count is lost\n")
        else:
            reads = sum(1 for r in served if r.op == "GET")
            sys.stdout.write(f"# stopped: served {len(served)} requests ({reads} object reads)\n")
        sys.stdout.flush()
        return 0
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
