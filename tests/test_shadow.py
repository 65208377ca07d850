"""Pin the behaviour of the shadow device (it relies on private torch APIs)."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ptquiz.shadow import DeviceMismatchError, ShadowTensor, shadow_device


class Net(nn.Module):
    def __init__(self, bug=None):
        super().__init__()
        self.bug = bug
        self.fc = nn.Linear(4, 3)
        self.bn = nn.BatchNorm1d(3)
        if bug == "attribute":
            self.scale = torch.ones(3)
        else:
            self.register_buffer("scale", torch.ones(3))

    def forward(self, x):
        if self.bug == "zeros":
            z = torch.zeros(x.shape[0], 3)
        elif self.bug == "randn":
            z = torch.randn(x.shape[0], 3)
        else:
            z = torch.zeros(x.shape[0], 3, device=x.device)
        return self.bn(self.fc(x)) * self.scale + z


def test_correct_code_runs_and_trains_with_the_cpu_numbers():
    torch.manual_seed(0)
    x, y = torch.randn(8, 4), torch.randn(8, 3)
    ref = Net()
    sh = Net()
    sh.load_state_dict(ref.state_dict())
    opt_r = torch.optim.Adam(ref.parameters(), lr=0.1)
    losses_r = []
    for _ in range(3):
        opt_r.zero_grad()
        loss = F.mse_loss(ref(x), y)
        loss.backward()
        opt_r.step()
        losses_r.append(loss.item())
    with shadow_device() as dev:
        sh.to(dev)
        assert isinstance(sh.fc.weight, nn.Parameter) and sh.fc.weight.device == dev
        opt = torch.optim.Adam(sh.parameters(), lr=0.1)
        losses = []
        for _ in range(3):
            opt.zero_grad()
            loss = F.mse_loss(sh(x.to(dev)), y.to(dev))
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert sh.fc.weight.grad.device == dev
        w = sh.fc.weight.detach().cpu()
    assert losses == pytest.approx(losses_r, abs=1e-6)
    assert torch.allclose(w, ref.fc.weight.detach(), atol=1e-6)


@pytest.mark.parametrize("bug", ["zeros", "randn", "attribute"])
def test_tensors_left_on_the_cpu_are_caught(bug):
    with shadow_device() as dev:
        m = Net(bug).to(dev)
        with pytest.raises(DeviceMismatchError, match="same device"):
            m(torch.randn(5, 4).to(dev))


def test_batch_not_moved_is_caught():
    with shadow_device() as dev:
        m = Net().to(dev)
        with pytest.raises(DeviceMismatchError):
            m(torch.randn(5, 4))


def test_numpy_without_cpu_is_refused_and_cpu_numpy_works():
    with shadow_device() as dev:
        t = torch.randn(3).to(dev)
        with pytest.raises(TypeError, match="cpu"):
            t.numpy()
        assert t.cpu().numpy().shape == (3,)
        assert torch.tensor([1.0, 2.0], device=dev).tolist() == [1.0, 2.0]  # legal on CUDA too
        assert torch.as_tensor([3], device=dev).item() == 3
    assert torch.tensor([1.0]).device.type == "cpu" and torch.tensor.__module__ != __name__


def test_cpu_index_into_embedding_is_caught_but_cpu_indexing_is_allowed():
    with shadow_device() as dev:
        emb = nn.Embedding(10, 4).to(dev)
        with pytest.raises(DeviceMismatchError):
            emb(torch.tensor([[1, 2]]))
        x = torch.randn(5, 4).to(dev)
        assert x[torch.tensor([0, 2])].shape == (2, 4)  # indexing a device tensor with CPU indices is legal on CUDA
        assert x[x[:, 0] > 0].device == dev
        assert (x * torch.tensor(2.0)).device == dev  # 0-dim CPU scalars mix freely, as on CUDA


def test_factories_follow_the_device_argument_and_rnns_and_packing_work():
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    with shadow_device() as dev:
        assert isinstance(torch.arange(3, device=dev), ShadowTensor)
        assert not isinstance(torch.arange(3), ShadowTensor)
        lstm = nn.LSTM(4, 6, batch_first=True).to(dev)
        x = torch.randn(3, 7, 4).to(dev)
        packed = pack_padded_sequence(x, torch.tensor([7, 3, 5]), batch_first=True, enforce_sorted=False)
        out, _ = lstm(packed)
        out, lengths = pad_packed_sequence(out, batch_first=True)
        assert out.device == dev and lengths.device.type == "cpu"
        out.sum().backward()
        assert lstm.weight_ih_l0.grad.device == dev


def test_outside_the_context_nothing_changes():
    with shadow_device():
        pass
    assert torch.zeros(2).device.type == "cpu"
    assert torch.zeros(2, device="meta").is_meta


def test_load_with_map_location_to_the_device(tmp_path):
    m = nn.Linear(3, 2)
    torch.save({"model": m.state_dict(), "epoch": 4}, tmp_path / "ck.pt")
    with shadow_device() as dev:
        ck = torch.load(tmp_path / "ck.pt", map_location=dev, weights_only=True)
        assert ck["epoch"] == 4 and isinstance(ck["model"]["weight"], ShadowTensor)
        m2 = nn.Linear(3, 2).to(dev)
        m2.load_state_dict(ck["model"])
        assert torch.equal(m2.weight.detach().cpu(), m.weight.detach())
    assert torch.load.__module__.startswith("torch")


def test_new_tensor_follows_the_source_device():
    with shadow_device() as dev:
        x = torch.ones(2).to(dev)
        y = x.new_tensor([1.0, 2.0])
        assert isinstance(y, ShadowTensor) and (x + y).cpu().tolist() == [2.0, 3.0]
        assert x.new_tensor([1.0], device="cpu").device.type == "cpu"


def test_packing_refuses_lengths_on_the_device_like_cuda():
    from torch.nn.utils.rnn import pack_padded_sequence

    x = torch.randn(3, 7, 4)
    with shadow_device() as dev:
        with pytest.raises(DeviceMismatchError, match="lengths.*CPU"):
            pack_padded_sequence(x.to(dev), torch.tensor([7, 3, 5]).to(dev), batch_first=True, enforce_sorted=False)
        packed = pack_padded_sequence(x.to(dev), torch.tensor([7, 3, 5]), batch_first=True, enforce_sorted=False)
        assert packed.data.device.type == dev.type
