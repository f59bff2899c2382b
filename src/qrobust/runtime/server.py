"""A warm job server: each job runs in a fork of a process that has torch imported already.

Importing torch, torchvision and scipy costs a job 3-5 s on a 2-core machine, more than many
jobs' own work. The first `qrobust <job>` starts this server (one per user, Python, package
location and set of installed packages); it imports the heavy libraries once and then forks one
child per job. The client passes its stdin, stdout and stderr (as file descriptors), argv, working
directory and environment; the child runs the job exactly as `qrobust <job>` would in-process and
sends back its exit status. qrobust's own modules are imported fresh in every child, so an edited
source file is what runs. If the client dies (Snakemake cancelled the job), the child kills itself.
The server exits after `QROBUST_SERVER_IDLE` seconds without a job (default 120).

`QROBUST_SERVER=0` runs every job in-process, as before. Anything that fails on the way to the
server (no socket support, a start that times out) falls back to in-process, so the server only
ever changes how fast a job starts, never what it computes (tests/runtime/test_server.py).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# imported once by the server; qrobust's modules are not (they are imported fresh per job)
PRELOAD = ("torch", "torchvision", "numpy", "pandas", "scipy.stats", "matplotlib", "yaml", "jsonschema", "tqdm")
_IMPORT_TIME_ENV = ("OMP_", "MKL_", "KMP_", "OPENBLAS_", "GOTO_", "VECLIB_", "NUMEXPR_", "CUDA_", "NVIDIA_",
                    "TORCH", "PYTORCH", "PYTHON", "LD_", "MPLBACKEND",
                    # the CPU kernels torch and oneDNN pick once per process (ATEN_CPU_CAPABILITY=avx2, ...)
                    "ATEN_", "ONEDNN_", "DNNL_")
_HEADER = struct.Struct("!Q")
_RC = struct.Struct("!i")


def enabled() -> bool:
    return os.environ.get("QROBUST_SERVER", "1") != "0" and hasattr(socket, "send_fds")


def _identity() -> str:
    """What makes two processes interchangeable: the same code and the same installed packages."""
    pkg = Path(__file__).resolve().parent
    sites = [p for p in sys.path if p.endswith("-packages") and os.path.isdir(p)]
    # variables that libraries read once, at import or load time (thread pools, visible GPUs)
    env = sorted((k, v) for k, v in os.environ.items() if k.startswith(_IMPORT_TIME_ENV))
    ident = [os.path.realpath(sys.executable), sys.prefix, str(pkg), os.environ.get("PYTHONPATH", ""),
             os.stat(__file__).st_mtime_ns, [(s, os.stat(s).st_mtime_ns) for s in sites], os.getuid(),
             socket.gethostname(), env]
    return hashlib.sha256(json.dumps(ident).encode()).hexdigest()[:16]


def _paths() -> tuple[Path, Path]:
    d = Path(tempfile.gettempdir()) / f"qrobust-{os.getuid()}"
    d.mkdir(mode=0o700, exist_ok=True)
    ident = _identity()
    return d / f"{ident}.sock", d / f"{ident}.lock"


def _connect(path: Path) -> socket.socket | None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(str(path))
        return s
    except OSError:
        s.close()
        return None


def _start(sock_path: Path, lock_path: Path, wait_s: float = 60.0) -> socket.socket | None:
    """Connect, starting the server first if none answers (one starter at a time)."""
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        conn = _connect(sock_path)
        if conn is not None:
            return conn
        ready_r, ready_w = os.pipe()
        subprocess.Popen([sys.executable, "-m", "qrobust.runtime.server", str(sock_path), str(ready_w)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, pass_fds=(ready_w,), env=dict(os.environ))
        os.close(ready_w)
        try:  # the server writes one byte once it listens (or closes the pipe if it failed)
            import select

            ok = select.select([ready_r], [], [], wait_s)[0] and os.read(ready_r, 1) == b"1"
        finally:
            os.close(ready_r)
        return _connect(sock_path) if ok else None


def run_client(argv: list[str]) -> int | None:
    """Run `qrobust <argv>` in a fork of the server; None when no server can be had (run in-process)."""
    try:
        sock_path, lock_path = _paths()
        conn = _connect(sock_path) or _start(sock_path, lock_path)
    except OSError:
        return None
    if conn is None:
        return None
    with conn:
        payload = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "path": sys.path}).encode()
        try:
            socket.send_fds(conn, [_HEADER.pack(len(payload))], [0, 1, 2])
            conn.sendall(payload)
        except OSError:
            return None  # nothing ran yet: in-process is safe
        data = b""
        while len(data) < _RC.size:
            chunk = conn.recv(_RC.size - len(data))
            if not chunk:
                print("qrobust: error: the job's process ended without an exit status (killed?); "
                      "rerun it with QROBUST_SERVER=0 to see it in-process", file=sys.stderr)
                return 1
            data += chunk
        return _RC.unpack(data)[0]


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("client went away")
        buf += chunk
    return buf


def _child(conn: socket.socket) -> None:
    """In the forked child: become the client's job, run it, report its exit status."""
    rc = 1
    try:
        head, fds, _, _ = socket.recv_fds(conn, _HEADER.size, 3)
        head += _recv_exact(conn, _HEADER.size - len(head))
        req = json.loads(_recv_exact(conn, _HEADER.unpack(head)[0]))
        for i, fd in enumerate(fds):
            os.dup2(fd, i)
            os.close(fd)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        sys.argv = ["qrobust", *req["argv"]]
        sys.path[:] = req["path"]  # the client's import path (its script folder first), not the server's
        tempfile.tempdir = None  # re-read TMPDIR from the client's environment
        for name in [m for m in sys.modules if m == "qrobust" or m.startswith("qrobust.")]:
            del sys.modules[name]  # the job runs today's source files, not the server's
        import importlib

        importlib.invalidate_caches()

        def watch() -> None:  # the client went away (Snakemake cancelled the job): stop too
            try:
                while conn.recv(1):
                    pass
            except OSError:
                pass
            os.kill(os.getpid(), signal.SIGKILL)

        threading.Thread(target=watch, daemon=True).start()
        try:
            from qrobust.runtime.dispatch import run_here

            rc = int(run_here(req["argv"]) or 0)
        except SystemExit as e:  # argparse
            rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            if not isinstance(e.code, int) and e.code is not None:
                print(e.code, file=sys.stderr)
        except BaseException:
            import traceback

            traceback.print_exc()
            rc = 1
        sys.stdout.flush()
        sys.stderr.flush()
        conn.sendall(_RC.pack(rc))
    finally:
        os._exit(rc if isinstance(rc, int) else 1)


def serve(sock_path: str, ready_fd: int | None = None) -> None:
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass
    idle_s = float(os.environ.get("QROBUST_SERVER_IDLE", "120"))
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.unlink(sock_path)  # a dead server's socket (the starter holds the lock: none is alive)
    except FileNotFoundError:
        pass
    srv.bind(sock_path)
    ino = os.stat(sock_path).st_ino
    srv.listen(64)
    srv.settimeout(1.0)
    if ready_fd is not None:
        os.write(ready_fd, b"1")
        os.close(ready_fd)
    last = time.monotonic()
    try:
        while time.monotonic() - last < idle_s:
            try:
                while os.waitpid(-1, os.WNOHANG)[0]:
                    pass
            except ChildProcessError:
                pass
            try:
                conn, _ = srv.accept()
            except socket.timeout:
                continue
            last = time.monotonic()
            conn.settimeout(None)
            if os.fork() == 0:
                srv.close()
                _child(conn)
            conn.close()
    finally:
        # only remove the socket if it is still ours (a newer server may have replaced it)
        try:
            if os.stat(sock_path).st_ino == ino:
                os.unlink(sock_path)
        except OSError:
            pass
        srv.close()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else None)
