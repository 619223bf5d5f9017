"""Argument checks shared by attnlib's public functions.

Every message names the argument and the shape or type it expected, so a
learner sees *what* is wrong before a matmul deep inside the model fails.
"""

from __future__ import annotations

import torch


def shape_str(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


def check_tensor(
    name: str,
    x,
    *,
    min_dim: int | None = None,
    ndim: int | tuple[int, ...] | None = None,
    floating: bool = False,
) -> None:
    """Raise TypeError/ValueError unless ``x`` is a tensor of an allowed
    rank."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor, got {type(x).__name__}"
        )
    if floating and not torch.is_floating_point(x):
        raise TypeError(
            f"{name} must be a floating-point tensor, got dtype {x.dtype}"
        )
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.dim() not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(
                f"{name} must be {want}, got shape {shape_str(x)}"
            )
    if min_dim is not None and x.dim() < min_dim:
        raise ValueError(
            f"{name} must have at least {min_dim} dimensions, "
            f"got shape {shape_str(x)}"
        )


def check_same_device(**tensors: torch.Tensor | None) -> None:
    items = [(n, t) for n, t in tensors.items() if t is not None]
    if not items:
        return
    n0, t0 = items[0]
    for n, t in items[1:]:
        if t.device != t0.device:
            raise ValueError(
                f"{n} is on {t.device} but {n0} is on {t0.device}; "
                f"move them to one device"
            )


def check_mask(
    name: str, mask: torch.Tensor | None, target: tuple[int, ...]
) -> None:
    """A mask must be bool (True = may attend) or float (added to the scores),
    and broadcastable to ``target``."""
    if mask is None:
        return
    if not isinstance(mask, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor or None, got {type(mask).__name__}"
        )
    if mask.dtype != torch.bool and not torch.is_floating_point(mask):
        raise TypeError(
            f"{name} must be a bool tensor (True = may attend) "
            f"or a float tensor (added to the scores), got dtype {mask.dtype}"
        )
    if torch.is_floating_point(mask):
        bad = torch.isnan(mask) | (mask == float("inf"))
        if bool(bad.any()):
            raise ValueError(
                f"{name} holds NaN or +inf: a float mask is added to the "
                f"scores, so use 0 for 'may attend' and -inf (or a large "
                f"negative number) for 'blocked'"
            )
    want = "(" + ", ".join(str(s) for s in target) + ")"
    if mask.dim() > len(target):
        raise ValueError(
            f"{name} has shape {shape_str(mask)}, which does not broadcast "
            f"to the scores' shape {want}"
        )
    for m, t in zip(reversed(mask.shape), reversed(target)):
        if m != t and m != 1:
            raise ValueError(
                f"{name} has shape {shape_str(mask)}, which does not "
                f"broadcast to the scores' shape {want}"
            )


def check_positive_int(name: str, value) -> int:
    """Raise ValueError unless ``value`` is a positive int (bools
    rejected); return it."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def check_heads_divide(d_model: int, num_heads: int) -> None:
    """Raise ValueError unless ``num_heads`` divides ``d_model``."""
    if d_model % num_heads:
        raise ValueError(
            f"num_heads={num_heads} must divide d_model={d_model} "
            f"(each head gets d_model // num_heads features)"
        )


def check_qkv(q, k, v) -> None:
    """Attention inputs: q ``(..., n_q, d)``, k ``(..., n_k, d)``,
    v ``(..., n_k, d_v)``, float, one device, same leading sizes, at least
    one query and one key."""
    check_tensor("q", q, min_dim=2, floating=True)
    check_tensor("k", k, min_dim=2, floating=True)
    check_tensor("v", v, min_dim=2, floating=True)
    check_same_device(q=q, k=k, v=v)
    if not (q.dim() == k.dim() == v.dim()):
        raise ValueError(
            f"q, k and v must have the same rank, got "
            f"{shape_str(q)}, {shape_str(k)}, {shape_str(v)}"
        )
    if q.shape[:-2] != k.shape[:-2] or k.shape[:-2] != v.shape[:-2]:
        raise ValueError(
            f"q, k and v must share their leading (batch, head) sizes, got "
            f"{shape_str(q)}, {shape_str(k)}, {shape_str(v)}"
        )
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"q has feature size {q.shape[-1]} but k has {k.shape[-1]}: "
            f"expected q (..., n_q, d) and k (..., n_k, d), "
            f"got {shape_str(q)} and {shape_str(k)}"
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"k and v must hold the same number of keys n_k: "
            f"expected v (..., {k.shape[-2]}, d_v), got {shape_str(v)}"
        )
    if q.shape[-2] == 0 or k.shape[-2] == 0:
        raise ValueError(
            f"q and k need at least one position each, "
            f"got q {shape_str(q)} and k {shape_str(k)}"
        )


def check_images(
    name: str,
    images,
    *,
    channels: int | None = None,
    size: int | None = None,
    nonempty: bool = False,
    short: bool = False,
    dtype_hint: bool = False,
    channel_noun: str = "channels",
) -> None:
    """Raise TypeError/ValueError unless ``images`` is a floating
    ``(batch, channels, H, W)`` tensor.

    Checked in this order: a tensor, floating point, 4-D, then (each only if
    asked for) ``channels`` channels, ``size`` x ``size`` pixels, and at
    least one pixel (``nonempty``).

    The other keywords only choose the wording, so that every model keeps
    its messages: by default they spell out the expected shape
    ``(batch, C, H, W)`` and suggest ``images[:, None]`` for a 3-D batch;
    ``short`` gives the detection models' terse messages, ``dtype_hint``
    adds "convert with images.float()", and ``channel_noun`` is the word
    after the channel count in the wrong-channels message.
    """
    if short:
        check_tensor(name, images, ndim=4, floating=True)
        if channels is not None and images.shape[1] != channels:
            rgb = " RGB" if channels == 3 else ""
            raise ValueError(
                f"{name} must be (batch, {channels}, H, W){rgb}, got shape "
                f"{shape_str(images)} ({images.shape[1]} channels)"
            )
        if size is not None and tuple(images.shape[-2:]) != (size, size):
            raise ValueError(
                f"{name} must be {size}x{size} (the size the model was built "
                f"for), got shape {shape_str(images)}"
            )
    else:
        want_c = channels if channels is not None else "channels"
        want_hw = f"{size}, {size}" if size is not None else "height, width"
        want = f"(batch, {want_c}, {want_hw})"
        if not isinstance(images, torch.Tensor):
            raise TypeError(
                f"{name} must be a torch.Tensor of shape {want}, got "
                f"{type(images).__name__}"
            )
        if not torch.is_floating_point(images):
            hint = f" (convert with {name}.float())" if dtype_hint else ""
            raise TypeError(
                f"{name} must be a floating-point tensor, got dtype "
                f"{images.dtype}{hint}"
            )
        if images.dim() != 4:
            hint = (
                f" (add a channel axis with {name}[:, None] for grey-scale "
                "images)"
                if images.dim() == 3
                else ""
            )
            raise ValueError(
                f"{name} must be 4-D {want}, got shape {shape_str(images)}"
                f"{hint}"
            )
        if channels is not None and images.shape[1] != channels:
            raise ValueError(
                f"{name} must be {want} with {channels} {channel_noun}, got "
                f"shape {shape_str(images)}"
            )
        if size is not None and tuple(images.shape[2:]) != (size, size):
            raise ValueError(
                f"{name} must be {want}: the model was built for "
                f"{size}x{size} images, got shape {shape_str(images)}"
            )
    if nonempty and (images.shape[2] == 0 or images.shape[3] == 0):
        raise ValueError(
            f"{name} needs at least one pixel, got shape {shape_str(images)}"
        )


def check_token_ids(
    name: str,
    ids,
    *,
    vocab_size: int,
    max_len: int | None = None,
    ndim: int | tuple[int, ...] = 2,
    low: int = 0,
    nonempty: str | None = "tokens",
    too_long: str = (
        "max_len is {max_len}; crop the input or build the model with a "
        "larger max_len"
    ),
    id_noun: str = "ids",
    items: bool = False,
) -> None:
    """Raise TypeError/ValueError unless ``ids`` is an integer (int64 or
    int32) tensor of ids in ``[low, vocab_size)``.

    Checked in this order: a tensor of rank ``ndim``, an integer dtype, not
    empty (``nonempty="tokens"``: at least one token; ``"batch"``: at least
    one row and one token; None: no check), at most ``max_len`` tokens (if
    given), every id in range (an empty tensor passes).

    The other keywords only choose the wording, so that every model keeps
    its messages: ``too_long`` ends the too-many-tokens message (after
    "<name> has <n> tokens but ", with ``{max_len}`` filled in),
    ``id_noun`` names the ids in the out-of-range message, and ``items``
    words the messages for a recommender's item indices (range shown as
    ``low..vocab_size - 1``, with a pointer to ``encode_items``).
    """
    check_tensor(name, ids, ndim=ndim)
    if ids.dtype not in (torch.int64, torch.int32):
        what = (
            "be an int64 tensor of item indices"
            if items
            else "hold integer token ids (int64)"
        )
        raise TypeError(f"{name} must {what}, got dtype {ids.dtype}")
    if nonempty == "tokens" and ids.shape[-1] == 0:
        raise ValueError(
            f"{name} must hold at least one token, got shape {shape_str(ids)}"
        )
    if nonempty == "batch" and (ids.shape[-1] == 0 or ids.shape[0] == 0):
        raise ValueError(
            f"{name} must be (batch >= 1, n >= 1), got shape {shape_str(ids)}"
        )
    if max_len is not None and ids.shape[-1] > max_len:
        raise ValueError(
            f"{name} has {ids.shape[-1]} tokens but "
            + too_long.format(max_len=max_len)
        )
    if not ids.numel():
        return
    lo, hi = int(ids.min()), int(ids.max())
    if lo >= low and hi < vocab_size:
        return
    if items:
        raise ValueError(
            f"{name} has item index {lo if lo < low else hi}, outside "
            f"{low}..{vocab_size - 1} (unknown item: map original ids with "
            "attnlib.data.recsys.encode_items)"
        )
    raise ValueError(
        f"{name} holds {id_noun} outside [{low}, {vocab_size}): min {lo}, "
        f"max {hi}"
    )
