"""A "shadow device": catch GPU-placement bugs on a machine without a GPU.

A :class:`ShadowTensor` holds real CPU data but reports a non-CPU device
(``meta``), so ``x.device`` in learner code points at the stand-in device.
While :func:`shadow_device` is active, a dispatch mode runs every ATen op on
the real CPU data and:

* raises :class:`DeviceMismatchError` when an op mixes a shadow tensor with a
  plain CPU tensor that is not a 0-dim scalar (what CUDA would refuse), except
  for the few ops that legitimately take CPU tensors (indexing, copies,
  sequence lengths for packing);
* raises, as CUDA does, when the lengths given to ``pack_padded_sequence`` are
  on the device instead of the CPU;
* turns factory calls such as ``torch.zeros(..., device=x.device)`` into
  shadow tensors, while ``torch.zeros(...)`` without a device stays on the CPU
  and so trips the check above as soon as it meets a shadow tensor;
* refuses ``.numpy()`` on a shadow tensor, as CUDA does.

Numbers are the same as on the CPU; only the bookkeeping differs. This uses
private torch APIs (``_make_wrapper_subclass``, ``TorchDispatchMode``): its
behaviour is pinned by ``tests/test_shadow.py``.
"""
from __future__ import annotations

import contextlib

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map

SHADOW = torch.device("meta")
_NAME = "the GPU stand-in device"


class DeviceMismatchError(RuntimeError):
    """Raised where real CUDA would raise 'Expected all tensors to be on the same device'."""


def _describe(t: torch.Tensor) -> str:
    return f"a CPU tensor of shape {tuple(t.shape)}"


# Ops that legitimately accept CPU tensors next to device tensors.
_MIX_OK = {
    "aten::copy_", "aten::_to_copy", "aten::to", "aten::_copy_from", "aten::_copy_from_and_resize",
    "aten::index", "aten::index_put_", "aten::index_put", "aten::_index_put_impl_",
    "aten::_pack_padded_sequence", "aten::_pad_packed_sequence",
    "aten::lift_fresh", "aten::lift_fresh_copy", "aten::set_",
    "aten::_local_scalar_dense", "aten::detach", "aten::alias",
}


# Ops whose later outputs stay on the CPU even for device inputs.
_FIRST_OUTPUT_ONLY = {"aten::_pack_padded_sequence", "aten::_pad_packed_sequence"}


class ShadowTensor(torch.Tensor):
    elem: torch.Tensor

    @staticmethod
    def __new__(cls, elem: torch.Tensor):
        if isinstance(elem, ShadowTensor):
            elem = elem.elem
        r = torch.Tensor._make_wrapper_subclass(
            cls, elem.size(), strides=elem.stride(), storage_offset=elem.storage_offset(),
            dtype=elem.dtype, layout=elem.layout, device=SHADOW, requires_grad=elem.requires_grad,
        )
        r.elem = elem
        return r

    def __repr__(self, *, tensor_contents=None):  # noqa: D105
        return f"ShadowTensor({self.elem!r}, device='{_NAME}')"

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (torch.Tensor.numpy, torch.Tensor.__array__):
            raise TypeError(
                "can't convert a GPU tensor to numpy. Use Tensor.cpu() to copy the tensor to host "
                "memory first (the grader ran your code on a stand-in for a GPU)."
            )
        if func is torch.Tensor.tolist:  # CUDA tensors copy to host for tolist(); so does the stand-in
            return args[0].elem.tolist()
        if func is torch.Tensor.new_tensor:  # copies data like torch.tensor: build on the CPU, then wrap
            self, rest = args[0], args[1:]
            dev = kwargs.get("device", SHADOW)
            t = self.elem.new_tensor(*rest, **dict(kwargs, device="cpu"))
            return ShadowTensor(t) if _is_shadow_device(dev) else t
        with torch._C.DisableTorchFunctionSubclass():
            return func(*args, **kwargs)

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        return _dispatch(func, args, kwargs or {})

    # Tensor.__reduce_ex__ would try to pickle the (meta) storage.
    def __reduce_ex__(self, proto):
        raise TypeError("cannot pickle a tensor on the GPU stand-in device; call .cpu() first")


def _is_shadow_device(dev) -> bool:
    if dev is None:
        return False
    return torch.device(dev).type == SHADOW.type


def _dispatch(func, args, kwargs):
    name = func._schema.name
    shadows: list[ShadowTensor] = []
    plain: list[torch.Tensor] = []

    def collect(x):
        if isinstance(x, ShadowTensor):
            shadows.append(x)
        elif isinstance(x, torch.Tensor):
            plain.append(x)
        return x

    tree_map(collect, (args, kwargs))

    if name == "aten::_pack_padded_sequence" and len(args) > 1 and isinstance(args[1], ShadowTensor):
        # CUDA refuses device lengths here (pack_padded_sequence wants them on the CPU)
        raise DeviceMismatchError(
            f"'lengths' argument should be a 1D CPU int64 tensor, but got a 1D tensor on {_NAME}: "
            "pack_padded_sequence needs the sequence lengths on the CPU even when the data is on the GPU "
            "(keep them there, or pass lengths.cpu()).")

    if name == "aten::index" and shadows and isinstance(args[0], torch.Tensor) \
            and not isinstance(args[0], ShadowTensor) and args[0].device.type == "cpu" and args[0].dim() > 0:
        # CUDA takes CPU indices for a device tensor, never device indices for a CPU tensor
        raise DeviceMismatchError(
            f"indices should be either on cpu or on the same device as the indexed tensor (cpu): "
            f"{_describe(args[0])} indexed with a mask or index on {_NAME}. A tensor created without device=... "
            f"(e.g. torch.randint(...), torch.zeros(...)) stays on the CPU: create it on the input's device.")

    if shadows and name not in _MIX_OK:
        for t in plain:
            if t.dim() > 0 and t.device.type == "cpu":
                raise DeviceMismatchError(
                    f"Expected all tensors to be on the same device, but {name} got a tensor on "
                    f"{_NAME} and {_describe(t)}. A tensor created without device=... (e.g. "
                    f"torch.zeros(...), torch.arange(...), torch.randn(...)) or a plain tensor "
                    f"attribute instead of a registered buffer stays on the CPU when the model moves."
                )

    to_shadow = bool(shadows)
    if "device" in kwargs:
        dev = kwargs["device"]
        if _is_shadow_device(dev):
            kwargs = dict(kwargs, device=torch.device("cpu"))
            to_shadow = True
        elif dev is not None and torch.device(dev).type == "cpu":
            to_shadow = False

    originals = {}

    def unwrap(x):
        if isinstance(x, ShadowTensor):
            originals[id(x.elem)] = x
            return x.elem
        return x

    u_args, u_kwargs = tree_map(unwrap, (args, kwargs))
    out = func(*u_args, **u_kwargs)

    if not to_shadow:
        return out

    def wrap(x):
        if isinstance(x, torch.Tensor) and not isinstance(x, ShadowTensor):
            if id(x) in originals:  # in-place / out= ops return their argument
                return originals[id(x)]
            return ShadowTensor(x)
        return x

    if name in _FIRST_OUTPUT_ONLY:  # the other outputs (lengths, batch sizes) live on the CPU
        return (wrap(out[0]),) + tuple(out[1:])
    return tree_map(wrap, out)


class _ShadowMode(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        has_shadow = any(isinstance(a, ShadowTensor) for a in _flat((args, kwargs)))
        dev = kwargs.get("device")
        if has_shadow or _is_shadow_device(dev):
            return _dispatch(func, args, kwargs)
        return func(*args, **kwargs)


def _flat(tree):
    out = []
    tree_map(lambda x: out.append(x), tree)
    return out


def _from_data(factory):
    """torch.tensor & co. copy their data under a guard that hides it from dispatch modes, so with
    device=<stand-in> they would make an empty meta tensor: build on the CPU and wrap instead."""
    def wrapper(*args, **kwargs):
        if _is_shadow_device(kwargs.get("device")):
            kwargs = dict(kwargs, device="cpu")
            t = factory(*args, **kwargs)
            return ShadowTensor(t) if not isinstance(t, ShadowTensor) else t
        return factory(*args, **kwargs)
    wrapper.__wrapped__ = factory
    return wrapper


_DATA_FACTORIES = ("tensor", "as_tensor", "asarray")


def _load(load):
    """torch.load(..., map_location=<stand-in>) would give data-less meta tensors: load on the CPU, then wrap."""
    def wrapper(*args, **kwargs):
        loc = kwargs.get("map_location")
        if isinstance(loc, (str, torch.device)) and _is_shadow_device(loc):
            obj = load(*args, **dict(kwargs, map_location="cpu"))
            return tree_map(lambda t: ShadowTensor(t) if isinstance(t, torch.Tensor) and not isinstance(t, ShadowTensor) else t, obj)
        return load(*args, **kwargs)
    wrapper.__wrapped__ = load
    return wrapper


@contextlib.contextmanager
def shadow_device():
    """Activate the stand-in device; yields the ``torch.device`` to move things to."""
    saved = {name: getattr(torch, name) for name in (*_DATA_FACTORIES, "load")}
    try:
        for name, fn in saved.items():
            setattr(torch, name, _load(fn) if name == "load" else _from_data(fn))
        with _ShadowMode():
            yield SHADOW
    finally:
        for name, fn in saved.items():
            setattr(torch, name, fn)


def is_shadow(t) -> bool:
    return isinstance(t, ShadowTensor)
