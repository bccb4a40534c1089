"""The baseline: a bare Bolt app whose only listener acks, on the same server stack."""

from __future__ import annotations

import os
import sys

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.http_server import EVENTS_PATH, HttpServer


def main() -> None:
    client = WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"])
    # --sync: Bolt's process_before_response mode, which hotfix-bot uses (no ack polling).
    sync = "--sync" in sys.argv[1:]
    app = App(
        client=client,
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        process_before_response=sync,
    )

    @app.command("/hotfix")
    def on_command(ack: Ack) -> None:
        ack()

    from slack_bolt.adapter.wsgi import SlackRequestHandler

    server = HttpServer(SlackRequestHandler(app, path=EVENTS_PATH), host="127.0.0.1", port=0)
    print(f"listening on http://127.0.0.1:{server.port}{EVENTS_PATH}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
