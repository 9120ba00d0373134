"""leo.torch: export a torch.nn.Module, compress it, get a torch.nn.Module back."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import leo  # noqa: E402
import leo.torch as lt  # noqa: E402


def mlp_with_dead_units(inputs=6, hidden=(24, 16), outputs=3, seed=0):
    """A random MLP where some units of each hidden layer can never fire on
    [0,1]^inputs (bias -100), and some always do (bias +100)."""
    torch.manual_seed(seed)
    sizes = [inputs, *hidden, outputs]
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes):
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    with torch.no_grad():
        for linear in net[:-1:2]:
            linear.bias[:5] = -100.0
            linear.bias[5:8] = 100.0
    return net.eval()


def test_compress_module_on_a_box():
    net = mlp_with_dead_units()
    small, report = lt.compress(net, torch.zeros(1, 6), box=(0, 1))
    assert isinstance(small, torch.nn.Module)
    assert report.units_before == [24, 16]
    assert sum(report.units_after) < 40
    assert report.torch_points_checked >= 1000
    assert report.torch_max_abs_deviation <= report.tolerance
    # the same function on points of the box, computed by torch
    x = torch.rand(4000, 6, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(net(x), small(x), rtol=0, atol=1e-4)
    linears = [m for m in small if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears[:-1]] == report.units_after
    assert sum(p.numel() for p in small.parameters()) == report.parameters_after
    assert all(p.dtype == torch.float32 for p in small.parameters())


def test_image_input_is_flattened():
    torch.manual_seed(2)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 12), torch.nn.ReLU(), torch.nn.Linear(12, 4))
    with torch.no_grad():
        net[1].bias[:4] = -50.0
    small, report = lt.compress(net, torch.zeros(2, 1, 4, 4), box=(0, 1))
    assert isinstance(small[0], torch.nn.Flatten)
    assert report.units_after == [8]
    x = torch.rand(300, 1, 4, 4, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.allclose(net(x), small(x), rtol=0, atol=1e-5)


def test_double_module_stays_double():
    net = mlp_with_dead_units(seed=4).double()
    small, report = lt.compress(net, torch.zeros(1, 6, dtype=torch.float64), box=(-1, 1))
    assert all(p.dtype == torch.float64 for p in small.parameters())
    assert report.dtype == "double"
    x = torch.rand(1000, 6, dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        assert torch.max(torch.abs(net(x) - small(x))) <= 1e-9


def test_export_and_to_torch_round_trip():
    net = mlp_with_dead_units(seed=5)
    model = lt.export(net, torch.zeros(1, 6))
    assert model.widths == [24, 16]
    x = np.random.default_rng(0).random((50, 6))
    with torch.no_grad():
        expected = net(torch.from_numpy(x).float()).double().numpy()
    assert np.allclose(model(x), expected, rtol=0, atol=1e-5)
    back = lt.to_torch(model)
    with torch.no_grad():
        assert torch.equal(back(torch.from_numpy(x).float()), net(torch.from_numpy(x).float())) or torch.allclose(
            back(torch.from_numpy(x).float()), net(torch.from_numpy(x).float()), rtol=0, atol=1e-6)


def test_leo_torch_is_reachable_from_leo():
    assert leo.torch.compress is lt.compress
    with pytest.raises(TypeError):
        lt.export("not a module", torch.zeros(1, 3))
