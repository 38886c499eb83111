"""ML integration tests for PyTorch modules: the six checks to run before a long training.

Each check measures one thing on a small batch and returns a CheckResult that says what it
measured ("layer fc1: 97% of ReLU outputs are zero"), so a failure explains itself:

- `weight_init`: every weight tensor is finite, not constant, with a std within a range;
- `initial_loss`: the untrained model's loss is near its expected value (ln C for C classes);
- `uses_input`: a zero input gives a different output than the real one;
- `overfits_batch`: a copy of the model trained on the one batch drives its loss to ~0;
- `activations`: ReLU outputs are not mostly zero, tanh/sigmoid outputs not mostly saturated;
- `gradients`: every trainable parameter gets a finite, non-zero gradient.

The checks never change the caller's model: they restore its train/eval modes and buffers, and
train only a deep copy. They seed torch inside a forked RNG, so a result is repeatable and the
caller's random stream is left as it was. torch is imported inside the functions only.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from mlcd.checks.result import CheckResult, run_named
from mlcd.errors import MlcdError

if TYPE_CHECKING:
    import torch
    from torch import nn

    # a tensor of inputs, or (inputs, targets); inputs may be a tuple of tensors (model(*inputs))
    Batch: TypeAlias = torch.Tensor | Sequence[Any]
    LossFn: TypeAlias = Callable[[Any, torch.Tensor], torch.Tensor]

NN_CHECKS = (
    "weight_init",
    "initial_loss",
    "uses_input",
    "overfits_batch",
    "activations",
    "gradients",
)

_LIST = 5  # names listed in a message before "and N more"


# --- helpers -------------------------------------------------------------------------------


def _split(batch: Batch) -> tuple[Any, torch.Tensor | None]:
    """(inputs, targets) from a batch; a bare tensor is inputs without targets."""
    import torch

    if isinstance(batch, torch.Tensor):
        return batch, None
    if isinstance(batch, Sequence) and len(batch) == 2:
        return batch[0], batch[1]
    raise MlcdError(
        f"a batch must be a tensor of inputs or an (inputs, targets) pair, got {_kind(batch)}",
        hint="pass batch=(x, y), e.g. the first item of your DataLoader",
    )


def _kind(obj: Any) -> str:
    return f"a {type(obj).__name__} of {len(obj)}" if isinstance(obj, Sequence) else repr(obj)


def _targets(batch: Batch, check: str) -> tuple[Any, torch.Tensor]:
    inputs, targets = _split(batch)
    if targets is None:
        raise MlcdError(
            f"{check} needs targets to compute a loss, but the batch is a tensor of inputs only",
            hint="pass batch=(inputs, targets)",
        )
    return inputs, targets


def _forward(model: nn.Module, inputs: Any) -> Any:
    if isinstance(inputs, tuple | list):
        return model(*inputs)
    return model(inputs)


def _zeros_like(inputs: Any) -> Any:
    import torch

    if isinstance(inputs, tuple | list):
        return type(inputs)(_zeros_like(i) for i in inputs)
    return torch.zeros_like(inputs) if isinstance(inputs, torch.Tensor) else inputs


def _tensors(output: Any) -> list[torch.Tensor]:
    """Every tensor in a model's output (a tensor, or tuples/lists/dicts of them)."""
    import torch

    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, tuple | list):
        return [t for item in output for t in _tensors(item)]
    return []


def _scalar(loss: torch.Tensor) -> torch.Tensor:
    """A loss with reduction='none' is averaged, as a training loop would."""
    return loss if loss.numel() == 1 else loss.mean()


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed torch for the block without touching the caller's random stream."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@contextmanager
def _mode(model: nn.Module, training: bool) -> Iterator[None]:
    """Put the model in train/eval mode for the block; restore each module's own mode and
    every buffer (train-mode BatchNorm updates its running statistics) afterwards."""
    import torch

    modes = [(m, m.training) for m in model.modules()]
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    model.train(training)
    try:
        yield
    finally:
        for m, was in modes:
            m.training = was
        with torch.no_grad():
            for name, b in model.named_buffers():
                if name in buffers and b.shape == buffers[name].shape:
                    b.copy_(buffers[name])


def _leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [
        (name or type(m).__name__, m) for name, m in model.named_modules() if not any(m.children())
    ]


@contextmanager
def _trace(model: nn.Module, record: Callable[[str, nn.Module, Any], None]) -> Iterator[None]:
    """Call record(name, module, output) after the forward of every leaf module."""
    handles = []
    for name, module in _leaves(model):

        def hook(m: nn.Module, _args: Any, out: Any, name: str = name) -> None:
            record(name, m, out)

        handles.append(module.register_forward_hook(hook))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_LIST])
    return shown if len(names) <= _LIST else f"{shown} and {len(names) - _LIST} more"


def _pct(share: float) -> str:
    # 99.7% must not print as "100%": that would claim every output
    return f"{share:.1%}" if 0.995 <= share < 1 or 0 < share < 0.005 else f"{share:.0%}"


def _has_params(module: nn.Module) -> bool:
    return any(True for _ in module.parameters(recurse=False))


# --- 1. weight initialisation --------------------------------------------------------------


def weight_init(model: nn.Module, min_std: float = 1e-3, max_std: float = 1.0) -> CheckResult:
    """Every parameter is finite; every weight tensor (2+ dimensions) is not constant and has
    a standard deviation within [min_std, max_std].

    Vectors (biases, norm scales) are only checked for finiteness: constant zeros and ones are
    their normal initialisation. Embedding tables are N(0, 1) by default, so `max_std` does not
    apply to them.

    Returns:
        A result whose value is [smallest std, largest std] over the weight tensors and whose
        message names every offending tensor ("fc1.weight: constant (every value is 0)").
    """
    import torch
    from torch import nn

    problems: list[str] = []
    stats: dict[str, dict[str, Any]] = {}
    seen: set[int] = set()
    for mod_name, module in model.named_modules():
        for p_name, p in module.named_parameters(recurse=False):
            if id(p) in seen:  # a shared (tied) parameter is one tensor
                continue
            seen.add(id(p))
            name = f"{mod_name}.{p_name}" if mod_name else p_name
            data = p.detach().double()
            bad = int((~torch.isfinite(data)).sum())
            if bad:
                problems.append(f"{name}: {bad} of {data.numel()} values are NaN or infinite")
                stats[name] = {"non_finite": bad}
                continue
            if data.ndim < 2 or data.numel() < 2:
                continue
            std, mean = float(data.std(unbiased=False)), float(data.mean())
            stats[name] = {"std": std, "mean": mean, "shape": list(data.shape)}
            if float(data.max()) == float(data.min()):
                problems.append(f"{name}: constant (every value is {float(data.flatten()[0]):g})")
            elif std < min_std:
                problems.append(f"{name}: std {std:.3g} below {min_std:g}")
            elif std > max_std and not isinstance(module, nn.Embedding | nn.EmbeddingBag):
                problems.append(f"{name}: std {std:.3g} above {max_std:g}")
    stds = [s["std"] for s in stats.values() if "std" in s]
    value = [min(stds), max(stds)] if stds else None
    if problems:
        message = f"{len(problems)} badly initialised: " + "; ".join(problems[:_LIST])
        if len(problems) > _LIST:
            message += f"; and {len(problems) - _LIST} more"
    elif stds:
        message = (
            f"{len(stds)} weight tensors finite and varied, std {min(stds):.3g}..{max(stds):.3g}"
            f" within [{min_std:g}, {max_std:g}]"
        )
    else:
        message = "no weight tensors (2+ dimensions) to check; every parameter is finite"
    return CheckResult(
        "model.weight_init",
        not problems,
        value,
        [min_std, max_std],
        message,
        diagnostics={"tensors": stats, "problems": problems},
    )


# --- 2. initial loss -----------------------------------------------------------------------


def _expected_loss(
    loss_fn: LossFn, output: torch.Tensor, targets: torch.Tensor
) -> tuple[float, str] | None:
    """The loss an untrained model should have, and how it was derived; None when unknown."""
    import torch.nn.functional as F
    from torch import nn

    label = getattr(loss_fn, "__name__", type(loss_fn).__name__)
    if isinstance(loss_fn, nn.CrossEntropyLoss | nn.NLLLoss) or loss_fn in (
        F.cross_entropy,
        F.nll_loss,
    ):
        classes = int(output.shape[1] if output.ndim > 1 else output.shape[0])
        value, why = math.log(classes), f"ln {classes} for {label} over {classes} classes"
        # class-probability targets carry the class dimension; class indices do not
        count = targets.numel() // classes if targets.is_floating_point() else targets.numel()
    elif isinstance(loss_fn, nn.BCEWithLogitsLoss | nn.BCELoss) or loss_fn in (
        F.binary_cross_entropy_with_logits,
        F.binary_cross_entropy,
    ):
        value, why, count = math.log(2), f"ln 2 for {label}", targets.numel()
    elif isinstance(loss_fn, nn.MSELoss) or loss_fn is F.mse_loss:
        value = float(targets.detach().double().var(unbiased=False))
        why, count = f"the targets' variance for {label}", targets.numel()
    else:
        return None
    if getattr(loss_fn, "reduction", "mean") == "sum":
        value, why = value * count, f"{why}, times {count} for reduction='sum'"
    return value, why


def _output_layer(model: nn.Module, inputs: Any) -> str | None:
    """The name of the last leaf module with parameters that ran in a forward pass."""
    import torch

    ran: list[str] = []

    def record(name: str, module: nn.Module, _out: Any) -> None:
        if _has_params(module):
            ran.append(name)

    with _trace(model, record), torch.no_grad():
        _forward(model, inputs)
    return ran[-1] if ran else None


def initial_loss(
    model: nn.Module,
    batch: Batch,
    loss_fn: LossFn,
    expected: float | None = None,
    tolerance: float = 0.5,
) -> CheckResult:
    """The untrained model's loss on the batch is within `tolerance` (relative) of `expected`.

    By default `expected` is ln C for cross-entropy / NLL over C classes, ln 2 for binary
    cross-entropy, and the targets' variance for MSE (the loss of predicting their mean); it is
    scaled by the count for reduction='sum'. For another loss, pass `expected`; without it the
    result is a warning that reports the loss. A loss far above its expected value usually
    means an output layer initialised with a large weight or bias: the message names that layer.
    """
    import torch

    inputs, targets = _targets(batch, "initial_loss")
    with _mode(model, training=False), _seeded(0), torch.no_grad():
        output = _forward(model, inputs)
        loss = float(_scalar(loss_fn(output, targets)))
    derived = (float(expected), "given") if expected is not None else None
    derived = derived or _expected_loss(loss_fn, output, targets)
    if derived is None:
        name = getattr(loss_fn, "__name__", type(loss_fn).__name__)
        return CheckResult(
            "model.initial_loss",
            False,
            loss,
            None,
            f"initial loss {loss:.4g}; no expected value is known for {name}: pass expected=",
            severity="warn",
        )
    target, why = derived
    lo, hi = target * (1 - tolerance), target * (1 + tolerance)
    off = abs(loss - target) / abs(target) if target else abs(loss)
    ok = math.isfinite(loss) and off <= tolerance
    outs = [t.detach().double() for t in _tensors(output) if t.is_floating_point()]
    spread = (
        {"output_min": float(outs[0].min()), "output_max": float(outs[0].max())} if outs else {}
    )
    message = f"initial loss {loss:.4g}, expected {target:.4g} ({why})"
    if ok:
        message += f": within {tolerance:.0%}"
    else:
        ratio = loss / target if target > 0 else 0.0
        size = f"{ratio:.3g} times the expected value" if ratio >= 2 else f"{off:.1%} off"
        message += f": {size}, more than {tolerance:.0%} off"
        with _mode(model, training=False), _seeded(0):
            layer = _output_layer(model, inputs)
        if layer is not None:
            message += f"; check the init of the output layer {layer}"
        if spread:
            message += f" (outputs range {spread['output_min']:.3g}..{spread['output_max']:.3g})"
    return CheckResult(
        "model.initial_loss",
        ok,
        loss,
        [lo, hi],
        message,
        diagnostics={"expected": target, "derived_from": why, "relative_error": off, **spread},
    )


# --- 3. the model uses its input -----------------------------------------------------------


def _max_diff(a: Any, b: Any) -> float:
    diffs = [
        float((x.detach().double() - y.detach().double()).abs().max())
        for x, y in zip(_tensors(a), _tensors(b), strict=False)
        if x.shape == y.shape and x.numel()
    ]
    return max(diffs, default=0.0)


def _where_lost(model: nn.Module, inputs: Any, zeros: Any) -> str:
    """Which layer's output stops depending on the input, by comparing both forward passes."""
    import torch

    runs: list[list[tuple[str, Any]]] = [[], []]
    for i, x in enumerate((inputs, zeros)):

        def record(name: str, _m: nn.Module, out: Any, i: int = i) -> None:
            runs[i].append((name, [t.detach().clone() for t in _tensors(out)]))

        with _trace(model, record), torch.no_grad():
            _forward(model, x)
    real, zero = runs
    if not any(model.children()):
        return ""  # the model is one layer: the outputs compared already say it all
    if not real:
        return "; no layer module ran on the input"
    differs = [
        k for k, ((_, a), (_, b)) in enumerate(zip(real, zero, strict=False)) if _max_diff(a, b)
    ]
    if not differs:
        return f"; already the first layer, {real[0][0]}, gives the same output for a zero input"
    last = differs[-1]
    after = f"; {real[last + 1][0]} after it gives the same output" if last + 1 < len(real) else ""
    return f"; the last layer whose output depends on the input is {real[last][0]}{after}"


def uses_input(model: nn.Module, batch: Batch, eps: float = 1e-6) -> CheckResult:
    """An all-zero input gives a different output than the batch's input (max |diff| > eps).

    A model whose output ignores its input (a dead layer, a broken forward) fails, and the
    message names the last layer whose output still depended on the input.
    """
    import torch

    inputs, _ = _split(batch)
    zeros = _zeros_like(inputs)
    with _mode(model, training=False), _seeded(0), torch.no_grad():
        real, zero = _forward(model, inputs), _forward(model, zeros)
        diff = _max_diff(real, zero)
        ok = diff > eps
        message = f"max |f(x) - f(0)| = {diff:.4g}"
        if ok:
            message += f" > {eps:g}: the output depends on the input"
        elif _max_diff(inputs, zeros) == 0:
            message += ": the batch's inputs are all zero, so this cannot tell; use a real batch"
        else:
            message += f", not above {eps:g}: the output ignores the input"
            out = _tensors(real)
            if out and out[0].ndim and len(out[0]) > 1 and _max_diff(out[0], out[0][:1]) == 0:
                message += " (every example gets the same output)"
            message += _where_lost(model, inputs, zeros)
    return CheckResult("model.uses_input", ok, diff, [eps, None], message)


# --- 4. overfitting one batch --------------------------------------------------------------


def overfits_batch(
    model: nn.Module,
    batch: Batch,
    loss_fn: LossFn,
    steps: int = 200,
    lr: float = 1e-2,
    threshold: float = 0.05,
    seed: int = 0,
) -> CheckResult:
    """A deep copy of the model, trained with Adam on this one batch, reaches a loss below
    `threshold` (or below `threshold` times its initial loss, whichever is larger) within `steps`.

    Training stops as soon as the bound is reached. Dropout is off, since the question is
    whether the model can learn at all; the caller's model is not touched. A failure names the
    frozen parameters (requires_grad=False), the usual reason a model cannot learn.
    """
    import torch
    from torch import nn

    inputs, targets = _targets(batch, "overfits_batch")
    named = list(model.named_parameters())
    frozen = [name for name, p in named if not p.requires_grad]
    note = (
        f"; {len(frozen)} of {len(named)} parameter tensors are frozen"
        f" (requires_grad=False): {_names(frozen)}"
        if frozen
        else ""
    )
    losses: list[float] = []
    reached: int | None = None
    bound = threshold
    with _seeded(seed):
        trained = copy.deepcopy(model).train()
        for m in trained.modules():
            if isinstance(m, nn.modules.dropout._DropoutNd):
                m.eval()
        params = [p for p in trained.parameters() if p.requires_grad]
        if not params:
            return CheckResult(
                "model.overfits_batch",
                False,
                None,
                [None, threshold],
                "no trainable parameters: nothing can learn" + note,
            )
        optimizer = torch.optim.Adam(params, lr=lr)
        for step in range(steps + 1):  # the loss after `step` updates
            optimizer.zero_grad(set_to_none=True)
            loss = _scalar(loss_fn(_forward(trained, inputs), targets))
            value = float(loss.detach())
            losses.append(value)
            if step == 0:
                bound = max(threshold, threshold * value)
            if not math.isfinite(value) or value < bound:
                reached = step if math.isfinite(value) else None
                break
            if step == steps:
                break
            if not loss.requires_grad:  # the loss does not depend on a trainable parameter
                break
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
    first, last = losses[0], losses[-1]
    ok = reached is not None
    if ok:
        message = f"loss {first:.4g} -> {last:.4g} < {bound:.4g} after {reached} steps"
    elif not math.isfinite(last):
        message = f"loss {first:.4g} became {last} after {len(losses) - 1} steps (lr {lr:g})"
    elif len(losses) == 1:
        message = f"loss {first:.4g} does not depend on any trainable parameter" + note
    else:
        message = (
            f"loss {first:.4g} -> {last:.4g} after {steps} steps, not below {bound:.4g}" + note
        )
    return CheckResult(
        "model.overfits_batch",
        ok,
        last,
        [None, bound],
        message,
        diagnostics={
            "initial_loss": first,
            "steps": len(losses) - 1,
            "reached_at_step": reached,
            "frozen": frozen,
            "lr": lr,
        },
    )


# --- 5. activations ------------------------------------------------------------------------


@dataclass
class _Tally:
    layer: str  # the layer that fed the activation, or the activation itself
    activation: str
    kind: str  # "ReLU", "Tanh", "Sigmoid"
    hits: int = 0  # zero (ReLU) or saturated (tanh/sigmoid) outputs
    total: int = 0

    @property
    def share(self) -> float:
        return self.hits / self.total if self.total else 0.0

    @property
    def what(self) -> str:
        return "are zero" if self.kind == "ReLU" else "are saturated"


def activations(
    model: nn.Module, batch: Batch, max_dead: float = 0.9, max_saturated: float = 0.9
) -> CheckResult:
    """No ReLU layer outputs more than `max_dead` exact zeros, no Tanh/Sigmoid layer more than
    `max_saturated` saturated values (|x| > 0.99 for tanh, x < 0.01 or x > 0.99 for sigmoid).

    Measured with forward hooks on nn.ReLU, nn.Tanh and nn.Sigmoid modules, in eval mode; a
    functional activation (F.relu in forward) cannot be hooked and is not measured. A layer is
    named by the module that fed the activation ("layer fc1: 97% of ReLU outputs are zero").
    """
    import torch
    from torch import nn

    inputs, _ = _split(batch)
    tallies: dict[tuple[str, str], _Tally] = {}
    producer: list[str | None] = [None]

    def record(name: str, module: nn.Module, out: Any) -> None:
        if isinstance(module, nn.ReLU | nn.Tanh | nn.Sigmoid):
            kind = (
                "ReLU"
                if isinstance(module, nn.ReLU)
                else "Tanh"
                if isinstance(module, nn.Tanh)
                else "Sigmoid"
            )
            layer = producer[0] or name
            tally = tallies.setdefault((layer, name), _Tally(layer, name, kind))
            for t in _tensors(out):
                t = t.detach()
                if kind == "ReLU":
                    tally.hits += int((t == 0).sum())
                elif kind == "Tanh":
                    tally.hits += int((t.abs() > 0.99).sum())
                else:
                    tally.hits += int(((t < 0.01) | (t > 0.99)).sum())
                tally.total += t.numel()
        elif _has_params(module):
            producer[0] = name

    with _mode(model, training=False), _seeded(0), _trace(model, record), torch.no_grad():
        _forward(model, inputs)

    def limit(t: _Tally) -> float:
        return max_dead if t.kind == "ReLU" else max_saturated

    layers = sorted(tallies.values(), key=lambda t: t.share - limit(t), reverse=True)
    diagnostics = {
        "layers": {
            f"{t.layer}/{t.activation}" if t.layer != t.activation else t.layer: {
                "kind": t.kind,
                "share": t.share,
                "bound": limit(t),
            }
            for t in layers
        }
    }
    if not layers:
        return CheckResult(
            "model.activations",
            True,
            None,
            None,
            "no nn.ReLU, nn.Tanh or nn.Sigmoid module ran: nothing to measure"
            " (functional activations such as F.relu cannot be hooked)",
            diagnostics=diagnostics,
        )
    worst = layers[0]
    failing = [t for t in layers if t.share > limit(t)]
    where = f" ({worst.activation})" if worst.layer != worst.activation else ""
    message = (
        f"layer {worst.layer}: {_pct(worst.share)} of {worst.kind} outputs {worst.what}{where}"
    )
    if failing:
        message += f", more than {limit(worst):.0%}"
        if len(failing) > 1:
            message += f"; also {_names([t.layer for t in failing[1:]])}"
    else:
        count = f"{len(layers)} activation layer" + ("s" if len(layers) > 1 else "")
        message = f"{count} within bounds; closest: {message}"
    return CheckResult(
        "model.activations",
        not failing,
        worst.share,
        [None, limit(worst)],
        message,
        diagnostics=diagnostics,
    )


# --- 6. gradients --------------------------------------------------------------------------


def gradients(model: nn.Module, batch: Batch, loss_fn: LossFn) -> CheckResult:
    """After one backward pass of the loss on the batch, every trainable parameter has a
    gradient that is finite and not all zero.

    Gradients are computed with torch.autograd.grad in train mode, so the caller's `.grad`
    fields, modes and buffers are left as they were. The message names the parameters with no
    gradient (detached or unused: not reached from the loss), a zero or a non-finite gradient.
    """
    import torch

    inputs, targets = _targets(batch, "gradients")
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if not named:
        return CheckResult(
            "model.gradients", False, None, None, "no trainable parameters (requires_grad=True)"
        )
    with _mode(model, training=True), _seeded(0):
        loss = _scalar(loss_fn(_forward(model, inputs), targets))
        if loss.requires_grad:
            grads: Sequence[torch.Tensor | None] = torch.autograd.grad(
                loss, [p for _, p in named], allow_unused=True
            )
        else:
            grads = [None] * len(named)
    groups: dict[str, list[str]] = {"none": [], "non-finite": [], "zero": []}
    sizes: dict[str, float | None] = {}
    for (name, _), grad in zip(named, grads, strict=True):
        if grad is None:
            groups["none"].append(name)
            sizes[name] = None
            continue
        g = grad.detach().double()
        size = float(g.abs().max()) if g.numel() else 0.0
        sizes[name] = size
        if not bool(torch.isfinite(g).all()):
            groups["non-finite"].append(name)
        elif size == 0:
            groups["zero"].append(name)
    bad = sum(len(v) for v in groups.values())
    labels = {
        "none": "no gradient (not reached from the loss: detached or unused)",
        "non-finite": "a NaN or infinite gradient",
        "zero": "an all-zero gradient",
    }
    if bad:
        message = (
            f"{bad} of {len(named)} trainable parameters get no usable gradient: "
            + "; ".join(f"{labels[k]}: {_names(v)}" for k, v in groups.items() if v)
        )
    else:
        message = f"all {len(named)} trainable parameters get a finite, non-zero gradient"
    return CheckResult(
        "model.gradients",
        bad == 0,
        bad,
        [0, 0],
        message,
        diagnostics={"max_abs_grad": sizes, "loss": float(loss.detach()), **groups},
    )


# --- all six -------------------------------------------------------------------------------


def run_nn_checks(
    model: nn.Module,
    batch: Batch,
    loss_fn: LossFn,
    only: Iterable[str] | None = None,
) -> list[CheckResult]:
    """Run the six checks (or those named in `only`, with or without the `model.` prefix)
    with their default bounds. An unknown name, or a check that raises (the model's forward
    fails on the batch, say), is a failed result: the suite always finishes."""
    calls: dict[str, Callable[[], CheckResult]] = {
        "weight_init": lambda: weight_init(model),
        "initial_loss": lambda: initial_loss(model, batch, loss_fn),
        "uses_input": lambda: uses_input(model, batch),
        "overfits_batch": lambda: overfits_batch(model, batch, loss_fn),
        "activations": lambda: activations(model, batch),
        "gradients": lambda: gradients(model, batch, loss_fn),
    }
    names = list(NN_CHECKS) if only is None else [n.removeprefix("model.") for n in only]
    return run_named(calls, names, "neural-network")
