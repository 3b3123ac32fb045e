"""The grading harness of `code-python-v0`. It runs INSIDE a sandbox, on the sandbox's own python3, with
the standard library only; the host passes this file's text with `python3 -I -S -c`, so it is never on disk
where candidate code could rewrite it.

stdin: line 1 is a random nonce; the rest is one JSON object
    {"source": str, "entry": str, "tests": [wire args, ...], "deadline_s": float, "load_deadline_s": float,
     "child_memory_bytes": int, "child_nproc": int, "give_up_after": int, "capture_bytes": int,
     "max_value_bytes": int}
stdout: one frame per line, `<nonce> <json>`:
    {"k": "start", "protected": bool}        the harness read its input and made itself non-dumpable
    {"k": "spawn"}                           from here on candidate code may be running
    {"k": "result", "i": int, "status": str, "value": wire|null, "detail": str, "t": float}
    {"k": "end", "stdout": str, "stderr": str}
    {"k": "error", "detail": str}            the harness itself failed (then it exits with HARNESS_ERROR_EXIT)

The harness never sees expected values: it only calls `entry` on each test's arguments in a child process
(fresh `python3 -I -S`, its own session, only two pipes, rlimits on memory/processes/file size) and relays
what the child answered, after checking it is well-formed wire data. Per-test deadlines are enforced here;
the host judges values and time limits. Statuses: ok, exception, unserialisable, timeout, crash, load_error,
load_timeout, protocol, too_large, output_flood, spawn_failed, not_run.
"""

import ctypes
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time

HARNESS_ERROR_EXIT = 3
RESOURCES_EXHAUSTED_EXIT = 4  # no end frame: the host fails the remaining tests (the candidate's doing)
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
CAPTURE_FILE_CAP = 1 << 20  # the run tool: a child writing more output than this is killed (output_flood)

# The child: loads the candidate module from its request pipe, then answers one call per request line.
CHILD = r'''
import os, sys, resource
def main():
    rfd, wfd, mem, nproc, fsize = (int(a) for a in sys.argv[1:6])
    if mem > 0:
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    if nproc > 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    if fsize > 0:
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    import json
    rf = os.fdopen(rfd, "rb")
    wf = os.fdopen(wfd, "wb")
    def send(obj):
        wf.write(json.dumps(obj, separators=(",", ":")).encode() + b"\n")
        wf.flush()
    class Unserialisable(Exception):
        pass
    def enc(v, depth=0):
        if depth > 100:
            raise Unserialisable("nesting deeper than 100 levels")
        t = type(v)
        if v is None:
            return ["n"]
        if t is bool:
            return ["b", v]
        if t is int:
            return ["i", str(v)]
        if t is float:
            return ["f", v.hex()]
        if t is str:
            return ["s", v]
        if t is list:
            return ["l", [enc(x, depth + 1) for x in v]]
        if t is tuple:
            return ["t", [enc(x, depth + 1) for x in v]]
        if t is dict:
            out = []
            for k, x in v.items():
                if type(k) is not str:
                    raise Unserialisable("a dict key of type " + type(k).__name__)
                out.append([k, enc(x, depth + 1)])
            return ["d", out]
        raise Unserialisable("a value of type " + t.__name__)
    def dec(w):
        tag = w[0]
        if tag == "n": return None
        if tag == "b": return bool(w[1])
        if tag == "i": return int(w[1])
        if tag == "f": return float.fromhex(w[1])
        if tag == "s": return str(w[1])
        if tag == "l": return [dec(x) for x in w[1]]
        if tag == "t": return tuple(dec(x) for x in w[1])
        if tag == "d": return {k: dec(x) for k, x in w[1]}
        raise ValueError("bad wire tag")
    setup = json.loads(rf.readline())
    ns = {"__name__": "solution"}
    try:
        exec(compile(setup["source"], "solution.py", "exec"), ns)
        fn = ns.get(setup["entry"])
        if not callable(fn):
            raise NameError("solution.py defines no function " + repr(setup["entry"]))
    except BaseException as e:
        send({"load_error": type(e).__name__ + ": " + str(e)[:500]})
        return
    send({"ready": True})
    while True:
        line = rf.readline()
        if not line:
            return
        try:
            args = dec(json.loads(line))
            value = fn(*args)
        except BaseException as e:
            send({"exc": type(e).__name__ + ": " + str(e)[:300]})
            continue
        try:
            payload = {"ok": enc(value)}
        except (Unserialisable, ValueError, RecursionError) as e:
            payload = {"unser": str(e)[:300]}
        send(payload)
main()
'''


class Harness:
    def __init__(self, nonce, job, out):
        self.nonce, self.job, self.out = nonce, job, out
        self.child = None
        self.rbuf = b""
        self.spawned = False
        self.capture = None

    def emit(self, **frame):
        self.out.write((self.nonce + " " + json.dumps(frame, separators=(",", ":")) + "\n").encode())
        self.out.flush()

    # --- processes -------------------------------------------------------------------------------------
    def spawn(self):
        """Start a child and load the candidate; returns None when ready, else (status, detail)."""
        if not self.spawned:
            self.spawned = True
            self.emit(k="spawn")
        job = self.job
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        flags = ["-I", "-S", "-u"] if job["capture_bytes"] > 0 else ["-I", "-S"]  # -u: output survives a kill
        argv = [sys.executable, *flags, "-c", CHILD, str(req_r), str(resp_w), str(job["child_memory_bytes"]),
                str(job["child_nproc"]), str(CAPTURE_FILE_CAP if job["capture_bytes"] > 0 else 0)]
        out = err = subprocess.DEVNULL
        if job["capture_bytes"] > 0:
            if self.capture is None:
                try:  # anonymous files: nothing on disk that earlier code could have planted or can rename
                    self.capture = (tempfile.TemporaryFile(), tempfile.TemporaryFile())
                except OSError:
                    self.capture = ()
            if self.capture:
                out, err = self.capture
        proc = None
        for attempt in range(5):
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                        pass_fds=(req_r, resp_w), start_new_session=True, close_fds=True)
                break
            except OSError as exc:  # EAGAIN: leftovers of a fork bomb still hold the process slots
                self.kill_all()
                time.sleep(0.05 * (attempt + 1))
                failure = str(exc)
        for fd in (req_r, resp_w):
            os.close(fd)
        if proc is None:
            os.close(req_w)
            os.close(resp_r)
            return "spawn_failed", failure[:300]
        self.child = (proc, req_w, resp_r)
        self.rbuf = b""
        setup = json.dumps({"source": job["source"], "entry": job["entry"]}).encode() + b"\n"
        deadline = time.monotonic() + job["load_deadline_s"]
        if not self.write(setup, deadline):
            return self.failed("load_timeout", "did not read its source before the deadline")
        line, why = self.read_line(deadline)
        if line is None:
            status = {"timeout": "load_timeout", "too_large": "protocol"}.get(why, "load_error")
            return self.failed(status, why if why != "eof" else self.death("while loading"))
        try:
            msg = json.loads(line)
        except ValueError:
            return self.failed("protocol", "the child's first message is not JSON")
        if isinstance(msg, dict) and msg.get("ready") is True and len(msg) == 1:
            return None
        detail = msg.get("load_error") if isinstance(msg, dict) else None
        return self.failed("load_error", detail if isinstance(detail, str) else "unexpected first message")

    def failed(self, status, detail):
        self.kill_all()
        return status, str(detail)[:500]

    def death(self, when):
        proc = self.child[0] if self.child else None
        if proc is None:
            return "the child ended " + when
        try:
            code = proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return "the child closed its pipe " + when
        if code < 0:
            return "the child was killed by signal %d %s" % (-code, when)
        return "the child exited with code %d %s" % (code, when)

    def exit_signal(self):
        proc = self.child[0] if self.child else None
        if proc is None:
            return None
        try:
            code = proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return None
        return -code if code < 0 else None

    def descendants(self):
        me = os.getpid()
        parents = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % name, "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rfind(b")") + 2:].split()
            parents[int(name)] = int(fields[1])
        found, frontier = set(), {me}
        while frontier:
            nxt = {pid for pid, ppid in parents.items() if ppid in frontier and pid not in found and pid != me}
            found |= nxt
            frontier = nxt
        return found

    def kill_all(self):
        """Kill the child and everything it started (orphans come back to us: we are a subreaper)."""
        if self.child is not None:
            proc, req_w, resp_r = self.child
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
        for _ in range(200):
            pids = self.descendants()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            self.reap()
        self.reap()
        if self.child is not None:
            proc, req_w, resp_r = self.child
            for fd in (req_w, resp_r):
                try:
                    os.close(fd)
                except OSError:
                    pass
            try:
                proc.wait(timeout=1.0)
            except (subprocess.TimeoutExpired, ChildProcessError):
                pass
            self.child = None

    @staticmethod
    def reap():
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return

    # --- pipes -----------------------------------------------------------------------------------------
    def write(self, data, deadline):
        fd = self.child[1]
        view = memoryview(data)
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            _, ready, _ = select.select([], [fd], [], left)
            if not ready:
                return False
            try:
                n = os.write(fd, view[:65536])
            except (BrokenPipeError, OSError):
                return False
            view = view[n:]
        return True

    def read_line(self, deadline):
        """(line, None) or (None, why) with why in timeout | eof | too_large."""
        fd = self.child[2]
        cap = self.job["max_value_bytes"]
        while b"\n" not in self.rbuf:
            if len(self.rbuf) > cap:
                return None, "too_large"
            left = deadline - time.monotonic()
            if left <= 0:
                return None, "timeout"
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None, "timeout"
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return None, "eof"
            self.rbuf += chunk
        line, _, self.rbuf = self.rbuf.partition(b"\n")
        if len(line) > cap:
            return None, "too_large"
        return line, None

    # --- one test --------------------------------------------------------------------------------------
    def call(self, args):
        """(status, wire value or None, detail, seconds)."""
        request = json.dumps(args, separators=(",", ":")).encode() + b"\n"
        start = time.perf_counter()
        deadline = time.monotonic() + self.job["deadline_s"]
        if not self.write(request, deadline):
            status, detail = self.failed("timeout", "did not read its arguments before the deadline")
            return status, None, detail, time.perf_counter() - start
        line, why = self.read_line(deadline)
        took = time.perf_counter() - start
        if line is None:
            if why == "timeout":
                self.kill_all()
                return "timeout", None, "killed at the per-test deadline of %.3f s" % self.job["deadline_s"], took
            if why == "too_large":
                self.kill_all()
                return "too_large", None, "the answer exceeds %d bytes" % self.job["max_value_bytes"], took
            sig = self.exit_signal()
            detail = self.death("during the call")
            self.kill_all()
            status = "output_flood" if sig == signal.SIGXFSZ else "crash"
            return status, None, detail, took
        try:
            msg = json.loads(line)
        except ValueError:
            return "protocol", None, "the child's answer is not JSON", took
        if not isinstance(msg, dict) or len(msg) != 1:
            return "protocol", None, "the child's answer is not a one-key object", took
        (key, value), = msg.items()
        if key == "ok":
            problem = check_wire(value, 0)
            if problem is not None:
                return "protocol", None, problem, took
            return "ok", value, "", took
        if key == "exc" and isinstance(value, str):
            return "exception", None, value[:300], took
        if key == "unser" and isinstance(value, str):
            return "unserialisable", None, value[:300], took
        return "protocol", None, "unknown answer key %r" % key[:40], took

    def run(self):
        job = self.job
        failures = 0
        load_failure = None
        for i, args in enumerate(job["tests"]):
            if load_failure is not None:
                self.emit(k="result", i=i, status=load_failure[0], value=None, detail=load_failure[1], t=0.0)
                continue
            if failures >= job["give_up_after"]:
                self.emit(k="result", i=i, status="not_run", value=None,
                          detail="skipped after %d failed calls" % failures, t=0.0)
                continue
            if self.child is None:
                problem = self.spawn()
                if problem is not None:
                    if problem[0] == "spawn_failed" and failures:
                        failures += 1
                        self.emit(k="result", i=i, status=problem[0], value=None, detail=problem[1], t=0.0)
                        continue
                    if problem[0] == "spawn_failed":
                        raise RuntimeError("could not start the first child: " + problem[1])
                    load_failure = problem
                    self.emit(k="result", i=i, status=problem[0], value=None, detail=problem[1], t=0.0)
                    continue
            status, value, detail, took = self.call(args)
            if status in ("timeout", "crash", "too_large", "output_flood", "protocol"):
                failures += 1
                if status == "protocol":
                    self.kill_all()
            self.emit(k="result", i=i, status=status, value=value, detail=detail, t=took)
        self.kill_all()
        files = self.capture or (None, None)
        self.emit(k="end", stdout=tail(files[0], job["capture_bytes"]), stderr=tail(files[1], job["capture_bytes"]))


def check_wire(w, depth):
    """None when `w` is well-formed wire data, else what is wrong (the host checks again, strictly)."""
    if depth > 101:
        return "nesting too deep"
    if not isinstance(w, list) or not w or not isinstance(w[0], str):
        return "malformed value"
    tag = w[0]
    if tag == "n":
        return None if len(w) == 1 else "malformed none"
    if len(w) != 2:
        return "malformed value"
    v = w[1]
    if tag == "b":
        return None if isinstance(v, bool) else "malformed bool"
    if tag in ("i", "f", "s"):
        return None if isinstance(v, str) else "malformed scalar"
    if tag in ("l", "t"):
        if not isinstance(v, list):
            return "malformed sequence"
        for x in v:
            p = check_wire(x, depth + 1)
            if p:
                return p
        return None
    if tag == "d":
        if not isinstance(v, list):
            return "malformed dict"
        for item in v:
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
                return "malformed dict item"
            p = check_wire(item[1], depth + 1)
            if p:
                return p
        return None
    return "unknown tag"


def tail(f, cap):
    """The first `cap` characters a capture file received."""
    if cap <= 0 or f is None:
        return ""
    try:
        f.seek(0)
        data = f.read(cap + 1)
    except OSError:
        return ""
    text = data[:cap].decode("utf-8", "replace")
    return text + ("\n[... output truncated]" if len(data) > cap else "")


def protect():
    """Make this process non-dumpable (candidate code cannot open /proc/<us>/mem or /fd) and a subreaper."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        ok = libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        return ok
    except (OSError, AttributeError):
        return False


def main():
    out = sys.stdout.buffer
    protected = protect()
    nonce = sys.stdin.buffer.readline().decode().strip()
    if len(nonce) < 16:
        sys.stderr.write("harness: no nonce on stdin\n")
        return HARNESS_ERROR_EXIT
    harness = None
    try:
        job = json.loads(sys.stdin.buffer.read())
        sys.stdin.close()
        harness = Harness(nonce, job, out)
        harness.emit(k="start", protected=protected)
        harness.run()
        return 0
    except BaseException as exc:  # the harness's own failure: the host drops the episode ...
        if harness is not None:
            try:
                harness.kill_all()
            except BaseException:
                pass
            if harness.spawned and isinstance(exc, (MemoryError, OSError)):
                return RESOURCES_EXHAUSTED_EXIT  # ... unless candidate code ran and exhausted memory/disk/pids
        Harness(nonce, {}, out).emit(k="error", detail="%s: %s" % (type(exc).__name__, exc))
        return HARNESS_ERROR_EXIT


if __name__ == "__main__":
    sys.exit(main())
