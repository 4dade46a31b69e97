"""Drives `saliency-repl kernel` the way Jupyter front ends do (jupyter_client, nbclient).

    python3 kernel_driver.py protocol BINARY WORKDIR            messaging checks
    python3 kernel_driver.py notebook BINARY WORKDIR NOTEBOOK   runs a notebook with nbclient

Both install the kernelspec into WORKDIR/prefix with `BINARY kernel install --prefix` and
find it through JUPYTER_PATH, as `jupyter kernelspec list` does. Run from the repository
root (cells load models/...). Prints one line per check and exits 1 when any fails.
Test tooling only: scripts/bootstrap --python-test-tools installs jupyter_client, nbformat,
nbclient.
"""
import base64
import contextlib
import json
import os
import signal
import struct
import subprocess
import sys
import time

import zmq
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.session import Session

results = []


def check(name, ok, detail=""):
    results.append((name, bool(ok)))
    print(("ok      " if ok else "FAILING ") + name + ("" if ok else ": " + str(detail)), flush=True)


def finish():
    failing = sum(1 for _, ok in results if not ok)
    print(f"kernel checks: {len(results) - failing} ok, {failing} failing", flush=True)
    sys.exit(1 if failing or not results else 0)


def install(binary, workdir):
    prefix = os.path.join(workdir, "prefix")
    out = subprocess.run([binary, "kernel", "install", "--prefix", prefix], capture_output=True, text=True)
    check("kernel install --prefix", out.returncode == 0 and "installed kernelspec" in out.stdout, out.stderr + out.stdout)
    os.environ["JUPYTER_PATH"] = os.path.join(prefix, "share", "jupyter")
    listing = subprocess.run([sys.executable, "-m", "jupyter", "kernelspec", "list", "--json"], capture_output=True, text=True)
    specs = json.loads(listing.stdout or "{}").get("kernelspecs", {}) if listing.returncode == 0 else {}
    check("jupyter kernelspec list shows it", "saliency-repl" in specs, listing.stderr or listing.stdout)
    spec = specs.get("saliency-repl", {}).get("spec", {})
    check("kernelspec language", spec.get("language") == "sal", spec)
    return KernelSpecManager()


def png_size(b64):
    """Width and height from the IHDR chunk of a PNG, or None when it is not a PNG."""
    data = base64.b64decode(b64)
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


class Driver:
    def __init__(self, km, kc):
        self.km, self.kc = km, kc

    def run(self, code, timeout=120):
        """Executes a cell; returns (reply content, iopub messages of the request)."""
        msg_id = self.kc.execute(code)
        return self.collect(msg_id, timeout)

    def collect(self, msg_id, timeout):
        outputs, deadline = [], time.time() + timeout
        while time.time() < deadline:
            try:
                msg = self.kc.get_iopub_msg(timeout=1)
            except Exception:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            outputs.append(msg)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        reply = self.kc.get_shell_msg(timeout=max(1, deadline - time.time()))
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self.kc.get_shell_msg(timeout=max(1, deadline - time.time()))
        return reply["content"], outputs


def of_type(outputs, kind):
    return [m["content"] for m in outputs if m["msg_type"] == kind]


def protocol(binary, workdir):
    ksm = install(binary, workdir)
    km = KernelManager(kernel_name="saliency-repl", kernel_spec_manager=ksm)
    km.start_kernel(cwd=os.getcwd())
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        d = Driver(km, kc)
        info = kc.kernel_info(reply=True, timeout=10)["content"]
        check("kernel_info", info["language_info"]["name"] == "sal" and info["protocol_version"] == "5.3", info)

        reply, out = d.run("let x = 1 + 2")
        states = [m["content"]["execution_state"] for m in out if m["msg_type"] == "status"]
        check("assignment: status ok", reply["status"] == "ok", reply)
        check("busy/idle around the request", states == ["busy", "idle"], states)
        check("execute_input", of_type(out, "execute_input")[0]["code"] == "let x = 1 + 2", out)
        reply, out = d.run("x * 2")
        result = of_type(out, "execute_result")
        check("value as execute_result", result and result[0]["data"]["text/plain"] == "6", out)

        reply, out = d.run('print("hello", x)')
        streams = of_type(out, "stream")
        check("print on stream stdout", streams and streams[0]["name"] == "stdout" and streams[0]["text"] == "hello 3\n", out)

        d.run('let m = model("models/lenet-fmnist.onnx")\nlet data = dataset("fashion-mnist", split: "test", limit: 2)')
        reply, out = d.run('let maps = explain(m, data, ["gradient", "gradcam"], layer: "conv2")\nmaps["gradcam"]')
        result = of_type(out, "execute_result")
        size = png_size(result[0]["data"]["image/png"]) if result and "image/png" in result[0]["data"] else None
        check("explain: status ok", reply["status"] == "ok", reply)
        check("map as image/png at a readable size", size is not None and min(size) >= 200, size or out)

        reply, out = d.run('show(maps["gradient"], over: data)')
        shown = of_type(out, "display_data")
        size = png_size(shown[0]["data"]["image/png"]) if shown and "image/png" in shown[0]["data"] else None
        check("show(...) as display_data image/png", reply["status"] == "ok" and size is not None, out)

        reply, out = d.run('table([{method: "gradient", score: 0.5}])')
        result = of_type(out, "execute_result")
        check("table as text/html", result and "<table>" in result[0]["data"].get("text/html", ""), out)

        comp = kc.complete("expl", 4, reply=True, timeout=10)["content"]
        check("complete expl -> explain", "explain" in comp["matches"] and comp["cursor_start"] == 0, comp)
        insp = kc.inspect("explain", 4, reply=True, timeout=10)["content"]
        check("inspect shows help", insp["found"] and "explain(" in insp["data"]["text/plain"], insp)
        kc.is_complete("for i in 0..<3 {")
        isc = kc.get_shell_msg(timeout=10)["content"]
        check("is_complete: open block", isc["status"] == "incomplete", isc)

        reply, out = d.run("let y = 1\nlet z = y + nope")
        errors = of_type(out, "error")
        traceback = "\n".join(reply.get("traceback", []))
        check("error: ename", reply["status"] == "error" and reply.get("ename") and errors, reply)
        check("error: line:col and caret", ":2:13: error:" in traceback and "\n            ^" in traceback, traceback)

        hist = kc.history(hist_access_type="tail", n=2, reply=True, timeout=10)["content"]
        check("history", hist["status"] == "ok" and len(hist["history"]) == 2, hist)

        long_cell = "let n = 0\nfor i in 0..<1000000000 { n = n + 1 }"
        for how in ["interrupt_request", "SIGINT"]:
            msg_id = kc.execute(long_cell)
            time.sleep(1.5)
            if how == "SIGINT":
                check("heartbeat answers while a cell runs", heartbeat_echoes(kc), "no echo")
            started = time.time()
            if how == "SIGINT":
                os.kill(km.provisioner.process.pid, signal.SIGINT)
            else:
                km.interrupt_kernel()  # interrupt_mode "message": a control request
            reply, _ = d.collect(msg_id, 30)
            check(f"{how} cancels a long cell", reply.get("ename") == "Interrupted" and time.time() - started < 10, reply)
            reply, out = d.run("n > 0")
            result = of_type(out, "execute_result")
            check(f"kernel usable after {how}", result and result[0]["data"]["text/plain"] == "true", out)

        forged_is_ignored(kc)
        orphan_leaves()

        started = time.time()
        km.shutdown_kernel(now=False)
        check("shutdown_request ends the kernel", not km.is_alive() and time.time() - started < 4, time.time() - started)
    finally:
        kc.stop_channels()
        if km.is_alive():
            km.shutdown_kernel(now=True)
    finish()


@contextlib.contextmanager
def own_socket(kc, kind, port):
    """A socket of our own to one of the kernel's channels, beside the client's."""
    info = kc.get_connection_info()
    ctx = zmq.Context()
    sock = ctx.socket(kind)
    sock.linger = 0
    sock.connect(f"tcp://{info['ip']}:{info[port]}")
    try:
        yield sock, info
    finally:
        sock.close()
        ctx.term()


def heartbeat_echoes(kc):
    with own_socket(kc, zmq.REQ, "hb_port") as (sock, _):
        sock.send(b"ping-42")
        return sock.poll(3000) and sock.recv() == b"ping-42"


def forged_is_ignored(kc):
    """A message signed with the wrong key gets no reply and runs nothing; the same request
    signed with the right key, on the same socket, is answered."""
    with own_socket(kc, zmq.DEALER, "shell_port") as (sock, info):
        forger = Session(key=b"not the key", signature_scheme="hmac-sha256")
        forger.send(sock, "execute_request", {"code": 'let forged = 1\nprint("forged")', "silent": False,
                                               "store_history": True, "user_expressions": {}, "allow_stdin": False})
        answered = sock.poll(2000)
        check("badly signed message ignored", not answered, "the kernel replied to a forged message")
        honest = Session(key=info["key"], signature_scheme=info["signature_scheme"])
        honest.send(sock, "execute_request", {"code": "forged", "silent": False, "store_history": True,
                                               "user_expressions": {}, "allow_stdin": False})
        if sock.poll(10000):
            reply = honest.recv(sock, mode=0)[1]
            check("the forged cell did not run", "forged" in reply["content"].get("evalue", ""), reply["content"])
        else:
            check("the forged cell did not run", False, "no reply to a well signed request")


def orphan_leaves():
    """A front end killed without a shutdown request leaves no kernel behind."""
    starter = ("import os; from jupyter_client import KernelManager\n"
               "km = KernelManager(kernel_name='saliency-repl'); km.start_kernel()\n"
               "print(km.provisioner.process.pid, flush=True); os._exit(0)")
    # Only the first line is read: the kernel inherits the pipe and keeps it open.
    proc = subprocess.Popen([sys.executable, "-c", starter], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    pid = int(proc.stdout.readline().split()[0])
    proc.wait(timeout=60)
    proc.stdout.close()
    deadline = time.time() + 15
    while time.time() < deadline and running(pid):
        time.sleep(0.2)
    gone = not running(pid)
    if not gone:
        os.kill(pid, signal.SIGKILL)
    check("an orphaned kernel exits", gone, f"pid {pid} still running")


def running(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def notebook(binary, workdir, path):
    import nbformat
    from nbclient import NotebookClient

    install(binary, workdir)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name="saliency-repl", timeout=600,
                            resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}})
    client.execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    expected = [c for c in code if "raises-exception" in c.metadata.get("tags", [])]
    errors = [o for c in code if c not in expected for o in c.outputs if o.output_type == "error"]
    check("notebook runs without errors", not errors, errors[:1])
    check("cells tagged raises-exception raise", all(any(o.output_type == "error" for o in c.outputs) for c in expected), "")
    outputs = [o for c in code for o in c.outputs]
    pngs = [o.data["image/png"] for o in outputs if o.output_type in ("display_data", "execute_result") and "image/png" in o.data]
    check("notebook shows maps", len(pngs) >= 2 and all(png_size(p) for p in pngs), len(pngs))
    check("every code cell ran", all(c.execution_count for c in nb.cells if c.cell_type == "code"), "")
    out = os.path.join(workdir, "executed.ipynb")
    nbformat.write(nb, out)
    print("executed notebook: " + out)
    finish()


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "protocol":
        protocol(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 5 and sys.argv[1] == "notebook":
        notebook(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
