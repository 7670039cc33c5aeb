"""The supervisor of an emulated vboard: runs QEMU (the command `vboard start --emulate` prepared), writes
run.json with QEMU's pty once the board is up, and stops QEMU when it is told to stop. The firmware soft-resets
on its own (Ctrl-D in the REPL), so unlike the unix-port supervisor this one never restarts the interpreter.

    python -m hyperion_host.device.vboard.emulated --state-dir DIR --command JSON"""

import argparse
import json
import os
import signal
import subprocess
import sys

from hyperion_host.device.qemu import START_TIMEOUT, wait_for_pty
from hyperion_host.errors import HyperionError


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--command", required=True, help="the QEMU command line, as a JSON list")
    a = ap.parse_args(argv)
    proc = subprocess.Popen(json.loads(a.command), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)

    def stop(*_):
        proc.kill()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    run = os.path.join(a.state_dir, "run.json")
    try:
        port = wait_for_pty(proc, START_TIMEOUT)
    except HyperionError as e:
        print(e.format_message(), flush=True)
        return 1
    tmp = run + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"pid": os.getpid(), "interp_pid": proc.pid, "port": port, "emulated": True}, f)
    os.replace(tmp, run)
    print("QEMU %d serves the board on %s" % (proc.pid, port), flush=True)
    for line in proc.stdout:  # QEMU's own messages, into the log
        sys.stdout.write(line.decode(errors="replace"))
        sys.stdout.flush()
    code = proc.wait()
    print("QEMU exited with status %d" % code, flush=True)
    try:
        os.unlink(run)
    except FileNotFoundError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
