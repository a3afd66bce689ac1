import torch
from torch import nn

from neuralode_repro.models.latent import LatentODE, build_model
from neuralode_repro.models.mlp import MLPField, mlp
from neuralode_repro.models.sequence import LatentConfig


def test_mlp_puts_the_activation_between_layers_only():
    net = mlp([3, 5, 7, 2], nn.ReLU)
    assert [type(m) for m in net] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    assert [(m.in_features, m.out_features) for m in net[::2]] == [(3, 5), (5, 7), (7, 2)]
    assert list(mlp([4, 1], nn.ELU).state_dict()) == ["0.weight", "0.bias"]


def test_mlp_field_is_autonomous():
    torch.manual_seed(0)
    f, z = MLPField(2, [16, 16]), torch.randn(5, 2)
    assert torch.equal(f(torch.zeros(()), z), f(torch.ones(()), z))
    assert torch.equal(f(torch.zeros(()), z), f.net(z))


def test_latent_f_is_the_mlp_field_with_the_saved_models_keys():
    """The latent ODE's f (sec. 5.1) is an MLPField; its keys are those of saved models."""
    torch.manual_seed(0)
    m = build_model(LatentConfig(ode_layers=2), noise_std=0.1)
    assert isinstance(m, LatentODE) and isinstance(m.func, MLPField)
    keys = [k for k in m.state_dict() if k.startswith(("func.", "decoder."))]
    assert keys == ["func.net.0.weight", "func.net.0.bias", "func.net.2.weight",
                    "func.net.2.bias", "func.net.4.weight", "func.net.4.bias",
                    "decoder.0.weight", "decoder.0.bias", "decoder.2.weight",
                    "decoder.2.bias"]
