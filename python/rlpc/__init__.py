"""rlpc from Python: compile, train and call `.rlp` programs.

    import rlpc
    prog = rlpc.compile("examples/ppo_cartpole.rlp", set={"iters": 20})
    summary = prog.run(callback=lambda it, m: print(it, m["return"]))
    params = rlpc.load_params(summary["run_dir"])
    out = rlpc.exec("estimators.rlp", "reward_to_go", r=rewards, done=dones, gamma=0.99)

See docs/python.md. Compiling, training and running functions release the GIL.
"""

import os
import warnings as _warnings

import numpy as _np

from . import _rlpc
from ._rlpc import CompileError, Program, RlpcError

__version__ = _rlpc.__version__
__all__ = [
    "CompileError",
    "Program",
    "RlpcError",
    "compile",
    "exec",
    "load_params",
    "run",
]


def _is_path(target):
    """A path-like, or a string naming an `.rlp` file on one line; anything else is source."""
    if isinstance(target, os.PathLike):
        return True
    if not isinstance(target, str):
        raise TypeError(
            f"expected a path or .rlp source text, not {type(target).__name__}"
        )
    return "\n" not in target and (
        target.endswith(".rlp") or os.path.isfile(target)
    )


def _literal(name, value):
    """A Python value as the `.rlp` literal `--set NAME=VALUE` would take."""
    if isinstance(value, (bool, _np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, _np.integer)):
        return str(int(value))
    if isinstance(value, (float, _np.floating)):
        v = float(value)
        if v != v or v in (float("inf"), float("-inf")):
            raise ValueError(f"set[{name!r}]: {v} has no .rlp literal")
        return repr(v)
    if isinstance(value, str):
        escaped = (
            value.replace("\\", "\\\\")
            .replace('"', '\\"')
            .replace("\n", "\\n")
            .replace("\t", "\\t")
            .replace("\r", "\\r")
            .replace("\0", "\\0")
        )
        return f'"{escaped}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(name, v) for v in value) + "]"
    raise TypeError(
        f"set[{name!r}]: expected a bool, int, float, str or a list of them, "
        f"not {type(value).__name__}"
    )


def _settings(set):
    if set is None:
        return []
    if not isinstance(set, dict):
        raise TypeError("set must be a dict of binding name -> value")
    return [(str(n), _literal(n, v)) for n, v in set.items()]


def compile(path_or_source, seed=0, set=None, backend="jit"):
    """Compile a program: parse, check dtypes and shapes, lower and compile its kernels.

    path_or_source: a path (`str` ending in `.rlp` or naming a file, or a `PathLike`),
        or the program's source text (`use "./x"` imports then resolve against the
        current directory).
    seed: the run seed (`rlpc run --seed`).
    set: overrides of top-level bindings, `{"lr": 3e-4, "hidden": [64, 64]}`, like
        `--set NAME=VALUE` (a str value is a string literal).
    backend: "jit" (default), "interp", "cuda" or "cuda-cpu".

    Returns a `Program`. A program with errors raises `CompileError`, whose message is
    the rendered diagnostics (and `.codes` their error codes); warnings are issued as
    Python `UserWarning`s (and kept in `Program.warnings`).
    """
    settings = _settings(set)
    if _is_path(path_or_source):
        prog = _rlpc.compile(
            file=os.fspath(path_or_source), seed=seed, set=settings, backend=backend
        )
    else:
        prog = _rlpc.compile(
            source=path_or_source, seed=seed, set=settings, backend=backend
        )
    if prog.warnings:
        _warnings.warn(prog.warnings, stacklevel=2)
    return prog


def run(
    path,
    out=None,
    seed=0,
    set=None,
    iterations=None,
    callback=None,
    backend="jit",
    checkpoint_every=None,
    tensorboard=False,
    progress=False,
):
    """Compile a program and train it, like `rlpc run`.

    out: the run directory (default `runs/<file stem>`), laid out as `rlpc run` does.
    iterations: stop after this many iterations (at most the program's own count).
    callback: `callback(iteration, metrics)` after every iteration, with the iteration
        index (from 0) and that iteration's logged metrics as a dict of floats (NaN where
        there is no value yet). Returning False stops the run there; an exception
        raised in it stops the run and is raised again.
    checkpoint_every: checkpoint period in iterations (default: every 50, at most
        one per 30 s); tensorboard: also write TensorBoard events; progress: show the
        progress bar on stderr.

    A run stopped early (`iterations`, the callback, Ctrl-C) still writes a checkpoint,
    the plots and `params.npz` where it stopped; `rlpc run --resume DIR` continues it.
    Returns a dict: iterations, env_steps, wall_s, metrics (the last iteration's),
    finished (all of the program's iterations ran), run_dir, compile_ms.
    """
    prog = compile(path, seed=seed, set=set, backend=backend)
    return prog.run(
        out=None if out is None else os.fspath(out),
        iterations=iterations,
        callback=callback,
        checkpoint_every=checkpoint_every,
        tensorboard=tensorboard,
        progress=progress,
    )


def _exec_arg(name, value):
    if isinstance(value, (bool, _np.bool_)):
        return bool(value)
    if isinstance(value, (int, _np.integer)):
        return int(value)
    if isinstance(value, (float, _np.floating)) and not isinstance(value, _np.ndarray):
        return float(value)
    a = _np.asarray(value)
    if a.dtype in (_np.float32, _np.float64, _np.int32, _np.bool_):
        return a
    if a.dtype.kind in "iu":
        if a.size and (a.min() < -(2**31) or a.max() >= 2**31):
            raise ValueError(f"argument `{name}`: values out of the range of int32")
        return a.astype(_np.int32)
    raise TypeError(
        f"argument `{name}`: arrays of {a.dtype} are not supported "
        "(float32, float64, int32, other integers, bool)"
    )


def exec(path, function, /, backend="jit", **kwargs):
    """Run one function of an `.rlp` module on NumPy arrays, like `rlpc exec`.

    Keyword arguments are the function's parameters: arrays (float32, float64, int32 or
    bool; other integer arrays are converted to int32), Python ints and floats. Returns
    one array, a tuple of arrays for a function returning a tuple, or a dict of arrays
    for one returning a record. The results own memory rlpc computed them in (no copy).
    """
    args = [(n, _exec_arg(n, v)) for n, v in kwargs.items()]
    outs = _rlpc.exec(os.fspath(path), function, args, backend=backend)
    if len(outs) == 1 and outs[0][0] == "out":
        return outs[0][1]
    if all(n == str(i) for i, (n, _) in enumerate(outs)):
        return tuple(a for _, a in outs)
    return {n: a for n, a in outs}


def load_params(run_dir, checkpoint=None):
    """The trained parameters of a run directory, as a dict of NumPy arrays by slot name.

    checkpoint: None reads `params.npz` (written when a run ends or stops early), or the
    latest checkpoint when there is none; "latest" or an int (iterations completed)
    reads that checkpoint, keeping only the parameters (the program saved in the run
    directory is checked again to know which they are).
    """
    if checkpoint == "latest":
        step = -1
    elif checkpoint is None:
        step = None
    elif isinstance(checkpoint, int) and checkpoint >= 0:
        step = checkpoint
    else:
        raise ValueError('checkpoint must be None, "latest" or a non-negative int')
    return dict(_rlpc.load_params(os.fspath(run_dir), checkpoint=step))
