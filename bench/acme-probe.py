#!/usr/bin/env python3
"""Starts one TLS server (Hoop or Caddy) and times it from the outside, as a client would see it.

  acme-probe.py --port P --name hoop.test --root pebble-root.pem --log server.log [--swap-timeout S] -- command...

Prints one JSON line:
  ready       seconds from process start until the port accepts TCP connections
  cert        seconds from process start until a handshake with SNI <name> verifies against the ACME root
  swap        seconds after the first certificate until another (renewed) certificate is served, or null
  handshakes  handshakes made after the first certificate, until one second after the swap
  failed      how many of those did not complete with a verified certificate
The environment is passed to the command unchanged.
"""
import argparse
import json
import signal
import socket
import ssl
import subprocess
import sys
import time


def handshake(port, name, context, connected=lambda: None):
    """'refused' (nothing listens), 'listening' (no verified handshake yet), or the served certificate (DER).
    connected() is called once the TCP connection is made, before the handshake (which a server may hold)."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=2)
    except OSError:
        return "refused"
    connected()
    try:
        with context.wrap_socket(sock, server_hostname=name) as tls:
            return tls.getpeercert(binary_form=True)
    except (ssl.SSLError, OSError):
        return "listening"
    finally:
        sock.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--swap-timeout", type=float, default=0)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command

    context = ssl.create_default_context(cafile=args.root)
    result = {"ready": None, "cert": None, "swap": None, "handshakes": 0, "failed": 0}
    with open(args.log, "wb") as log:
        start = time.monotonic()
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            first = None
            while time.monotonic() - start < args.timeout and server.poll() is None:
                def connected():
                    if result["ready"] is None:
                        result["ready"] = round(time.monotonic() - start, 3)
                answer = handshake(args.port, args.name, context, connected)
                now = time.monotonic() - start
                if isinstance(answer, bytes):
                    result["cert"] = round(now, 3)
                    first = answer
                    break
                time.sleep(0.005)

            if first is not None and args.swap_timeout > 0:
                issued = time.monotonic()
                swapped = None
                while server.poll() is None:
                    now = time.monotonic()
                    if swapped is not None and now - swapped > 1:
                        break
                    if swapped is None and now - issued > args.swap_timeout:
                        break
                    answer = handshake(args.port, args.name, context)
                    result["handshakes"] += 1
                    if not isinstance(answer, bytes):
                        result["failed"] += 1
                    elif answer != first and swapped is None:
                        swapped = time.monotonic()
                        result["swap"] = round(swapped - issued, 3)
                    time.sleep(0.005)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    print(json.dumps(result))
    return 0 if result["cert"] is not None else 1


if __name__ == "__main__":
    sys.exit(main())
