"""The ``backprop-xp`` command (also ``python -m backprop_xp``).

- ``train``: train a network (by default the lab's: 2-5-3-1, tanh/sigmoid,
  MSE, plain gradient descent, lr 0.25, 2500 epochs, on the five points, on
  NumPy) and write its figures, metrics and checkpoint;
- ``plot CHECKPOINT``: redraw a run's figures from its checkpoint;
- ``sweep``: the lab's closing experiments, a grid of configurations and seeds;
- ``gradcheck``: backprop against finite differences, layer by layer;
- ``backends``: which backends run here.

A user's mistake (a bad option, a missing file, a backend that is not
installed: any :class:`~backprop_xp.errors.InputError`) ends with status 2 and
one line on stderr. A run whose loss diverges ends with status 1, as does a
gradient check that fails and any failure that is not the user's (a bug, a
full disk), also in one line. ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import difflib
import os
import re
import statistics
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from . import checkpoints
from .activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from .architecture import DTYPES
from .backends import ENV_VAR, NAME_FORMS, check_env_backend, default_backend_name, describe_backends
from .datasets import DATASETS
from .errors import InputError, SettingError, TrainingDiverged, UsageError
from .initializers import INITIALIZERS
from .losses import LOSSES
from .optimizers import OPTIMIZERS
from .settings import Integer, Real
from .settings import check as check_setting

if TYPE_CHECKING:
    from .experiment import RunConfig

PROG = "backprop-xp"


# --- options ------------------------------------------------------------------


def _hidden_spec(text: str) -> tuple[int, ...]:
    """``"5,3"`` -> (5, 3); ``"none"`` -> () (for sweep's list of architectures)."""
    if text.strip().lower() in ("none", ""):
        return ()
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected hidden sizes such as 5,3 (or none); received {text!r}"
        ) from None


def _add_model_options(p: argparse.ArgumentParser, *, many: bool = False, dtype: str = "float32") -> None:
    """Options that define the data and the network; ``many``: the sweep's lists."""
    p.add_argument("--dataset", choices=DATASETS, default="five-points", help="(default: five-points, the lab's)")
    if many:
        p.add_argument(
            "--hidden", type=_hidden_spec, nargs="+", default=[(5, 3), (10, 10)], metavar="SIZES",
            help="architectures to try, each as comma-separated widths or none (default: 5,3 10,10)",
        )
    else:
        p.add_argument(
            "--hidden", type=int, nargs="*", default=[5, 3], metavar="N",
            help="hidden layer widths; none given: no hidden layer (default: 5 3)",
        )
    p.add_argument("--hidden-activation", choices=HIDDEN_ACTIVATIONS, default="tanh", help="(default: tanh, the lab's)")
    p.add_argument(
        "--output-activation", choices=OUTPUT_ACTIVATIONS, default="sigmoid", help="(default: sigmoid, the lab's)"
    )
    p.add_argument("--loss", choices=tuple(LOSSES), default="mse", help="(default: mse, the lab's)")
    init_help = f"one of {', '.join(INITIALIZERS)}, or normal:STD"
    if many:
        p.add_argument(
            "--init", nargs="+", default=["glorot_uniform", "normal:1"], metavar="NAME",
            help=f"initialisers to try: {init_help} (default: glorot_uniform normal:1)",
        )
    else:
        p.add_argument("--init", default="glorot_uniform", metavar="NAME", help=f"{init_help} (default: glorot_uniform)")
    p.add_argument("--dtype", choices=DTYPES, default=dtype, help=f"(default: {dtype})")
    p.add_argument("--backend", default=None, help=f"one of {', '.join(NAME_FORMS)} (default: ${ENV_VAR}, else numpy)")


def _add_training_options(p: argparse.ArgumentParser, *, many: bool = False) -> None:
    p.add_argument("--optimizer", choices=tuple(OPTIMIZERS), default="sgd", help="(default: sgd, the lab's)")
    if many:
        p.add_argument("--lr", type=float, nargs="+", default=[0.05, 0.25, 1.0], help="learning rates to try (default: 0.05 0.25 1.0)")
    else:
        p.add_argument("--lr", type=float, default=0.25, help="learning rate (default: 0.25)")
    p.add_argument("--epochs", type=int, default=2500, help="(default: 2500)")
    p.add_argument(
        "--batch-size", type=int, default=None, metavar="N",
        help="minibatches of N samples, reshuffled every epoch (default: the full batch, as in the lab)",
    )
    p.add_argument(
        "--tol", type=float, default=None,
        help="early stopping: stop once the loss has not fallen by more than TOL for --patience epochs "
        "(default: off, every epoch runs)",
    )
    p.add_argument(
        "--patience", type=int, default=None, help="with --tol: epochs without progress before stopping (default: 10)"
    )


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad command line raises :class:`UsageError` (one line) instead of printing usage.

    Abbreviations are off (``--epoch`` is not silently ``--epochs``); an
    unknown option or choice gets a "did you mean" and the ``--help`` of the
    command it was given to.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self.commands: dict[str, argparse.ArgumentParser] = {}

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{message}{_choice_hint(message)} (see {self.prog} --help)")

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> argparse.Namespace:  # type: ignore[override]
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = self.commands.get(getattr(parsed, "command", None) or "", self)
            raise UsageError(
                f"unrecognized arguments: {' '.join(extras)}{_option_hint(extras, command, self.commands)} "
                f"(see {command.prog} --help)"
            )
        return parsed


def _options_of(parser: argparse.ArgumentParser) -> list[str]:
    return [o for action in parser._actions for o in action.option_strings if o.startswith("--")]


def _option_hint(extras: list[str], command: argparse.ArgumentParser, commands: dict[str, Any]) -> str:
    """"; did you mean --hidden?" for the first unknown option close to one of the command's."""
    for word in extras:
        if not word.startswith("--"):
            continue
        typed = word.split("=", 1)[0]
        close = difflib.get_close_matches(typed, _options_of(command), n=1, cutoff=0.6)
        if close:
            return f"; did you mean {close[0]}?"
        elsewhere = [name for name, p in commands.items() if typed in _options_of(p)]
        if elsewhere:
            return f"; {typed} is an option of {' and '.join(elsewhere)}, not of {command.prog.split()[-1]}"
    return ""


def _choice_hint(message: str) -> str:
    """"; did you mean 'moons'?" after argparse's "invalid choice: 'mons' (choose from ...)"."""
    found = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if not found:
        return ""
    close = difflib.get_close_matches(found[1], re.findall(r"'([^']*)'", found[2]), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def build_parser() -> _Parser:
    parser = _Parser(prog=PROG, description="Backpropagation written once, run on many array libraries.")
    debug_help = "on an error, show the traceback instead of one line"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # Each command takes --debug too, without overriding one given before it.
    command_debug = _Parser(add_help=False)
    command_debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug_help)

    def add_command(name: str, help: str) -> argparse.ArgumentParser:
        parser.commands[name] = commands.add_parser(name, help=help, parents=[command_debug])
        return parser.commands[name]

    add_command("backends", help="list the backends, whether they run here, and their devices")

    t = add_command("train", help="train a network and write its figures, metrics and checkpoint")
    _add_model_options(t)
    _add_training_options(t)
    t.add_argument("--seed", type=int, default=0, help="seed of the initial weights and the shuffling (default: 0)")
    t.add_argument("--out", type=Path, default=None, metavar="DIR", help="output directory (default: runs/DATASET)")
    t.add_argument(
        "--overwrite", action="store_true",
        help="replace the run already in the output directory (without it, such a directory is refused)",
    )
    t.add_argument("--quiet", action="store_true", help="no progress bar (one is drawn on a terminal only)")
    t.add_argument(
        "--compile", action="store_true",
        help="compile the training step once (jax.jit; CUDA graphs on torch:cuda; other backends run it as written)",
    )
    big = t.add_argument_group("data larger than memory (the dask backend; see dask_data)")
    big.add_argument("--data", default=None, metavar="DIR", help="a directory of .npy shards (x-KEY.npy, y-KEY.npy) (default: none, the --dataset)")
    big.add_argument("--generate", type=int, default=None, metavar="N", help="N rows of synthetic data, made on the workers (default: none)")
    big.add_argument("--features", type=int, default=10, help="features of the generated data (default: 10)")
    big.add_argument("--chunk-size", type=int, default=100_000, metavar="ROWS", help="rows per generated chunk (default: 100000)")
    big.add_argument(
        "--scheduler", default=None, metavar="ADDR",
        help="a dask.distributed scheduler, tcp://host:port (default: $BACKPROP_XP_DASK_SCHEDULER, else local threads)",
    )

    p = add_command("plot", help="redraw the figures of a run from its checkpoint")
    p.add_argument("checkpoint", type=Path, metavar="CHECKPOINT")
    p.add_argument("--out", type=Path, default=None, metavar="DIR", help="(default: the checkpoint's directory)")
    p.add_argument(
        "--backend", default=None, help=f"backend to draw with: one of {', '.join(NAME_FORMS)} (default: ${ENV_VAR}, else numpy)"
    )

    s = add_command("sweep", help="the lab's experiments: a grid of configurations, several seeds each")
    _add_model_options(s, many=True)
    _add_training_options(s, many=True)
    s.add_argument("--seeds", type=int, default=3, metavar="N", help="seeds 0..N-1 per configuration (default: 3)")
    s.add_argument("--threshold", type=float, default=0.01, help="loss threshold for epochs-to-threshold (default: 0.01)")
    s.add_argument("--jobs", type=int, default=None, help="worker processes (default: one per core)")
    s.add_argument("--out", type=Path, default=Path("runs/sweep"), metavar="DIR", help="(default: runs/sweep)")
    s.add_argument("--overwrite", action="store_true", help="replace the sweep already in the output directory")

    g = add_command("gradcheck", help="backprop's gradients against finite differences, per layer")
    _add_model_options(g, dtype="float64")
    g.add_argument("--seed", type=int, default=0, help="seed of the weights (default: 0)")
    g.add_argument("--eps", type=float, default=None, help="finite-difference step (default: 1e-6 in float64, 1e-2 in float32)")
    g.add_argument("--max-entries", type=int, default=200, metavar="N", help="check at most N entries per array (default: 200)")
    g.add_argument(
        "--tol", type=float, default=None,
        help="the largest relative error that passes (default: 1e-6 in float64, 1e-2 in float32)",
    )

    w = add_command("playground", help="a local web page that trains the engine live (Ctrl-C stops it)")
    w.add_argument("--backend", default=None, help=f"one of {', '.join(NAME_FORMS)} (default: ${ENV_VAR}, else numpy)")
    w.add_argument("--host", default="127.0.0.1", help="(default: 127.0.0.1, this machine only)")
    w.add_argument("--port", type=int, default=8000, help="(default: 8000; 0: any free port)")
    w.add_argument("--open", action="store_true", help="open the page in the default browser")
    return parser


def _config(args: argparse.Namespace, **fields: Any) -> RunConfig:
    """The run the options describe; ``fields`` override them."""
    from .experiment import RunConfig

    if getattr(args, "patience", None) is not None and args.tol is None:
        raise SettingError(f"--patience {args.patience} needs --tol: early stopping is off without it.")
    names = {f.name for f in dataclasses.fields(RunConfig)}
    values = {k: v for k, v in vars(args).items() if k in names and v is not None} | fields
    if any(values.get(k) is not None for k in ("data", "generate", "scheduler")):
        values.setdefault("backend", "dask")  # the only backend for data in chunks
    values["hidden"] = tuple(values["hidden"])
    return RunConfig(**values)


# --- commands -----------------------------------------------------------------


def _backends(args: argparse.Namespace) -> int:
    rows = describe_backends()
    columns = ("backend", "version", "devices", "names", "status")
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(str(row[c]).ljust(widths[c]) for c in columns).rstrip())
    wrong = check_env_backend()
    if wrong is not None:  # the table is still worth seeing; the variable is the user's to fix
        print(f"{PROG}: error: {wrong}: train, plot, sweep and gradcheck will refuse it.", file=sys.stderr)
        return 2
    name = default_backend_name()
    print(f"default backend: {name}" + (f" (from {ENV_VAR})" if os.environ.get(ENV_VAR, "").strip() else ""))
    return 0


def _train(args: argparse.Namespace) -> int:
    from .experiment import (
        CHECKPOINT,
        METRICS,
        check,
        load_data,
        prepare_directory,
        run,
        small_for_dask,
        stalled,
        write_outputs,
    )
    from .progress import ProgressBar

    config = _config(args)
    client = None
    if config.scheduler is not None:
        from .dask_data import connect

        client = connect(config.scheduler)
    try:
        check(config)  # every setting, and then the directory, before training starts
        default = "dask" if config.on_dask else config.dataset
        out = prepare_directory(
            args.out or Path("runs") / default, overwrite=args.overwrite, run_files=(METRICS, CHECKPOINT)
        )
        too_small = small_for_dask(config, load_data(config))
        if too_small:
            print(f"{PROG}: warning: {too_small}", file=sys.stderr)
        bar = ProgressBar(config.epochs, sys.stdout, enabled=not args.quiet)
        try:
            result = run(config, callback=lambda epoch, loss: bar.update(epoch, float(loss)))
        except (TrainingDiverged, KeyboardInterrupt) as exc:
            bar.close()
            _keep_what_was_learnt(exc, out)
            raise
        finally:
            bar.close()
        warning = stalled(result)
        written, summary = write_outputs(result, out, warnings=[warning] if warning else None)
    finally:
        if client is not None:
            client.close()
    if warning:
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    accuracy = f", train accuracy {summary['train_accuracy']:.3f}"
    if "test_accuracy" in summary:
        accuracy += f", test accuracy {summary['test_accuracy']:.3f}"
    stopped = " (early stopping)" if result.stopped_early else ""
    print(
        f"{result.data.name}: {result.net} trained {result.epochs_run} epochs{stopped} in {result.seconds:.2f} s "
        f"on {summary['device']}: final loss {summary['final_loss']:.6f}{accuracy}; "
        f"wrote {', '.join(str(p) for p in written)}"
    )
    return 0


def _keep_what_was_learnt(exc: BaseException, out: Path) -> None:
    """A run that diverged or was interrupted writes its loss curve so far, metrics and last finite weights."""
    from .experiment import write_outputs

    partial = getattr(exc, "partial", None)
    if partial is None:
        return
    written, _ = write_outputs(partial, out)
    kept = f"the weights of epoch {partial.epochs_run}'s loss" if partial.epochs_run else "the initial weights"
    print(f"{partial.data.name}: {partial.stopped}; kept {kept}: wrote {', '.join(str(p) for p in written)}")


def _plot(args: argparse.Namespace) -> int:
    from .experiment import config_from_checkpoint, draw_figures, load_data, prepare_directory
    from .plotting import plot_losses, save_figure

    saved = checkpoints.read(args.checkpoint)
    net = saved.network(args.backend)
    out = prepare_directory(args.out or args.checkpoint.parent)
    config = config_from_checkpoint(saved.info) if "config" in saved.info else None
    if config is not None and not config.on_dask:  # written by `train`: the data can be made again
        if saved.losses is None:
            raise checkpoints.CheckpointError(f"{str(args.checkpoint)!r} holds no loss curve to draw.")
        written = draw_figures(net, saved.losses, load_data(config), out)
        note = ""
    elif saved.losses is not None:  # saved from Python, or data in Dask chunks: the loss curve is what there is
        save_figure(plot_losses(saved.losses).figure, out / "loss.png")
        why = "its data are in Dask chunks" if config is not None else "the checkpoint does not say which data it learnt"
        written, note = [out / "loss.png"], f" (no decision boundary: {why})"
    else:
        raise checkpoints.CheckpointError(
            f"{str(args.checkpoint)!r} holds neither a loss curve nor a record of its data: nothing to draw."
        )
    print(f"{net} from {args.checkpoint}: wrote {', '.join(str(p) for p in written)}{note}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from .experiment import check, load_data, prepare_directory
    from .sweep import (
        CSV_NAME, FigureWorker, SweepProgress, by_configuration, grid, run_sweep, worker_count, write_sweep,
    )

    check_setting("--seeds", args.seeds, Integer(low=1))
    check_setting("--jobs", args.jobs, Integer(low=1), None, none="for one per core")
    check_setting("--threshold", args.threshold, Real(low=0, low_open=True))
    base = _config(args, hidden=args.hidden[0], lr=args.lr[0], init=args.init[0])  # the grid varies these
    configs = grid(base, args.hidden, args.lr, args.init, range(args.seeds))
    for c in {dataclasses.replace(c, seed=0) for c in configs}:  # every configuration, before any run
        check(c)
    out = prepare_directory(args.out, overwrite=args.overwrite, run_files=(CSV_NAME,))
    progress = SweepProgress(len(configs), sys.stdout)
    # With a second core, the decision boundaries are drawn in a process started now, while the runs train.
    two_cores = worker_count(args.jobs) > 1 and load_data(base).n_features == 2
    with FigureWorker() if two_cores else contextlib.nullcontext() as worker:
        try:
            runs = run_sweep(configs, jobs=args.jobs, progress=progress.update)
        finally:
            progress.close()
        written = write_sweep(runs, out, threshold=args.threshold, worker=worker)
    groups = by_configuration(runs)
    print(f"{'configuration':<48} median final loss   runs below {args.threshold:g}")
    for name, members in groups.items():
        finals = [r.final_loss for r in members]
        reached = sum(r.epochs_to(args.threshold) is not None for r in members)
        print(f"{name:<48} {statistics.median(finals):<19.3g} {reached}/{len(members)}")
    print(f"{len(runs)} runs; wrote {', '.join(str(p) for p in written)}")
    return 0


def _gradcheck(args: argparse.Namespace) -> int:
    from .experiment import build_network, load_data, targets
    from .gradcheck import TOLERANCE, format_table, gradient_check
    from .gradcheck import verdict as gradcheck_verdict
    from .settings import Real
    from .settings import check as check_setting

    config = _config(args)
    data = load_data(config)
    net = build_network(config, data)
    tolerance = check_setting("--tol", args.tol, Real(low=0, low_open=True), None)
    tolerance = TOLERANCE[net.dtype] if tolerance is None else tolerance
    checks = gradient_check(net, data.x, targets(config, data, data.y), eps=args.eps, max_entries=args.max_entries)
    print(f"{net} on {config.dataset} ({data.x.shape[0]} samples), device {net.backend.device}")
    print(format_table(checks, tolerance))
    print(gradcheck_verdict(checks, tolerance))
    return 0 if all(c.passes(tolerance) for c in checks) else 1


def _playground(args: argparse.Namespace) -> int:
    from .playground import serve

    serve(args.host, args.port, args.backend, open_browser=args.open)  # Ctrl-C: main's status 130
    return 0


COMMANDS = {"backends": _backends, "train": _train, "plot": _plot, "sweep": _sweep, "gradcheck": _gradcheck,
            "playground": _playground}


def _one_thread_per_process(jobs: int | None) -> None:
    """A sweep that runs one process per core (its pool, its figure process) runs one
    OpenMP thread in each, unless the caller chose (``OMP_NUM_THREADS``).

    Read when torch is imported, in this process and in the pool's: with two
    threads, torch's MKL splits even a 180-element ``tanh`` or ``exp`` over an
    OpenMP parallel region, whose worker spins between regions; on cores that
    another process also wants, a region can wait a scheduler tick or more for
    a thread put aside (bench/results/cpu-2core-vm/20261201T2330Z-torch-threads.md).
    """
    from .sweep import worker_count

    if worker_count(jobs) > 1:
        os.environ.setdefault("OMP_NUM_THREADS", "1")


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; return its exit status (0, 1 for a failure, 2 for a user's mistake)."""
    if argv is None:
        # Run as the program, which owns its process: JAX's 64-bit mode (read
        # when jax is imported, below) lets --dtype float64 run on JAX. A
        # caller's own choice of JAX_ENABLE_X64 stands.
        os.environ.setdefault("JAX_ENABLE_X64", "1")
    owns_process, argv = argv is None, sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
        if owns_process and args.command == "sweep":
            _one_thread_per_process(args.jobs)
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        if "--debug" in argv:
            raise
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130  # 128 + SIGINT, as a shell reports it
    except Exception as exc:
        if "--debug" in argv:
            raise
        print(_one_line(exc), file=sys.stderr)
        return 2 if isinstance(exc, InputError) else 1


#: The Python names of settings that the command line takes as options.
OPTION_NAMES = {
    "batch_size": "--batch-size", "hidden_sizes": "--hidden", "epochs": "--epochs", "tol": "--tol",
    "patience": "--patience", "seed": "--seed", "eps": "--eps", "max_entries": "--max-entries", "init": "--init",
    "jobs": "--jobs", "output_activation": "--output-activation", "hidden_activation": "--hidden-activation",
    "loss": "--loss", "backend": "--backend", "dtype": "--dtype",
}


def as_options(message: str) -> str:
    """A message about Python arguments, reworded for the command line.

    ``"hidden_sizes[0] must be ..."`` -> ``"--hidden (its value 1) must be ..."``;
    ``"Pass output_activation='softmax'"`` -> ``"Add --output-activation softmax"``.
    """
    def leading(match: re.Match[str]) -> str:
        option = OPTION_NAMES[match[1]]
        return option if match[2] is None else f"{option} (its value {int(match[2]) + 1})"

    names = "|".join(OPTION_NAMES)
    renamed = re.sub(rf"^({names})(?:\[(\d+)\])?(?= must )", leading, message)
    if renamed.startswith("--"):  # None cannot be typed: leaving an option out is how it is given
        renamed = re.sub(r",? or None(?: for [^;]*)?(?=;)", "", renamed.replace(" must be None or ", " must be ", 1))
    message = renamed
    return re.sub(
        rf"\bPass ({names})='([^']*)'", lambda m: f"Add {OPTION_NAMES[m[1]]} {m[2]}", message
    )


def _one_line(exc: Exception) -> str:
    """How the command reports an exception: the user's mistake, a diverged run, or anything else."""
    message = " ".join(str(exc).split())  # one line, whatever the exception's text
    if isinstance(exc, InputError):
        return f"{PROG}: error: {as_options(message)}"
    if isinstance(exc, TrainingDiverged):
        return f"{PROG}: {message}"
    return (
        f"{PROG}: failed: {type(exc).__name__}: {message}. This is not a mistake in the command line; "
        "rerun with --debug for the traceback."
    )
