"""A real SMTP server for the email tests (aiosmtpd), no TLS, no auth.

Usage: python3 smtp_server.py PORT DIR

Each accepted message is written to DIR/NNNN.eml (raw bytes as received) with its
envelope in DIR/NNNN.json; the .eml appears atomically (rename), after the .json.
Recipients starting with `nobody@` are refused with 550, like an unknown mailbox.
"""

import json
import os
import sys
import threading

try:
    from aiosmtpd.controller import Controller
except ImportError:
    sys.stderr.write("aiosmtpd is not installed: run `pip install aiosmtpd`\n")
    sys.exit(3)


class Handler:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.out_dir, "%04d" % self.count)
        with open(base + ".json", "w") as f:
            json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos}, f)
        with open(base + ".tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(base + ".tmp", base + ".eml")
        return "250 Message accepted for delivery"


def main():
    port, out_dir = int(sys.argv[1]), sys.argv[2]
    controller = Controller(Handler(out_dir), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    # Runs until the test kills the process.
    threading.Event().wait()


if __name__ == "__main__":
    main()
