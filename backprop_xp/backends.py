"""A table from backend names to lazily imported Array API namespaces and
devices: the one module that imports torch, CuPy, JAX or Dask (NumPy, the one
required library, serves the host side everywhere).

A backend is chosen by name at the edges only (the ``backend=`` argument and
``--backend`` on the command line, else the ``BACKPROP_XP_BACKEND``
environment variable, and the test fixtures). A name is ``LIBRARY`` or
``LIBRARY:DEVICE``: ``numpy``, ``torch``, ``torch:cuda``, ``torch:cuda:1``,
``cupy``, ``cupy:1``, ``jax``, ``jax:gpu``, ``array_api_strict``, ``dask``.
Nothing is imported until it is asked for, so ``import backprop_xp`` pulls in
no GPU library.

``train(..., compile=True)`` hands the whole training step, one pure function
``step(params, state, X, Y) -> (loss, params, state)`` written once, to its
library's compile hook in the table: ``jax.jit`` on JAX, CUDA graphs on torch
on a GPU, and no compiler (the step runs as written) elsewhere.

Every backend but one computes as it goes. Dask builds a graph and computes
only when asked: :meth:`Backend.evaluate` is that request, made once per
training step for the loss and the gradients together, and a no-op for the
eager backends.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import os
import re
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Iterator, TypeVar

import numpy as np
from array_api_compat import (
    array_namespace,
    is_array_api_obj,
    is_array_api_strict_namespace,
    is_cupy_array,
    is_dask_array,
    is_jax_array,
    is_numpy_array,
    is_torch_array,
)

from .errors import BackendUnavailableError, DTypeError, InputTypeError, UnknownNameError
from .tree import map_leaves

if TYPE_CHECKING:
    from ._types import Array, Device, Namespace

ENV_VAR = "BACKPROP_XP_BACKEND"
DEFAULT = "numpy"


@dataclass(frozen=True)
class Backend:
    """A loaded backend: its canonical name, Array API namespace and device."""

    name: str
    library: str
    xp: Namespace = field(repr=False)
    device: Device

    def from_numpy(self, host: np.ndarray, *, copy: bool | None = None) -> Array:
        """Move a NumPy array to this backend's device (``copy=True``: never share its memory)."""
        return _LIBRARIES[self.library].from_numpy(self.xp, host, self.device, copy)

    def to_numpy(self, array: Array) -> np.ndarray:
        """An array of this backend as a NumPy array on the host (a CPU backend's may share memory): :func:`to_host`."""
        return to_host(array)

    def synchronise(self, output: Any) -> None:
        """Wait until the device has finished the work behind ``output`` (for timing)."""
        _LIBRARIES[self.library].synchronise(self.device, output)

    def device_name(self) -> str | None:
        """The name of the accelerator this backend computes on, or None for the CPU."""
        return _LIBRARIES[self.library].device_name(self.device)

    @property
    def on_gpu(self) -> bool:
        """Whether this backend computes on an accelerator rather than the CPU."""
        return self.device_name() is not None

    def peak_memory(self) -> tuple[Callable[[], None], Callable[[], int]] | None:
        """``reset()`` and ``read()`` of the device's peak allocated bytes, or None where unknown."""
        return _LIBRARIES[self.library].peak_memory(self.device)

    def plain(self, array: Array) -> Array:
        """The array as plain data: torch's autograd history dropped, others unchanged."""
        return _LIBRARIES[self.library].plain(array)

    def evaluate(self, *values: Any) -> tuple[Any, ...]:
        """The values of arrays, or of lists and tuples of arrays, computed together.

        Returns a tuple of the same length and structure, like ``dask.compute``.
        The eager backends have computed already and return ``values`` as they
        are. Dask runs one graph for all of them (on the default scheduler: a
        ``dask.distributed`` client where one is connected), so work they share
        (the forward pass under a loss and its gradients) is done once, and
        returns NumPy arrays.
        """
        return _LIBRARIES[self.library].evaluate(values)

    def full_precision(self) -> ContextManager[None]:
        """A context in which this backend's float32 matmuls run at full float32 precision.

        torch may use TF32 or bfloat16 and JAX reduced-precision passes for
        float32 matmuls when the user has asked for that (or, JAX on a GPU, by
        default). Inside this context, and only there, they run exactly; the
        user's own setting is back as it was on leaving it.
        """
        return _LIBRARIES[self.library].full_precision(self.device)

    @property
    def compiler(self) -> str:
        """What ``compile=True`` uses here: ``"jax.jit"``, ``"cuda graph"`` or ``"none"`` (the step runs eagerly)."""
        return _LIBRARIES[self.library].compiler(self.device)[0]

    def activate(self) -> contextlib.AbstractContextManager[Any]:
        """A context in which this backend's device is the current one (``cupy:N``: device N).

        CuPy puts what an operation makes on the *current* device, not on its
        inputs' device, so work on ``cupy:1`` must run inside ``with
        backend.activate():``; torch and JAX follow their inputs, and there it
        changes nothing that matters (torch:cuda:N also makes N current).
        """
        return _LIBRARIES[self.library].activate(self.device)

    def compile(self, step: Callable[..., Any]) -> Callable[..., Any]:
        """A training step ``step(params, state, X, Y) -> (loss, params, state)``, compiled by this backend.

        ``step`` must be pure (it updates nothing in place) and of Array API
        operations only. The compiled step computes the same function; its
        outputs stay valid for the next two calls at least (a CUDA graph writes
        into buffers it reuses): for longer, ask ``graphs.keeper(step)`` for the
        parameters and ``graphs.lasting(step, loss)`` for a loss. Where the
        backend has no compiler, ``step`` itself is returned.
        """
        wrap = _LIBRARIES[self.library].compiler(self.device)[1]
        return step if wrap is None else wrap(step)

    def compile_epochs(self, step: Callable[..., Any], k: int) -> Callable[..., Any] | None:
        """Up to ``k`` full-batch epochs of ``step`` in one dispatch, compiled; None where this backend cannot.

        On JAX one ``jax.jit`` of a loop; on ``torch:cuda`` a few launches of
        CUDA graphs of 1, 2, 4, ... steps (:class:`graphs.GraphEpochs`).

        Returns ``run(params, state, X, Y, n) -> (losses, params, state, last_start)``:
        ``n`` epochs (``1 <= n <= k``, a 0-d integer or int, not a new
        compilation per value), ``losses`` of shape ``(k,)`` with the first
        ``n`` entries each epoch's loss before its update, the parameters and
        state after the ``n``-th update, and ``last_start`` the parameters
        the ``n``-th update started from. Nothing is updated in place.
        """
        return _LIBRARIES[self.library].epochs_compiler(self.device, step, k)


class _NoGPU(Exception):
    """Raised by a loader when the device asked for is not present."""


def _asarray(xp: Namespace, host: np.ndarray, device: Device, copy: bool | None) -> Array:
    return xp.asarray(host, device=device, copy=copy)


def _unchanged(array: Any) -> Any:
    return array


def _as_set(device: Device) -> ContextManager[None]:
    return contextlib.nullcontext()


def _no_wait(device: Device, output: Any) -> None:
    return None


def _on_the_cpu(device: Device) -> str | None:
    return None


def _unknown_peak(device: Device) -> None:
    return None


def _no_activation(device: Device) -> contextlib.AbstractContextManager[Any]:
    return contextlib.nullcontext()


def _no_epochs_compiler(device: Device, step: Callable[..., Any], k: int) -> None:
    return None


def _no_compiler(device: Device) -> tuple[str, Callable[[Callable[..., Any]], Callable[..., Any]] | None]:
    return "none", None


@dataclass(frozen=True)
class _Library:
    """What the table knows of one array library."""

    module: str  # the top-level module, checked without importing it
    names: tuple[str, ...]  # the backend names it answers to, for messages
    suffixes: str  # a regular expression for the part of a name after "LIBRARY:"
    load: Callable[[str], tuple[Namespace, Device, str]]  # valid suffix -> xp, device, canonical name
    devices: Callable[[], list[str]]  # for `backprop-xp backends`
    install: str  # the command that installs it
    gpu_hint: str = ""  # what to do when it sees no GPU
    cpu: str | None = None  # the name that runs it on the CPU, if any (the test sessions' names)
    gpu: str | None = None  # the name that runs it on a GPU, if any
    owns: Callable[[Any], bool] = lambda value: False  # is this an array of the library (array-api-compat's is_*_array)
    to_numpy: Callable[[Array], np.ndarray] = np.asarray
    from_numpy: Callable[[Namespace, np.ndarray, Device, bool | None], Array] = _asarray
    plain: Callable[[Array], Array] = _unchanged
    evaluate: Callable[[tuple[Any, ...]], tuple[Any, ...]] = _unchanged  # lazy backends compute here
    # device -> (the compiler's name, a function that compiles a training step; None: run it as written)
    compiler: Callable[[Device], tuple[str, Callable[[Callable[..., Any]], Callable[..., Any]] | None]] = _no_compiler
    # device -> a context manager in which float32 matmuls are exact (Backend.full_precision)
    full_precision: Callable[[Device], ContextManager[None]] = _as_set
    # For the benchmarks: wait for a device's work, name it, read its peak memory.
    synchronise: Callable[[Device, Any], None] = _no_wait
    device_name: Callable[[Device], str | None] = _on_the_cpu
    peak_memory: Callable[[Device], tuple[Callable[[], None], Callable[[], int]] | None] = _unknown_peak
    activate: Callable[[Device], contextlib.AbstractContextManager[Any]] = _no_activation  # device -> context
    # (device, step, k) -> a compiled run of up to k epochs (Backend.compile_epochs); None: one dispatch per epoch
    epochs_compiler: Callable[[Device, Callable[..., Any], int], Callable[..., Any] | None] = _no_epochs_compiler


_NO_GPU_HINT = "check that nvidia-smi lists a GPU"


# --- numpy -----------------------------------------------------------------


def _load_numpy(suffix: str) -> tuple[Namespace, Device, str]:
    import array_api_compat.numpy as xp

    return xp, "cpu", "numpy"


# --- array_api_strict ------------------------------------------------------


def _is_strict_array(value: Any) -> bool:
    if not is_array_api_obj(value) or "array_api_strict" not in sys.modules:  # not imported: none of its arrays exist
        return False
    return is_array_api_strict_namespace(array_namespace(value))


def _load_strict(suffix: str) -> tuple[Namespace, Device, str]:
    import array_api_strict as xp

    return xp, xp.__array_namespace_info__().default_device(), "array_api_strict"


def _strict_to_numpy(array: Array) -> np.ndarray:
    # Only the default device's arrays convert to NumPy.
    return np.asarray(array.to_device(array_namespace(array).__array_namespace_info__().default_device()))


def _strict_devices() -> list[str]:
    import array_api_strict as xp

    # Device('CPU_DEVICE') -> CPU_DEVICE, for a readable table.
    return [re.sub(r"^.*Device\('(.*)'\)$", r"\1", str(d)) for d in xp.__array_namespace_info__().devices()]


# --- torch -----------------------------------------------------------------


def _load_torch(suffix: str) -> tuple[Namespace, Device, str]:
    import array_api_compat.torch as xp
    import torch

    if suffix in ("", "cpu"):
        return xp, torch.device("cpu"), "torch"
    i = int(suffix.partition(":")[2] or 0)  # "cuda" or "cuda:N"
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if i >= n:
        raise _NoGPU(f"torch {torch.__version__} sees {n} CUDA device(s)")
    return xp, torch.device("cuda", i), f"torch:cuda:{i}"


def _torch_devices() -> list[str]:
    import torch

    cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return ["cpu"] + [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(cuda)]


@contextlib.contextmanager
def _torch_full_precision(device: Device) -> Iterator[None]:
    # Full float32 matmuls (no TF32 on a GPU, no bfloat16 on the CPU): torch's
    # own default, asked for around our calls only, since the setting is global
    # to the process and the user's to choose.
    import torch

    try:
        saved = torch.get_float32_matmul_precision()
    except RuntimeError:
        # The user set torch's newer per-backend API, which the legacy getter
        # refuses to read: save and restore through that API instead.
        matmul = torch.backends.cuda.matmul
        kept = matmul.fp32_precision
        matmul.fp32_precision = "ieee"
        try:
            yield
        finally:
            matmul.fp32_precision = kept
        return
    if saved == "highest":  # the default: nothing to change (and nothing to restore)
        yield
        return
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(saved)


def _torch_synchronise(device: Device, output: Any) -> None:
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)


def _torch_device_name(device: Device) -> str | None:
    if device.type != "cuda":
        return None
    import torch

    return torch.cuda.get_device_name(device)


def _torch_peak_memory(device: Device) -> tuple[Callable[[], None], Callable[[], int]] | None:
    # Only torch on CUDA reports it (torch.cuda.max_memory_allocated).
    if device.type != "cuda":
        return None
    import torch

    return (lambda: torch.cuda.reset_peak_memory_stats(device), lambda: torch.cuda.max_memory_allocated(device))


def _torch_to_numpy(array: Array) -> np.ndarray:
    return array.detach().cpu().numpy()


def _torch_plain(array: Array) -> Array:
    # A tensor that requires grad would make torch record every step of
    # training into one ever-growing graph.
    return array.detach() if array.requires_grad else array


def _torch_activate(device: Device) -> contextlib.AbstractContextManager[Any]:
    if device.type != "cuda":
        return contextlib.nullcontext()
    import torch

    return torch.cuda.device(device)


def _torch_compiler(device: Device) -> tuple[str, Callable[[Callable[..., Any]], Callable[..., Any]] | None]:
    if device.type == "cuda":
        from .graphs import GraphStep, cuda_graph_capture

        return "cuda graph", lambda step: GraphStep(step, cuda_graph_capture(device))
    # torch.compile on the CPU was measured and left out (bench/README.md):
    # it took 50 s to compile the lab's step on the 2-core machine, where the
    # whole eager training takes about a second, and recompiles when a shape
    # changes (the short last minibatch).
    return "none", None


def _torch_epochs(device: Device, step: Callable[..., Any], k: int) -> Callable[..., Any] | None:
    if device.type != "cuda":
        return None
    from .graphs import GraphEpochs, cuda_graph_capture

    return GraphEpochs(step, k, cuda_graph_capture(device))


# --- cupy ------------------------------------------------------------------


def _cupy_device_count() -> int:
    import cupy

    try:
        return cupy.cuda.runtime.getDeviceCount()
    except cupy.cuda.runtime.CUDARuntimeError:
        return 0


def _load_cupy(suffix: str) -> tuple[Namespace, Device, str]:
    import array_api_compat.cupy as xp
    import cupy

    i, n = int(suffix or 0), _cupy_device_count()
    if i >= n:
        raise _NoGPU(f"cupy {cupy.__version__} sees {n} CUDA device(s)")
    return xp, cupy.cuda.Device(i), f"cupy:{i}"


def _cupy_devices() -> list[str]:
    import cupy

    names = []
    for i in range(_cupy_device_count()):
        name = cupy.cuda.runtime.getDeviceProperties(i)["name"]
        names.append(f"{i} ({name.decode() if isinstance(name, bytes) else name})")
    return names


def _cupy_to_numpy(array: Array) -> np.ndarray:
    return array.get()


def _cupy_device_name(device: Device) -> str:
    import cupy

    name = cupy.cuda.runtime.getDeviceProperties(device.id)["name"]
    return name.decode() if isinstance(name, bytes) else name


# --- jax -------------------------------------------------------------------


def _load_jax(suffix: str) -> tuple[Namespace, Device, str]:
    import jax
    import jax.numpy as xp

    platform = suffix or "cpu"
    try:
        devices = jax.devices(platform)
    except RuntimeError as exc:
        if "failed to initialize" in str(exc):
            # A GPU that is there but could not be set up: most often its memory
            # is taken (each JAX process preallocates 75 % of it by default).
            raise RuntimeError(
                f"jax {jax.__version__} found its {platform} backend but could not initialise it ({exc}); "
                "if other processes use the GPU, set XLA_PYTHON_CLIENT_PREALLOCATE=false in every one"
            ) from None
        raise _NoGPU(f"jax {jax.__version__} sees no {platform} device") from None
    return xp, devices[0], "jax" if platform == "cpu" else "jax:gpu"


def _jax_devices() -> list[str]:
    import jax

    found = []
    for platform in ("cpu", "gpu"):
        try:
            found += [str(d) for d in jax.devices(platform)]
        except RuntimeError:
            pass
    return found


def _jax_full_precision(device: Device) -> ContextManager[None]:
    import jax

    # JAX's default float32 matmul on a GPU runs at reduced precision; ask for
    # the exact arithmetic of the other backends, in this context only (a
    # thread-local JAX setting, restored on leaving it).
    return jax.default_matmul_precision("highest")


def _jax_from_numpy(xp: Namespace, host: np.ndarray, device: Device, copy: bool | None) -> Array:
    if host.dtype == np.float64:
        import jax

        # JAX silently makes float32 of float64 data unless its 64-bit mode is
        # on. Switching it on would change the user's own JAX arrays (jnp.arange
        # would become int64) for the rest of the process: their choice, not ours.
        if not jax.config.read("jax_enable_x64"):
            raise DTypeError(JAX_X64_HINT)
    if _jax_is_default(device):
        # The same array, four to eight times faster (measured on the CPU:
        # 180-320 us with device= against 20-40 us without, for 2500 floats).
        return xp.asarray(host, copy=copy)
    return xp.asarray(host, device=device, copy=copy)


def _jax_is_default(device: Device) -> bool:
    """Whether ``device`` is where JAX puts an array when no device is named."""
    import jax

    return getattr(jax.config, "jax_default_device") is None and device == jax.devices()[0]


#: Why a float64 JAX array is refused, and how to have one.
JAX_X64_HINT = (
    "float64 on JAX needs JAX's 64-bit mode: expected jax_enable_x64 on; received it off (JAX would compute "
    "in float32). Switch it on at the start of your program, before creating the network: "
    "jax.config.update('jax_enable_x64', True), or JAX_ENABLE_X64=1 in the environment; or use dtype='float32'. "
    "The backprop-xp command switches it on by itself."
)


def _jax_synchronise(device: Device, output: Any) -> None:
    import jax

    jax.block_until_ready(output)


def _jax_device_name(device: Device) -> str | None:
    return None if device.platform == "cpu" else device.device_kind


def _jax_compiler(device: Device) -> tuple[str, Callable[[Callable[..., Any]], Callable[..., Any]] | None]:
    return "jax.jit", _jax_jit


def _jax_jit(step: Callable[..., Any]) -> Callable[..., Any]:
    import jax

    # The optimiser's state is donated: its buffers are reused for the new
    # state. The parameters are not: the training loop keeps those of the two
    # epochs before, to go back to if the loss stops being finite.
    return jax.jit(step, donate_argnums=(1,))


def _jax_epochs(device: Device, step: Callable[..., Any], k: int) -> Callable[..., Any]:
    import jax
    import jax.numpy as jnp

    def run(params: Any, state: Any, X: Any, Y: Any, n: Any) -> tuple[Any, Any, Any, Any]:
        def epoch(i: Any, carry: Any) -> Any:
            params, state, _, losses = carry
            loss, new, state = step(params, state, X, Y)
            return new, state, params, losses.at[i].set(loss)

        losses = jnp.zeros((k,), dtype=X.dtype)
        # A loop of a traced length: one compilation serves every n up to k.
        params, state, last_start, losses = jax.lax.fori_loop(0, n, epoch, (params, state, params, losses))
        return losses, params, state, last_start

    # Nothing donated: the chunk runner replays from a chunk's start when it
    # stops or diverges inside it.
    return jax.jit(run)


# --- dask ------------------------------------------------------------------


def _load_dask(suffix: str) -> tuple[Namespace, Device, str]:
    import array_api_compat.dask.array as xp

    from .dask_data import connect_from_environment

    connect_from_environment()  # $BACKPROP_XP_DASK_SCHEDULER, if set: the work goes to that cluster
    return xp, "cpu", "dask"


def _dask_from_numpy(xp: Namespace, host: np.ndarray, device: Device, copy: bool | None) -> Array:
    import dask.array as da

    # Chunked along the batch only (dask's "auto" row count, from its
    # array.chunk-size setting): a sample's row stays whole, and an array the
    # size of a parameter is a single chunk.
    chunks = ("auto",) + (-1,) * (host.ndim - 1) if host.ndim else ()
    return da.from_array(np.array(host, copy=True) if copy else host, chunks=chunks)


def _dask_devices() -> list[str]:
    from .dask_data import scheduler_address

    address = scheduler_address()
    return [f"the cluster at {address}" if address else "cpu (dask's local threads)"]


def _dask_evaluate(values: tuple[Any, ...]) -> tuple[Any, ...]:
    import dask

    # dask.compute gives a 0-d result as a NumPy scalar; keep it an array.
    return map_leaves(lambda v: np.asarray(v) if isinstance(v, np.generic) else v, dask.compute(*values))


#: torch's install hint: an unpinned torch on Linux x86-64 is a CUDA build of several GB.
_TORCH_INSTALL = (
    'pip install ".[torch]" in a checkout of backprop-xp, or pip install torch; on Linux either pulls a CUDA '
    "build of several GB: for the CPU alone, pip install torch --index-url https://download.pytorch.org/whl/cpu"
)


_LIBRARIES: dict[str, _Library] = {
    "numpy": _Library(
        module="numpy", owns=is_numpy_array, cpu="numpy", names=("numpy",), suffixes="", load=_load_numpy, devices=lambda: ["cpu"],
        install="pip install numpy",
    ),
    "torch": _Library(
        module="torch", owns=is_torch_array, cpu="torch", gpu="torch:cuda", names=("torch", "torch:cuda", "torch:cuda:N"), suffixes=r"cpu|cuda(:\d+)?",
        load=_load_torch, devices=_torch_devices, install=_TORCH_INSTALL,
        gpu_hint=f"install a CUDA build of torch (pip install torch on Linux x86-64 is one) and {_NO_GPU_HINT}",
        to_numpy=_torch_to_numpy, plain=_torch_plain,
        compiler=_torch_compiler, epochs_compiler=_torch_epochs, activate=_torch_activate, full_precision=_torch_full_precision,
        synchronise=_torch_synchronise, device_name=_torch_device_name, peak_memory=_torch_peak_memory,
    ),
    "cupy": _Library(
        module="cupy", owns=is_cupy_array, gpu="cupy", names=("cupy", "cupy:N"), suffixes=r"\d+", load=_load_cupy, devices=_cupy_devices,
        install="pip install cupy-cuda12x (cupy-cuda13x for a CUDA 13 driver)",
        gpu_hint=f"install the cupy wheel of your driver's CUDA version and {_NO_GPU_HINT}",
        to_numpy=_cupy_to_numpy, activate=lambda device: device,  # a cupy.cuda.Device is its own context
        synchronise=lambda device, output: device.synchronize(), device_name=_cupy_device_name,
    ),
    "jax": _Library(
        module="jax", owns=is_jax_array, cpu="jax", gpu="jax:gpu", names=("jax", "jax:gpu"), suffixes="cpu|gpu", load=_load_jax, devices=_jax_devices,
        install='pip install jax (or pip install ".[jax]" in a checkout of backprop-xp)',
        gpu_hint=f'install JAX with its CUDA plugin (pip install "jax[cuda12]" or "jax[cuda13]") and {_NO_GPU_HINT}',
        from_numpy=_jax_from_numpy,
        compiler=_jax_compiler, full_precision=_jax_full_precision,
        synchronise=_jax_synchronise, device_name=_jax_device_name,
        epochs_compiler=_jax_epochs,
    ),
    "array_api_strict": _Library(
        module="array_api_strict", owns=_is_strict_array, cpu="array_api_strict", names=("array_api_strict",), suffixes="", load=_load_strict,
        devices=_strict_devices, install='pip install array-api-strict (or pip install ".[strict]" in a checkout of backprop-xp)',
        to_numpy=_strict_to_numpy,
    ),
    "dask": _Library(
        module="dask", owns=is_dask_array, cpu="dask", names=("dask",), suffixes="", load=_load_dask, devices=_dask_devices,
        install='pip install "dask[array]" distributed (or pip install ".[dask]" in a checkout of backprop-xp)', from_numpy=_dask_from_numpy, evaluate=_dask_evaluate,
    ),
}

#: The backend names understood, as written in messages and docs (N: a device index).
NAME_FORMS = tuple(name for lib in _LIBRARIES.values() for name in lib.names)
#: One name per library on the CPU, and per library on a GPU: the backends the tests run on.
CPU_NAMES = tuple(lib.cpu for lib in _LIBRARIES.values() if lib.cpu)
GPU_NAMES = tuple(lib.gpu for lib in _LIBRARIES.values() if lib.gpu)


def installed_libraries() -> list[str]:
    """The libraries of the table that are installed here (none is imported)."""
    return [name for name, lib in _LIBRARIES.items() if importlib.util.find_spec(lib.module)]


def _available_hint() -> str:
    return f"Available here: {', '.join(installed_libraries())}."


def check_env_backend() -> str | None:
    """What is wrong with ``BACKPROP_XP_BACKEND``, in a sentence, or None when it is unset or a backend's name."""
    name = os.environ.get(ENV_VAR, "").strip()
    if not name:
        return None
    library, colon, suffix = name.lower().partition(":")
    lib = _LIBRARIES.get(library)
    if lib is None or (colon and not (suffix and re.fullmatch(lib.suffixes, suffix))):
        return f"{ENV_VAR}={name!r} is not a backend name; expected one of: {', '.join(NAME_FORMS)}"
    return None


def default_backend_name() -> str:
    """The backend named by ``BACKPROP_XP_BACKEND``, or ``"numpy"`` when unset."""
    return os.environ.get(ENV_VAR, "").strip() or DEFAULT


def get_backend(name: str | None = None) -> Backend:
    """Load the backend of the given name (``None``: :func:`default_backend_name`).

    Names are case-insensitive. A backend is loaded once and then reused.

    Raises
    ------
    UnknownNameError
        The name is not one of ``NAME_FORMS``.
    BackendUnavailableError
        The library is not installed here, fails to load, or the GPU it asks for
        is not present.
    """
    from_env = name is None and default_backend_name() != DEFAULT
    if name is None:
        name = default_backend_name()
    if not isinstance(name, str):
        raise InputTypeError(f"backend must be a string such as 'numpy' or 'torch:cuda'; received {name!r}.")
    try:
        return _load(name.strip().lower())
    except (UnknownNameError, BackendUnavailableError) as exc:
        if not from_env:
            raise
        # The user typed no name: say where this one came from.
        raise type(exc)(
            f"{exc} The name came from the environment variable {ENV_VAR}={name!r}: set it to one of the "
            "names above, unset it, or give one with --backend (backend= in Python)."
        ) from None


@functools.lru_cache(maxsize=None)
def _load(name: str) -> Backend:
    library, colon, suffix = name.partition(":")
    lib = _LIBRARIES.get(library)
    if lib is None or (colon and not (suffix and re.fullmatch(lib.suffixes, suffix))):
        raise UnknownNameError(
            f"Unknown backend {name!r}. Expected one of: {', '.join(NAME_FORMS)}. {_available_hint()}"
        )
    if importlib.util.find_spec(lib.module) is None:
        raise BackendUnavailableError(
            f"Backend {name!r} needs {lib.module}, which is not installed here. "
            f"Install it with: {lib.install}. {_available_hint()}"
        )
    try:
        xp, device, canonical = lib.load(suffix)
    except _NoGPU as exc:
        raise BackendUnavailableError(
            f"Backend {name!r} needs a GPU, but {exc}: {lib.gpu_hint}. {_available_hint()}"
        ) from None
    except Exception as exc:  # a library that is installed but broken
        raise BackendUnavailableError(
            f"Backend {name!r} failed to load ({type(exc).__name__}: {exc}). {_available_hint()}"
        ) from exc
    return Backend(canonical, library, xp, device)


def describe_backends() -> list[dict[str, Any]]:
    """One row per library of the table: version, devices, names, status."""
    rows = []
    for library, lib in _LIBRARIES.items():
        row: dict[str, Any] = {"backend": library, "names": ", ".join(lib.names), "version": "", "devices": ""}
        if importlib.util.find_spec(lib.module) is None:
            row["status"] = f"not installed: {lib.install}"
        else:
            try:
                module = importlib.import_module(lib.module)
                row.update(
                    version=getattr(module, "__version__", "?"),
                    devices=", ".join(lib.devices()) or "none",
                    status="ok",
                )
            except Exception as exc:  # installed but broken: report it, keep listing
                row["status"] = f"fails to load: {type(exc).__name__}: {exc}"
        rows.append(row)
    return rows


def on_the_networks_device(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn(x, y, net, ...)`` run inside ``net.backend.activate()``: on ``cupy:N``, with device N current."""

    @functools.wraps(fn)
    def run(x: Any, y: Any, net: Any, *args: Any, **kwargs: Any) -> Any:
        backend = getattr(net, "backend", None)  # not a network: fn's own checks report it
        with backend.activate() if isinstance(backend, Backend) else contextlib.nullcontext():
            return fn(x, y, net, *args, **kwargs)

    return run


_F = TypeVar("_F", bound=Callable[..., Any])


def at_full_precision(backend_of: Callable[..., Backend | None]) -> Callable[[_F], _F]:
    """A decorator: run the function inside its backend's :meth:`Backend.full_precision`.

    ``backend_of`` is called with the function's arguments and returns the
    backend (``None``: run the function as it is, so its own checks report a
    wrong argument).
    """

    def decorate(function: _F) -> _F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            backend = backend_of(*args, **kwargs)
            if backend is None:
                return function(*args, **kwargs)
            with backend.full_precision():
                return function(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def to_host(value: Any) -> np.ndarray:
    """Any array of a library in the table (on any device), list or number, as a NumPy array on the host.

    The one way to the host, for output (plots, files, messages, benchmarks):
    a network's inputs go through :func:`inputs.to_backend`, which copies
    nothing between devices by itself. A CPU array may share memory with it.
    """
    if is_numpy_array(value) or not is_array_api_obj(value):
        return np.asarray(value)
    library = library_of(value)
    lib = _LIBRARIES.get(library)
    if lib is None:
        raise InputTypeError(
            f"Cannot bring an array of {library} to the host; expected one of: {', '.join(_LIBRARIES)}."
        )
    return lib.to_numpy(value)


def library_of(array: Any) -> str:
    """The table's name for the library an array comes from (array-api-compat's
    predicates), else its top-level module, for messages."""
    for name, lib in _LIBRARIES.items():
        if lib.owns(array):
            return name
    return type(array).__module__.split(".")[0]
