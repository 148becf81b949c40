"""A network power switch for tests/labgrid.rs, speaking labgrid's
`simplerest` protocol (GET /relay/INDEX/VALUE switches, VALUE 1 on and
0 off; GET /relay/INDEX reads 1 or 0) in front of simulated boards' power
sockets: the switch a lab would wire the boards to.

usage: labgrid_pdu.py ADDRESS PORT INDEX=SOCKET...
"""

import http.server
import socket
import sys

OUTLETS = {}
STATE = {}


def switch(sock_path, word):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(sock_path)
        s.sendall(word.encode() + b"\n")
        return s.recv(256).decode(errors="replace").strip()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        parts = self.path.strip("/").split("/")
        if len(parts) not in (2, 3) or parts[0] != "relay" or parts[1] not in OUTLETS:
            self.send_error(404)
            return
        index = parts[1]
        if len(parts) == 2:
            self.reply(200, "1" if STATE.get(index, True) else "0")
            return
        if parts[2] not in ("0", "1"):
            self.send_error(400)
            return
        on = parts[2] == "1"
        answer = switch(OUTLETS[index], "on" if on else "off")
        if not answer.startswith("ok"):
            self.reply(502, answer)
            return
        STATE[index] = on
        self.reply(200, "")

    def reply(self, status, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        sys.stderr.write("pdu: " + (fmt % args) + "\n")


def main():
    address, port = sys.argv[1], int(sys.argv[2])
    for outlet in sys.argv[3:]:
        index, path = outlet.split("=", 1)
        OUTLETS[index] = path
    http.server.HTTPServer((address, port), Handler).serve_forever()


if __name__ == "__main__":
    main()
