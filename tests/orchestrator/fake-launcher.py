#!/usr/bin/python3
# A stand-in for `dm-remote daemon` (the launcher) speaking its HTTP/JSON
# API on a UNIX socket, for the orchestrator's tests.  It runs nothing:
# instances and VMs are records, QMP answers are canned.  Every request
# is appended to --log as one JSON line {"method", "path", "body"}.
# Failures are injected with --fail-instance N (the Nth POST
# /v1/instances answers 500) and POST /_fake {"key": value} at run time.
# Each VM has a QMP run state ("status": running, paused, inmigrate with
# -incoming, postmigrate after an outgoing migration); POST /_fake
# {"vm_status": {ID: STATUS}} or {"vm_state": {ID: "exited"}} sets it.
# {"mute": true} holds every request (logged first) unanswered until
# {"mute": false}, as a launcher that accepts and never answers.
# {"huge_reply": N} answers every request with N bytes of JSON (with a
# Content-Length, or close-delimited without one if "huge_no_length").
# A server also keeps routes (/v1/routes, its "router" at
# unix:STATE/router.sock, which nothing listens on); {"fail_route": true}
# makes their POST answer 500, {"route_address": X} puts X in its reply.
# {"instance_reply": {KEY: X}} puts X as KEY in the reply to an instance's
# POST (the instance kept is the usual one).
# QMP's query-remote-devices answers one proxy per -remote-device of the
# VM's arguments (id, or the type without one; server; zero counters and
# an empty latency histogram, as the fork's); {"remote_devices": {VM:
# {ID: {FIELD: X}}}} sets fields of one.  {"qmp_hold": [VM...]} holds
# that VM's QMP requests unanswered (no lock held) until it is left out.
#   fake-launcher.py --socket PATH --role client|server --platform NAME
#                    --state DIR --log FILE [--models a,b] [--capacity N]
#                    (a model's health declaration is dm-remote's for
#                     edu, edu-msix and uart16550; NAME:BUS[:console]
#                     declares another on BUS, with a console property)
#                    [--model-tls]   (its health says "model_tls": true)
#                    [--tcp-models]  (tcp: instance addresses, whatever
#                                     the transport asked)
#                    [--tcp-port P]  (HTTP on tcp:127.0.0.1:P instead)
import argparse
import json
import os
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler

args = None
lock = threading.Lock()
# What dm-remote's models declare (dm-remote/models/*.c), as health says.
PROP_CONSOLE = {"name": "console", "type": "string", "default": "stdio",
                "help": "where the UART's bytes go"}
DECLARED = {
    "edu": {"name": "edu", "bus": "pci", "props": [
        {"name": "dma_mask", "type": "number", "default": "0xfffffff",
         "help": "the DMA address mask"}]},
    "edu-msix": {"name": "edu-msix", "bus": "pci", "props": [
        {"name": "dma_mask", "type": "number", "default": "0xfffffff",
         "help": "the DMA address mask"}]},
    "uart16550": {"name": "uart16550", "bus": "isa", "props": [
        PROP_CONSOLE,
        {"name": "iobase", "type": "number", "default": "0x3f8",
         "help": "I/O port base"},
        {"name": "irq", "type": "number", "default": "4",
         "help": "ISA IRQ line"}]},
    "virtio-blk": {"name": "virtio-blk", "bus": "pci", "props": [
        {"name": "file", "type": "file", "default": None, "required": True,
         "help": "the image"},
        {"name": "readonly", "type": "bool", "default": "off",
         "required": False, "help": "offer the disk read-only"}]},
    # A model on a tap: the launcher adds "bridge" (its taps).
    "virtio-net": {"name": "virtio-net", "bus": "pci", "props": [
        {"name": "net", "type": "string", "default": None,
         "help": "user or tap"},
        {"name": "tap", "type": "string", "default": None,
         "help": "net=tap: the server's tap interface"},
        {"name": "mac", "type": "string", "default": "52:54:00:12:34:56",
         "help": "the card's MAC address"},
        {"name": "queues", "type": "number", "default": "1",
         "help": "receive/transmit queue pairs"},
        {"name": "bridge", "type": "string", "default": None,
         "required": False, "help": "a bridge of this server (--bridges)"}]},
}


def declared_models():
    """--models as health declares them: [{"name", "bus", "props"}], or
    POST /_fake {"models": [...]}'s."""
    if config.get("models") is not None:
        return config["models"]
    out = []
    for spec in args.models.split(","):
        parts = spec.split(":")
        if len(parts) == 1 and spec in DECLARED:
            out.append(DECLARED[spec])
            continue
        out.append({"name": parts[0],
                    "bus": parts[1] if len(parts) > 1 else "pci",
                    "props": [PROP_CONSOLE] if "console" in parts[2:]
                    else []})
    return out


def model_names():
    return [m["name"] for m in declared_models()]
instances = {}
vms = {}
vm_args = {}
routes = {}
config = {"powerdown_works": True, "qmp_error": {}, "migrate_fail": False,
          "migrate_hold": False, "fail_vm": False, "fail_delete": False,
          "fail_route": False, "route_address": None, "huge_reply": 0,
          "huge_no_length": False, "instance_reply": {},
          "remote_devices": {}, "qmp_hold": []}
unmuted = threading.Event()
unmuted.set()
fenced = {"highest": 0}   # the highest X-DM-Fence seen
counters = {"instances": 0, "pid": 1000, "port": 30000}


def console_server(path, ident):
    """A UNIX socket console: a banner, then echoes what it gets, until
    the peer shuts its side down."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)

    def serve():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"console of %s\r\n" % ident.encode())
                while True:
                    data = conn.recv(4096)
                    if not data:
                        break
                    conn.sendall(b"echo:" + data)
    threading.Thread(target=serve, daemon=True).start()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def huge(self, size):
        data = b'{"platform": "' + b"x" * max(size - 16, 0) + b'"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if config["huge_no_length"]:
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            for i in range(0, len(data), 1 << 16):
                self.wfile.write(data[i:i + (1 << 16)])
        except OSError:
            pass

    def error(self, status, msg):
        self.reply(status, {"error": msg})

    def handle_any(self, method):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        body = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                return self.error(400, "bad JSON")
        fence = self.headers.get("X-DM-Fence")
        if not self.path.startswith("/_fake"):
            with lock, open(args.log, "a") as f:
                f.write(json.dumps({"method": method, "path": self.path,
                                    "body": body, "fence": fence}) + "\n")
            # As dm-remote/launcher/fence.c: an older leader's token is
            # refused, the highest kept.
            if fence is not None:
                with lock:
                    if int(fence) < fenced["highest"]:
                        return self.error(409, "fenced: token %s is older "
                                          "than %d" % (fence,
                                                       fenced["highest"]))
                    fenced["highest"] = int(fence)
        parts = [p for p in self.path.split("/") if p]
        if parts == ["_fake"] and isinstance(body, dict) and "mute" in body:
            (unmuted.clear if body.pop("mute") else unmuted.set)()
        if parts != ["_fake"]:
            unmuted.wait(120)
        if parts[:2] == ["v1", "vms"] and parts[3:] == ["qmp"]:
            # A QEMU that does not answer: only its own requests wait.
            for _ in range(2400):
                if parts[2] not in config["qmp_hold"]:
                    break
                time.sleep(0.05)
        if config["huge_reply"] and parts != ["_fake"]:
            return self.huge(config["huge_reply"])
        with lock:
            if parts == ["_fake"] and method == "POST":
                for key, field in (("vm_status", "status"),
                                   ("vm_state", "state")):
                    for ident, value in body.pop(key, {}).items():
                        vms[ident][field] = value
                # A model that crashed, restarted or exited meanwhile.
                for ident, fields in body.pop("instance_set", {}).items():
                    instances[ident].update(fields)
                config.update(body)
                return self.reply(200, config)
            if parts == ["v1", "health"] and method == "GET":
                return self.health()
            if args.role == "server" and parts[:2] == ["v1", "instances"]:
                return self.instances(method, parts[2:], body)
            if args.role == "server" and parts[:2] == ["v1", "routes"]:
                return self.routes(method, parts[2:], body)
            if args.role == "client" and parts[:2] == ["v1", "vms"]:
                return self.vms(method, parts[2:], body)
        return self.error(404, "no such endpoint")

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_DELETE(self):
        self.handle_any("DELETE")

    def health(self):
        if args.role == "server":
            running = sum(1 for i in instances.values()
                          if i["state"] == "running")
            return self.reply(200, {"platform": args.platform,
                                    "role": "server",
                                    "models": declared_models(),
                                    "capacity": args.capacity,
                                    "running": running,
                                    "model_tls": config.get(
                                        "model_tls", args.model_tls)})
        return self.reply(200, {"platform": args.platform, "role": "client",
                                "running": len(vms),
                                "model_tls": config.get("model_tls",
                                                        args.model_tls)})

    def instances(self, method, rest, body):
        if not rest and method == "GET":
            return self.reply(200, {"instances": list(instances.values())})
        if not rest and method == "POST":
            counters["instances"] += 1
            if counters["instances"] == args.fail_instance:
                return self.error(500, "injected failure of launch %d"
                                  % args.fail_instance)
            ident = body["id"]
            if ident in instances:
                return self.error(409, "instance exists")
            if body["model"] not in model_names():
                return self.error(400, "model not offered")
            counters["pid"] += 1
            counters["port"] += 1
            if body["transport"] == "tcp" or args.tcp_models:
                address = "tcp:127.0.0.1:%d" % counters["port"]
            else:
                address = "unix:%s/%s.sock" % (args.state, ident)
            console = None
            if body.get("console"):
                path = "%s/%s.console" % (args.state, ident)
                console_server(path, ident)
                console = "unix:" + path
            inst = {"id": ident, "model": body["model"], "state": "running",
                    "pid": counters["pid"], "address": address,
                    "console": console, "restart": body["restart"],
                    "restarts": 0, "exit": None, "bind": body["bind"]}
            if body["model"] == "bochs-display":
                # A display's VNC server, as dm-remote's launcher shows it.
                counters["port"] += 1
                inst["vnc"] = "tcp:127.0.0.1:%d" % counters["port"]
                inst["vnc_password"] = "fakepass"
            instances[ident] = inst
            return self.reply(201, dict(inst, **config["instance_reply"]))
        if len(rest) == 1 and rest[0] in instances:
            if method == "GET":
                return self.reply(200, instances[rest[0]])
            if method == "DELETE":
                inst = instances.pop(rest[0])
                inst["state"] = "stopped"
                return self.reply(200, inst)
        return self.error(404, "no instance")

    def routes(self, method, rest, body):
        router = "unix:%s/router.sock" % args.state
        if not rest and method == "GET":
            return self.reply(200, {"routes": list(routes.values()),
                                    "address": router if routes else None})
        if not rest and method == "POST":
            if config["fail_route"]:
                return self.error(500, "injected failure of the route")
            if not isinstance(body, dict) or not all(
                    isinstance(body.get(k), str)
                    for k in ("id", "device_model", "target")):
                return self.error(400, "bad route")
            if body["id"] in routes:
                return self.error(409, "route exists")
            route = {"id": body["id"], "device_model": body["device_model"],
                     "vm": body.get("vm"), "target": body["target"],
                     "address": router}
            routes[body["id"]] = route
            if config["route_address"] is not None:
                return self.reply(201, dict(route, address=config[
                    "route_address"]))
            return self.reply(201, route)
        if len(rest) == 1 and rest[0] in routes:
            if method == "GET":
                return self.reply(200, routes[rest[0]])
            if method == "DELETE":
                return self.reply(200, routes.pop(rest[0]))
        return self.error(404, "no route")

    def vms(self, method, rest, body):
        if not rest and method == "GET":
            return self.reply(200, {"vms": list(vms.values())})
        if not rest and method == "POST":
            if config["fail_vm"]:
                return self.error(500, "injected failure of the VM launch")
            ident = body["id"]
            if ident in vms:
                return self.error(409, "VM exists")
            if (not isinstance(body["args"], list) or
                    not all(isinstance(a, str) for a in body["args"])):
                return self.error(400, "bad args")
            for name, content in body.get("files", {}).items():
                path = "%s/%s.%s" % (args.state, ident, name)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                             0o600)
                os.write(fd, content.encode())
                os.close(fd)
            counters["pid"] += 1
            vm_args[ident] = body["args"]
            vms[ident] = {"id": ident, "state": "running",
                          "pid": counters["pid"],
                          "qmp": "unix:%s/%s.qmp" % (args.state, ident),
                          "exit": None, "migrations": 0,
                          "status": "inmigrate" if "-incoming" in
                          body["args"] else "running"}
            return self.reply(201, vms[ident])
        if not rest or rest[0] not in vms:
            return self.error(404, "no VM")
        vm = vms[rest[0]]
        if len(rest) == 1 and method == "GET":
            return self.reply(200, vm)
        if len(rest) == 1 and method == "DELETE":
            if config["fail_delete"]:
                return self.error(500, "injected failure of the VM DELETE")
            del vms[rest[0]]
            vm["state"] = "stopped"
            return self.reply(200, vm)
        if rest[1:] == ["qmp"] and method == "POST":
            return self.qmp(vm, body)
        if rest[1:] == ["events"] and method == "GET":
            return self.reply(200, {"events": []})
        return self.error(404, "no such endpoint")

    def qmp(self, vm, body):
        cmd = body.get("execute")
        if vm["state"] != "running":
            return self.error(502, "QEMU is not running")
        if cmd in config["qmp_error"]:
            return self.reply(200, {"error": {
                "class": "GenericError", "desc": config["qmp_error"][cmd]}})
        if cmd == "system_powerdown":
            if config["powerdown_works"]:
                vm["state"] = "exited"
                vm["exit"] = 0
            return self.reply(200, {"return": {}})
        if cmd == "quit":
            vm["state"] = "exited"
            vm["exit"] = 0
            return self.reply(200, {"return": {}})
        if cmd == "query-status":
            return self.reply(200, {"return": {
                "status": vm["status"], "running":
                vm["status"] == "running"}})
        if cmd in ("stop", "cont"):
            vm["status"] = "paused" if cmd == "stop" else "running"
            return self.reply(200, {"return": {}})
        if cmd == "migrate":
            vm["outgoing"] = True
            return self.reply(200, {"return": {}})
        if cmd == "migrate-incoming":
            # A stream from a file completes through query-migrate here;
            # one from a live source is taken as arrived at once.
            uri = body.get("arguments", {}).get("uri", "")
            if not uri.startswith("file:"):
                vm["status"] = "running"
            return self.reply(200, {"return": {}})
        if cmd == "migrate-set-parameters":
            vm.setdefault("params", {}).update(body.get("arguments", {}))
            return self.reply(200, {"return": {}})
        if cmd == "query-remote-devices":
            return self.reply(200, {"return": remote_devices(vm["id"])})
        if cmd in ("migrate_cancel", "set_link"):
            return self.reply(200, {"return": {}})
        if cmd == "query-migrate":
            vm["migrations"] += 1
            if config["migrate_fail"]:
                return self.reply(200, {"return": {
                    "status": "failed", "error-desc": "injected"}})
            if vm["migrations"] < 3 or config["migrate_hold"]:
                done = min(vm["migrations"] * 1000, 3000)
                return self.reply(200, {"return": {
                    "status": "active", "ram": {
                        "transferred": done, "total": 4000,
                        "remaining": 4000 - done}}})
            if vm["status"] == "inmigrate":
                vm["status"] = "paused"     # the saved VM was stopped
            elif vm.get("outgoing"):
                vm["status"] = "postmigrate"
            return self.reply(200, {"return": {"status": "completed"}})
        return self.reply(200, {"error": {"class": "CommandNotFound",
                                          "desc": "no command " + str(cmd)}})


def qemu_opts(text):
    """QEMU's KEY=VALUE,... with ",," for a comma in a value."""
    out, cur = {}, ""
    i = 0
    while i <= len(text):
        if i == len(text) or (text[i] == "," and text[i + 1:i + 2] != ","):
            k, _, v = cur.partition("=")
            out[k] = v
            cur = ""
        elif text[i] == ",":
            cur += ","
            i += 1
        else:
            cur += text[i]
        i += 1
    return out


def remote_devices(ident):
    """query-remote-devices of VM IDENT: one proxy per -remote-device."""
    args = vm_args.get(ident, [])
    out = []
    for i, a in enumerate(args[:-1]):
        if a != "-remote-device":
            continue
        opts = qemu_opts(args[i + 1])
        kind = "dm-proxy-isa" if opts.get("bus") == "isa" else "dm-proxy-pci"
        dev = {"id": opts.get("id", kind), "type": kind,
               "server": opts.get("server", ""), "state": "connected",
               "requests": 0, "errors": 0, "reconnects": 0,
               "doorbells": 0, "ioeventfds": 0, "kicks": 0, "mapped": 0,
               "latency": {"buckets": [0] * 22, "count": 0, "sum-ns": 0}}
        dev.update(config["remote_devices"].get(ident, {}).get(dev["id"], {}))
        out.append(dev)
    return out


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    # /metrics connects for 16 VMs at once: 5, the default, refuses some.
    request_queue_size = 64


class TcpServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--socket", required=True)
    p.add_argument("--role", required=True, choices=["client", "server"])
    p.add_argument("--platform", required=True)
    p.add_argument("--state", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--models", default="edu,edu-msix,uart16550")
    p.add_argument("--capacity", type=int, default=4)
    p.add_argument("--fail-instance", type=int, default=0)
    p.add_argument("--model-tls", action="store_true")
    p.add_argument("--tcp-models", action="store_true")
    p.add_argument("--tcp-port", type=int, default=0)
    args = p.parse_args()
    os.makedirs(args.state, exist_ok=True)
    if args.tcp_port:
        # On tcp:127.0.0.1:PORT; --socket is created once it listens.
        srv = TcpServer(("127.0.0.1", args.tcp_port), Handler)
        open(args.socket, "w").close()
        srv.serve_forever()
        return 0
    if os.path.exists(args.socket):
        os.unlink(args.socket)
    # Bound and listening under another name, then renamed: the tests
    # wait for the socket's name, which bind() makes a moment before
    # listen() (a platform added then was refused under load).
    srv = Server(args.socket + ".new", Handler)
    os.rename(args.socket + ".new", args.socket)
    try:
        srv.serve_forever()
    finally:
        os.unlink(args.socket)


if __name__ == "__main__":
    sys.exit(main())
