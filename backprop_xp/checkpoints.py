"""Checkpoints: one ``.npz`` file holding a network's architecture and weights,
and optionally its loss curve and notes on how it was trained.

The file holds only plain arrays (NumPy's format, loaded with pickling off):
the weights as they are on the host, and a JSON header for everything else.
A checkpoint written on any backend loads on any other, on any device (train
on a GPU, plot on a laptop). Anything that is not a checkpoint this version
can read, or that does not match the network asked for, raises
:class:`CheckpointError` with what was expected and what was found.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .architecture import Architecture, check_dtype
from .errors import CheckpointError, InputTypeError, MissingPathError, PathError, ShapeError
from .inputs import to_host
from .network import NeuralNetwork

if TYPE_CHECKING:
    from ._types import Array

FORMAT = "backprop_xp checkpoint"
VERSION = 1


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint holds, on the host.

    Attributes
    ----------
    architecture : Architecture
    dtype : str
    params : list of (W, b) NumPy arrays
    losses : 1-D NumPy array or None
    info : dict
        Free-form notes, such as the dataset and the training settings.
    """

    architecture: Architecture
    dtype: str
    params: list[tuple[np.ndarray, np.ndarray]]
    losses: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def network(self, backend: str | None = None) -> NeuralNetwork:
        """A :class:`NeuralNetwork` with these weights, on ``backend``."""
        arch = self.architecture
        net = NeuralNetwork(
            arch.sizes[0], arch.sizes[-1], arch.sizes[1:-1],
            hidden_activation=arch.activations[0] if arch.depth > 1 else "tanh",
            output_activation=arch.activations[-1], loss=arch.loss,
            init="zeros", dtype=self.dtype, backend=backend,
        )
        net.params = self.params
        return net


def save(
    net: NeuralNetwork,
    path: str | os.PathLike[str],
    *,
    losses: Array | None = None,
    info: dict[str, Any] | None = None,
) -> Path:
    """Write ``net`` (and optionally its loss curve and notes) to ``path``.

    Parameters
    ----------
    net : NeuralNetwork
    path : path-like
        Written as given (no suffix is added); ``.npz`` is the custom. The file
        is replaced in one step, so a reader never sees half of it.
    losses : 1-D array, optional
        Of any backend.
    info : dict, optional
        JSON-serialisable notes, returned by :func:`read` as ``info``.

    Returns
    -------
    Path of the file written.
    """
    if not isinstance(net, NeuralNetwork):
        raise InputTypeError(f"net must be a NeuralNetwork; received {type(net).__name__}.")
    arch = net.architecture
    header = {
        "format": FORMAT, "version": VERSION, "sizes": list(arch.sizes),
        "activations": list(arch.activations), "loss": arch.loss, "dtype": net.dtype,
        "info": info or {},
    }
    try:
        text = json.dumps(header)
    except TypeError as exc:
        raise InputTypeError(f"info must be JSON-serialisable; {exc}.") from None
    arrays = {"header": np.array(text)}
    for layer, (W, b) in enumerate(net.host_params()):
        arrays[f"W{layer}"], arrays[f"b{layer}"] = W, b
    if losses is not None:
        host = np.asarray(to_host(losses), dtype=np.float64)
        if host.ndim != 1:
            raise ShapeError(f"losses must be 1-D; received shape {host.shape}.")
        arrays["losses"] = host
    path = Path(path)
    if not path.parent.is_dir():
        raise MissingPathError(f"Cannot write the checkpoint {str(path)!r}: there is no directory {str(path.parent)!r}.")
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    except OSError as exc:
        raise PathError(f"Cannot write the checkpoint {str(path)!r}: {exc.strerror or exc}.") from None
    try:
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(temporary, 0o666 & ~mask)  # as open() would make it, not mkstemp's 0600
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)  # type: ignore[arg-type]  # (plain arrays: nothing to pickle)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return path


#: How the files np.load reads begin: a zip archive (.npz) or a .npy array.
_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY")


def _check_signature(path: Path) -> None:
    """Refuse, by its first bytes, a file that is no NumPy file at all (np.load would take it for a pickle)."""
    try:
        with open(path, "rb") as file:
            head = file.read(8)
    except OSError as exc:
        raise PathError(f"Cannot read {str(path)!r}: {exc.strerror or exc}.") from None
    if head.startswith(_SIGNATURES):
        return
    try:
        kind = "a text file" if head and head.decode("utf-8").isprintable() else "not a NumPy file"
    except UnicodeDecodeError:
        kind = "not a NumPy file"
    raise CheckpointError(
        f"{str(path)!r} is not a checkpoint: it is {kind}; expected a .npz file written by backprop_xp.save "
        "(or by backprop-xp train, as checkpoint.npz)."
    )


def read(path: str | os.PathLike[str], *, expect: Architecture | None = None) -> Checkpoint:
    """Read a checkpoint into host arrays, checking everything in it.

    Parameters
    ----------
    path : path-like
    expect : Architecture, optional
        The architecture the caller needs; a checkpoint of another one is refused.

    Raises
    ------
    MissingPathError
        There is no such file (a ``FileNotFoundError``).
    CheckpointError
        The file is corrupt or truncated, is not a checkpoint, is of another
        version, or holds another architecture than ``expect``.
    """
    if expect is not None and not isinstance(expect, Architecture):
        raise InputTypeError(f"expect must be an Architecture (net.architecture); received {type(expect).__name__}.")
    path = Path(path)
    if path.is_dir():
        raise PathError(f"{str(path)!r} is a directory; expected a checkpoint file (a .npz written by backprop_xp.save).")
    if not path.is_file():
        raise MissingPathError(f"No checkpoint at {str(path)!r}: there is no such file.")
    _check_signature(path)
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):  # a lone .npy array
            raise ValueError(f"it holds a single array of shape {archive.shape}, not a .npz archive")
        with archive:
            arrays = {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise CheckpointError(
            f"{str(path)!r} is not a readable checkpoint (expected a .npz file written by "
            f"backprop_xp.save): {type(exc).__name__}: {exc}"
        ) from None
    header = _header(path, arrays)
    try:
        if len(header["activations"]) != len(header["sizes"]) - 1:
            raise ValueError(
                f"{len(header['activations'])} activations for {len(header['sizes']) - 1} layers"
            )
        arch = Architecture(
            tuple(header["sizes"]), tuple(header["activations"]), header["loss"]
        )
        hidden = arch.activations[:-1]
        rebuilt = Architecture.build(
            arch.sizes[0], arch.sizes[-1], arch.sizes[1:-1],
            hidden[0] if hidden else "tanh", arch.activations[-1], arch.loss,
        )
        dtype = check_dtype(header["dtype"])
    except KeyError as exc:
        raise CheckpointError(f"{str(path)!r} has a damaged header: it has no {exc} entry.") from None
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{str(path)!r} has a damaged header: {exc}") from None
    if rebuilt != arch:
        raise CheckpointError(f"{str(path)!r} describes an architecture backprop_xp cannot build: {arch}.")
    if expect is not None and expect != arch:
        raise CheckpointError(
            f"{str(path)!r} holds a network of sizes {'-'.join(map(str, arch.sizes))} "
            f"({'/'.join(arch.activations)}, loss {arch.loss}); expected sizes "
            f"{'-'.join(map(str, expect.sizes))} ({'/'.join(expect.activations)}, loss {expect.loss})."
        )
    params = []
    for layer, (n_in, n_out) in enumerate(zip(arch.sizes[:-1], arch.sizes[1:])):
        pair = []
        for name, shape in ((f"W{layer}", (n_in, n_out)), (f"b{layer}", (n_out,))):
            array = arrays.get(name)
            if array is None or array.shape != shape or array.dtype != np.dtype(dtype):
                found = "nothing" if array is None else f"shape {array.shape}, dtype {array.dtype}"
                raise CheckpointError(
                    f"{str(path)!r} is damaged: {name} should be a {dtype} array of shape {shape}; found {found}."
                )
            if not np.all(np.isfinite(array)):
                raise CheckpointError(f"{str(path)!r} holds NaN or infinite weights in {name}.")
            pair.append(array)
        params.append((pair[0], pair[1]))
    losses = arrays.get("losses")
    if losses is not None and (losses.ndim != 1 or losses.dtype.kind != "f"):
        raise CheckpointError(f"{str(path)!r} is damaged: losses should be a 1-D float array.")
    info = header.get("info", {})
    if not isinstance(info, dict):
        raise CheckpointError(f"{str(path)!r} has a damaged header: info should be a JSON object.")
    return Checkpoint(arch, dtype, params, losses, info)


def load(
    path: str | os.PathLike[str], *, backend: str | None = None, expect: Architecture | None = None
) -> NeuralNetwork:
    """The network saved in a checkpoint, on ``backend`` (by default, the usual choice of backend).

    See :func:`read` for what is checked.
    """
    return read(path, expect=expect).network(backend)


def _header(path: Path, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    raw = arrays.get("header")
    if raw is None or raw.shape != () or raw.dtype.kind != "U":
        raise CheckpointError(
            f"{str(path)!r} is a .npz file but not a backprop_xp checkpoint (it has no header; "
            f"arrays found: {', '.join(sorted(arrays)) or 'none'})."
        )
    try:
        header = json.loads(str(raw))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{str(path)!r} has a damaged header: {exc}.") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is a .npz file but not a backprop_xp checkpoint.")
    if header.get("version") != VERSION:
        raise CheckpointError(
            f"{str(path)!r} is a checkpoint of format version {header.get('version')!r}; "
            f"this backprop_xp reads version {VERSION}."
        )
    return header
