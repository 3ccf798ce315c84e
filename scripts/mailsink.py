"""A local SMTP sink for development: every mail becomes an .eml file, nothing leaves.

Run by ``make run`` (Procfile ``mail``) as ``python scripts/mailsink.py``; the app's
defaults (``MAIL_SERVER=127.0.0.1``, ``MAIL_PORT=8025``) point at it. Files go to
``MAIL_SINK_DIR`` (default ``instance/mail/``); one line per mail is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import email
import email.policy
import itertools
import os
import re
import signal
from pathlib import Path

from aiosmtpd.smtp import SMTP

ROOT = Path(__file__).resolve().parent.parent


class SaveToFolder:
    """aiosmtpd handler writing each message, with its envelope, to ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.counter = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
        self.directory.mkdir(parents=True, exist_ok=True)
        now = dt.datetime.now(dt.UTC)
        first = re.sub(r"[^A-Za-z0-9@._-]", "_", envelope.rcpt_tos[0] if envelope.rcpt_tos else "")
        name = f"{now:%Y%m%dT%H%M%S.%fZ}-{next(self.counter):04d}-{first[:60]}.eml"
        # Bcc recipients appear only in the envelope, so keep it in the file.
        header = (
            f"X-Sink-Envelope-From: {envelope.mail_from}\r\n"
            f"X-Sink-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        path = self.directory / name
        partial = path.with_suffix(".part")
        partial.write_bytes(header + envelope.original_content)
        partial.replace(path)  # readers never see a half-written file

        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        print(
            f"{now:%H:%M:%S} mail {envelope.mail_from} -> {', '.join(envelope.rcpt_tos)}: "
            f"{message.get('Subject', '')} [{path}]",
            flush=True,
        )
        return "250 Message accepted for delivery"


async def serve(host: str, port: int, directory: Path) -> None:
    loop = asyncio.get_running_loop()
    handler = SaveToFolder(directory)
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="localhost", enable_SMTPUTF8=True), host, port
    )
    stopped = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    print(f"mail sink: smtp://{host}:{port} -> {directory}", flush=True)
    await stopped.wait()
    server.close()
    await server.wait_closed()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("MAIL_PORT") or 8025))
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(os.environ.get("MAIL_SINK_DIR") or ROOT / "instance" / "mail"),
        help="folder for the .eml files (default: MAIL_SINK_DIR or instance/mail)",
    )
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(args.host, args.port, args.dir))


if __name__ == "__main__":
    main()
