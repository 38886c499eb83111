"""The six neural-network checks on real torch modules: a healthy MLP passes them all, and each
deliberately broken model fails the check it should, with a message that names the culprit."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from mlcd.checks.nn import (  # noqa: E402
    NN_CHECKS,
    activations,
    gradients,
    initial_loss,
    overfits_batch,
    run_nn_checks,
    uses_input,
    weight_init,
)
from mlcd.checks.result import CheckResult  # noqa: E402
from mlcd.errors import MlcdError  # noqa: E402
from mlcd.testing import assert_check  # noqa: E402

IN, HIDDEN, CLASSES, ROWS = 8, 32, 3, 32


class MLP(nn.Module):
    def __init__(self, act: type[nn.Module] = nn.ReLU) -> None:
        super().__init__()
        self.fc1 = nn.Linear(IN, HIDDEN)
        self.act = act()
        self.fc2 = nn.Linear(HIDDEN, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def mlp(act: type[nn.Module] = nn.ReLU) -> MLP:
    torch.manual_seed(0)
    return MLP(act)


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(ROWS, IN, generator=g), torch.randint(0, CLASSES, (ROWS,), generator=g)


LOSS = nn.CrossEntropyLoss()


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    # tiny models: a second intra-op thread only adds sync overhead, and a loaded CI box
    # makes that spin-waiting cost 20x
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def failed(result: CheckResult, *words: str) -> str:
    assert not result.passed, result.message
    for word in words:
        assert word in result.message, result.message
    return result.message


# --- the healthy model ---------------------------------------------------------------------


def test_healthy_mlp_passes_all_six(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    results = run_nn_checks(mlp(), batch, LOSS)
    assert [r.name for r in results] == [f"model.{n}" for n in NN_CHECKS]
    for r in results:
        assert r.passed, f"{r.name}: {r.message}"
        assert_check(r)
    by = {r.name: r for r in results}
    assert "within" in by["model.initial_loss"].message
    assert "ln 3" in by["model.initial_loss"].message
    assert by["model.overfits_batch"].value < 0.06
    assert by["model.overfits_batch"].diagnostics["reached_at_step"] < 200
    assert by["model.gradients"].message == (
        "all 4 trainable parameters get a finite, non-zero gradient"
    )


def test_healthy_tanh_and_sigmoid_pass(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    for act in (nn.Tanh, nn.Sigmoid):
        result = activations(mlp(act), batch)
        assert result.passed, result.message
        assert "layer fc1" in result.message


# --- 1. weight_init ------------------------------------------------------------------------


def test_constant_weights_fail_weight_init_naming_the_layer() -> None:
    model = mlp()
    with torch.no_grad():
        model.fc2.weight.fill_(0.5)
    msg = failed(weight_init(model), "fc2.weight: constant (every value is 0.5)")
    assert "fc1" not in msg


def test_weights_out_of_range_or_not_finite_fail_weight_init() -> None:
    model = mlp()
    with torch.no_grad():
        model.fc1.weight.mul_(100)
        model.fc2.bias[0] = float("nan")
    failed(weight_init(model), "fc1.weight: std", "above 1", "fc2.bias: 1 of 3 values are NaN")
    tiny = mlp()
    with torch.no_grad():
        tiny.fc1.weight.mul_(1e-5)
    failed(weight_init(tiny), "fc1.weight: std", "below 0.001")


def test_zero_bias_and_norm_scales_are_normal_init() -> None:
    model = nn.Sequential(nn.Linear(IN, HIDDEN), nn.LayerNorm(HIDDEN), nn.Embedding(10, 4))
    with torch.no_grad():
        model[0].bias.zero_()
        model[2].weight.mul_(1.5)  # embedding tables are N(0, 1): max_std does not apply
    result = weight_init(model)
    assert result.passed, result.message


def zero_mlp() -> MLP:
    model = mlp()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    return model


def test_zero_init_fails_weight_init_and_gradients(
    batch: tuple[torch.Tensor, torch.Tensor],
) -> None:
    model = zero_mlp()
    failed(weight_init(model), "fc1.weight: constant (every value is 0)", "fc2.weight")
    result = gradients(model, batch, LOSS)
    failed(result, "3 of 4", "all-zero gradient: fc1.weight, fc1.bias, fc2.weight")
    assert "fc2.bias" not in result.message  # the output bias still learns


# --- 2. initial_loss -----------------------------------------------------------------------


def test_huge_output_bias_fails_initial_loss_naming_the_output_layer(
    batch: tuple[torch.Tensor, torch.Tensor],
) -> None:
    model = mlp()
    with torch.no_grad():
        model.fc2.bias.copy_(torch.tensor([50.0, -50.0, 0.0]))
    result = initial_loss(model, batch, LOSS)
    failed(result, "expected 1.099 (ln 3 for CrossEntropyLoss over 3 classes)", "output layer fc2")
    assert result.value > 10
    assert result.bound == pytest.approx([0.549, 1.648], abs=1e-3)


def test_initial_loss_for_mse_sum_reduction_and_unknown_losses() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(IN, 16), nn.ReLU(), nn.Linear(16, 1))
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(64, IN, generator=g), 3 * torch.randn(64, 1, generator=g)
    mse = initial_loss(model, (x, y), nn.MSELoss())
    assert mse.passed, mse.message
    assert mse.diagnostics["expected"] == pytest.approx(float(y.var(unbiased=False)))
    assert "variance" in mse.message

    shifted = initial_loss(model, (x, y + 100), nn.MSELoss())  # targets far from the outputs
    failed(shifted, "output layer 2")

    summed = initial_loss(
        mlp(), (x, torch.zeros(64, dtype=torch.long)), nn.CrossEntropyLoss(reduction="sum")
    )
    assert summed.diagnostics["expected"] == pytest.approx(64 * 1.0986, rel=1e-3)

    given = initial_loss(model, (x, y), nn.L1Loss(), expected=2.4, tolerance=0.5)
    assert given.diagnostics["expected"] == 2.4

    unknown = initial_loss(model, (x, y), nn.L1Loss())
    assert not unknown.passed and unknown.severity == "warn" and not unknown.failed
    assert "pass expected=" in unknown.message
    assert_check(unknown)  # a warning does not fail a user's test


def test_functional_cross_entropy_is_recognised(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    result = initial_loss(mlp(), batch, nn.functional.cross_entropy)
    assert result.passed and "ln 3 for cross_entropy" in result.message


# --- 3. uses_input -------------------------------------------------------------------------


class BiasOnly(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bias.expand(x.shape[0], -1)


def test_model_ignoring_its_input_fails_uses_input(
    batch: tuple[torch.Tensor, torch.Tensor],
) -> None:
    result = uses_input(BiasOnly(), batch)
    failed(result, "the output ignores the input", "every example gets the same output")
    assert result.value == 0


def test_uses_input_names_the_layer_where_the_input_is_lost(
    batch: tuple[torch.Tensor, torch.Tensor],
) -> None:
    model = mlp()
    with torch.no_grad():
        model.fc1.bias.fill_(-100)  # every ReLU output is 0 for real and zero input alike
    failed(uses_input(model, batch), "input is fc1; act after it gives the same output")
    zero = zero_mlp()
    failed(uses_input(zero, batch), "already the first layer, fc1")
    all_zero = uses_input(mlp(), torch.zeros(4, IN))
    failed(all_zero, "inputs are all zero")


# --- 4. overfits_batch ---------------------------------------------------------------------


class Frozen(nn.Module):
    """Every real parameter frozen; the one trainable shift moves all logits alike, which
    cross-entropy cannot see."""

    def __init__(self) -> None:
        super().__init__()
        self.net = mlp()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.useless = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) + self.useless


def test_frozen_model_fails_overfits_batch_naming_frozen_layers(
    batch: tuple[torch.Tensor, torch.Tensor],
) -> None:
    result = overfits_batch(Frozen(), batch, LOSS, steps=50)
    failed(
        result,
        "after 50 steps, not below",
        "4 of 5 parameter tensors are frozen (requires_grad=False): net.fc1.weight",
    )
    assert result.diagnostics["steps"] == 50 and result.diagnostics["reached_at_step"] is None
    assert result.value == pytest.approx(result.diagnostics["initial_loss"], rel=1e-3)


def test_overfits_batch_without_trainable_parameters_or_with_nan(
    batch: tuple[torch.Tensor, torch.Tensor],
) -> None:
    model = mlp().requires_grad_(False)
    failed(overfits_batch(model, batch, LOSS), "no trainable parameters")
    exploding = overfits_batch(mlp(), batch, lambda out, y: out.sum() * float("nan"))
    failed(exploding, "became nan after 0 steps")


def test_overfits_batch_leaves_the_callers_model_and_rng_alone(
    batch: tuple[torch.Tensor, torch.Tensor],
) -> None:
    model = mlp()
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = overfits_batch(model, batch, LOSS)
    assert torch.rand(1) == expected_next  # the check seeds a forked RNG, not the caller's
    second = overfits_batch(model, batch, LOSS)
    assert first.value == second.value and first.diagnostics == second.diagnostics
    assert not model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


# --- 5. activations ------------------------------------------------------------------------


def test_dead_relu_fails_activations_naming_the_layer(
    batch: tuple[torch.Tensor, torch.Tensor],
) -> None:
    model = mlp()
    with torch.no_grad():
        model.fc1.bias.fill_(-100)
    result = activations(model, batch)
    failed(result, "layer fc1: 100% of ReLU outputs are zero (act), more than 90%")
    assert result.value == 1.0


def test_saturated_tanh_and_sigmoid_fail_activations(
    batch: tuple[torch.Tensor, torch.Tensor],
) -> None:
    for act, word in ((nn.Tanh, "Tanh"), (nn.Sigmoid, "Sigmoid")):
        model = mlp(act)
        with torch.no_grad():
            model.fc1.weight.mul_(1000)
        result = activations(model, batch)
        failed(result, "layer fc1:", f"of {word} outputs are saturated (act), more than 90%")
        assert result.value > 0.9


def test_activations_reports_the_worst_of_several_layers(
    batch: tuple[torch.Tensor, torch.Tensor],
) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(IN, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, CLASSES)
    )
    with torch.no_grad():
        model[2].bias.fill_(-100)
    failed(activations(model, batch), "layer 2: 100% of ReLU outputs are zero (3)")
    assert set(activations(model, batch).diagnostics["layers"]) == {"0/1", "2/3"}
    plain = activations(nn.Linear(IN, CLASSES), batch)
    assert plain.passed and "nothing to measure" in plain.message


# --- 6. gradients --------------------------------------------------------------------------


class Detached(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.main = mlp()
        self.branch = nn.Linear(IN, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x) + self.branch(x).detach()


def test_detached_branch_fails_gradients_naming_its_parameters(
    batch: tuple[torch.Tensor, torch.Tensor],
) -> None:
    result = gradients(Detached(), batch, LOSS)
    failed(result, "2 of 6", "no gradient (not reached from the loss", "branch.weight, branch.bias")
    assert "main." not in result.message
    assert result.diagnostics["none"] == ["branch.weight", "branch.bias"]


def test_nan_gradient_and_fully_detached_output(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    model = mlp()
    with torch.no_grad():
        model.fc2.weight[0, 0] = float("inf")
    failed(gradients(model, batch, LOSS), "NaN or infinite gradient")
    detached = gradients(mlp(), batch, lambda out, y: LOSS(out.detach(), y))
    failed(detached, "4 of 4", "fc1.weight, fc1.bias, fc2.weight, fc2.bias")


def test_gradients_leave_grads_modes_and_buffers_alone(
    batch: tuple[torch.Tensor, torch.Tensor],
) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(IN, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    model.eval()
    stats = model[1].running_mean.clone()
    result = gradients(model, batch, LOSS)
    assert result.passed, result.message
    assert all(p.grad is None for p in model.parameters())
    assert not any(m.training for m in model.modules())
    assert torch.equal(model[1].running_mean, stats)


# --- running and asserting -----------------------------------------------------------------


def test_run_nn_checks_only_unknown_and_crashing(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    results = run_nn_checks(mlp(), batch, LOSS, only=["model.gradients", "uses_input", "bogus"])
    assert [r.name for r in results] == ["model.gradients", "model.uses_input", "model.bogus"]
    assert results[0].passed and results[1].passed
    failed(results[2], "unknown neural-network check 'bogus'", "weight_init")

    wrong = run_nn_checks(mlp(), (torch.randn(4, IN + 1), batch[1][:4]), LOSS, only=["gradients"])
    failed(wrong[0], "could not run: RuntimeError")

    inputs_only = run_nn_checks(mlp(), batch[0], LOSS)
    by = {r.name: r for r in inputs_only}
    assert by["model.uses_input"].passed and by["model.activations"].passed
    failed(by["model.gradients"], "needs targets")


def test_a_batch_of_the_wrong_shape_is_a_user_error() -> None:
    with pytest.raises(MlcdError, match="an \\(inputs, targets\\) pair"):
        uses_input(mlp(), [torch.randn(2, IN)] * 3)
    with pytest.raises(MlcdError, match="needs targets"):
        gradients(mlp(), torch.randn(2, IN), LOSS)


def test_tuple_inputs_are_passed_positionally(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(IN, CLASSES), nn.Linear(IN, CLASSES)

        def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
            return self.a(x) + self.b(z)

    x, y = batch
    result = gradients(Two(), ((x, x * 2), y), LOSS)
    assert result.passed, result.message


def test_assert_check_raises_with_the_measurement(
    batch: tuple[torch.Tensor, torch.Tensor],
) -> None:
    import mlcd.testing

    with pytest.raises(AssertionError, match=r"model\.gradients: .*branch\.weight"):
        assert_check(mlcd.testing.gradients(Detached(), batch, LOSS))
    funcs: list[Callable[..., CheckResult]] = [
        mlcd.testing.weight_init,
        mlcd.testing.initial_loss,
        mlcd.testing.uses_input,
        mlcd.testing.overfits_batch,
        mlcd.testing.activations,
        mlcd.testing.gradients,
    ]
    assert [f.__name__ for f in funcs] == list(NN_CHECKS)


def test_the_module_imports_without_torch() -> None:
    code = "import sys; sys.modules['torch'] = None; import mlcd.checks.nn, mlcd.testing"
    subprocess.run([sys.executable, "-c", code], check=True)
