"""The interpreter that runs inside a sandbox, one per container, keeping its state between calls.

This file is not imported by the server: its source is handed to the sandbox's Python with `-c`,
so it imports only the standard library. It lowers its own resource limits before running any
code (what it lowers, the code it runs cannot raise again), then answers one request a line:
requests come on one inherited pipe, answers go out on another, each a JSON object. The server trusts nothing it
says beyond the text of the call's output: files and images are read from the disk by the server.
"""

import ast
import json
import os
import resource
import signal
import sys
import traceback

OUTPUTS_DIR = "/mnt/outputs"
CELL = "<cell>"


class CPUTimeExceeded(BaseException):
    """The call used the CPU time it was given (SIGXCPU at the soft RLIMIT_CPU)."""


def _on_sigxcpu(signum: int, frame: object) -> None:
    raise CPUTimeExceeded(f"CPU time limit exceeded (signal {signum})")


def _lower_limits(limits: dict) -> None:
    for name, value in limits.items():
        number = getattr(resource, name)
        resource.setrlimit(number, (value, value))


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _give_call_cpu(seconds: float) -> None:
    """Soft RLIMIT_CPU at what this process used so far plus the call's budget, under the hard one."""
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(_cpu_used() + seconds) + 1
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _run_cell(code: str, namespace: dict) -> None:
    """Run code like a notebook cell: a last expression's value is printed."""
    tree = ast.parse(code, CELL, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, CELL, "exec"), namespace)
    if last is not None:
        value = eval(compile(last, CELL, "eval"), namespace)
        if value is not None:
            print(repr(value))


def _save_figures(call: int) -> None:
    """Open matplotlib figures become PNG images, as a notebook shows them; then they are closed."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return
    for number in pyplot.get_fignums():
        pyplot.figure(number).savefig(f"{OUTPUTS_DIR}/{call}-{number}.png", format="png")
    pyplot.close("all")


def _read_capped(path: str, cap: int) -> tuple[str, bool]:
    with open(path, "rb") as captured:
        data = captured.read(cap + 1)
    return data[:cap].decode("utf-8", "replace"), len(data) > cap


def _call(request: dict, namespace: dict) -> dict:
    call = int(request["call"])
    cap = int(request["output_cap"])
    out_path, err_path = f"/tmp/.call-{call}.out", f"/tmp/.call-{call}.err"
    saved = os.dup(1), os.dup(2)
    sys.stdout.flush()
    sys.stderr.flush()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
    cpu_exceeded = failed = False
    try:
        _give_call_cpu(float(request["cpu_s"]))
        _run_cell(request["code"], namespace)
        _save_figures(call)
    except CPUTimeExceeded:
        cpu_exceeded = failed = True
        traceback.print_exc(limit=0)
    except BaseException:  # the code's own errors, SystemExit included, are its output
        failed = True
        error_type, error, trace = sys.exc_info()
        while trace is not None and trace.tb_frame.f_code.co_filename != CELL:
            trace = trace.tb_next
        traceback.print_exception(error_type, error, trace)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except OSError:  # the output limit (RLIMIT_FSIZE) was hit while writing
                pass
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
    stdout, stdout_cut = _read_capped(out_path, cap)
    stderr, stderr_cut = _read_capped(err_path, cap)
    os.unlink(out_path)
    os.unlink(err_path)
    return {
        "call": call,
        "stdout": stdout,
        "stderr": stderr,
        "truncated": stdout_cut or stderr_cut,
        "cpu_exceeded": cpu_exceeded,
        "failed": failed,
    }


def main() -> None:
    config = json.loads(sys.argv[1])
    _lower_limits(config["limits"])
    signal.signal(signal.SIGXCPU, _on_sigxcpu)
    requests = os.fdopen(config["requests_fd"], "r", encoding="utf-8")
    answers = os.fdopen(config["answers_fd"], "w", encoding="utf-8")
    namespace: dict = {"__name__": "__main__"}
    answers.write(json.dumps({"call": 0}) + "\n")
    answers.flush()
    for line in requests:
        answers.write(json.dumps(_call(json.loads(line), namespace)) + "\n")
        answers.flush()


main()
