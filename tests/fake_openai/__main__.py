"""python -m tests.fake_openai --port 8001 [--capture FILE]: the fake server, standalone."""

import argparse
import contextlib

from tests.fake_openai.server import FakeOpenAI


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake OpenAI server on 127.0.0.1.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--token-delay", type=float, default=0.03, help="seconds between deltas")
    parser.add_argument(
        "--capture",
        help="serve this recorded capture (a path under tests/data/openai-wire, or absolute) "
        "unchanged to every generation request, its responses in turn",
    )
    args = parser.parse_args()
    fake = FakeOpenAI(args.host, args.port, token_delay=args.token_delay, capture=args.capture)
    print(f"Fake OpenAI on {fake.base_url} (any key starting with sk- is accepted)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        fake.httpd.serve_forever()


if __name__ == "__main__":
    main()
