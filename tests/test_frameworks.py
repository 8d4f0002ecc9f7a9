"""Every optimizer in the frameworks people train with, for real, on tiny synthetic data: each
test is the README's recipe ("Using the optimizers in frameworks") and checks its numbers
against the plain loop, or a resumed run against a straight one, bit for bit where the
framework does the same arithmetic."""

import functools
import pickle

import pytest
import torch
import torch.nn.functional as F

from core.optim import WeightTrajectoryLR, backward
from optim_helpers import OPTIMIZERS

METHODS = [n for n in sorted(OPTIMIZERS) if "/" not in n]   # as the lab builds them
BATCH = 8
# Where a framework only reorders a sum (rounding), these methods' steps differ by more than
# rounding: SOAP rotates Adam into the eigenbasis of a preconditioner GG^T of rank <= the batch
# size, whose null space has no preferred basis; rounding picks one, and Adam's normalisation
# turns the rounding-sized components in it into steps. Checked to 1 % where a framework merely
# reorders a mean; not at all where accumulation also changes the sum's grouping.
ROUNDING_AMPLIFIED = {"soap": dict(rtol=1e-2, atol=1e-3)}


def make_net():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(6, 12), torch.nn.Tanh(), torch.nn.Linear(12, 3))


def make_data(n=48):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 6, generator=g), torch.randint(0, 3, (n,), generator=g)


def batches(x, y, size=BATCH):
    return [(x[i:i + size], y[i:i + size]) for i in range(0, len(y), size)]


def plain_loop(name, gamma=1.0):
    """One epoch of the textbook loop, with the lr times ``gamma`` after each step."""
    net = make_net()
    opt = OPTIMIZERS[name](net.parameters())
    sched = torch.optim.lr_scheduler.StepLR(opt, 1, gamma)
    for xb, yb in batches(*make_data()):
        opt.zero_grad()
        backward(F.cross_entropy(net(xb), yb), opt)
        opt.step()
        sched.step()
    return [p.detach().clone() for p in net.parameters()]


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


# ---- Lightning: automatic optimization; the one line MetaCurvatureLR needs is `backward`.
lightning = pytest.importorskip("lightning")


class LitNet(lightning.LightningModule):
    def __init__(self, name):
        super().__init__()
        self.net, self.name = make_net(), name

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self.net(x), y)

    def backward(self, loss, *args, **kwargs):
        backward(loss, self.optimizers())   # keeps the graph when the optimizer asks for it

    def configure_optimizers(self):
        opt = OPTIMIZERS[self.name](self.parameters())
        return {"optimizer": opt, "lr_scheduler": torch.optim.lr_scheduler.StepLR(opt, 1, 0.5)}


def fit(module, epochs, ckpt_path=None):
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*make_data()),
                                         batch_size=BATCH)
    trainer = lightning.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False,
                                enable_checkpointing=False, enable_progress_bar=False,
                                enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(module, loader, ckpt_path=ckpt_path)
    return trainer


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", METHODS)
def test_lightning_fits_and_resumes_bit_for_bit(name, tmp_path):
    straight = LitNet(name)
    fit(straight, epochs=3)
    first = LitNet(name)
    fit(first, epochs=1).save_checkpoint(tmp_path / "one.ckpt")
    resumed = LitNet(name)
    fit(resumed, epochs=3, ckpt_path=tmp_path / "one.ckpt")
    assert same(straight.parameters(), resumed.parameters())
    assert not same(straight.parameters(), make_net().parameters())
    # Its first epoch is the plain loop's, step for step.
    assert same(first.parameters(), plain_loop(name))


# ---- accelerate: prepare, accumulate, save_state / load_state.
accelerate = pytest.importorskip("accelerate")


def accelerated(name, micro_batches, state_in=None, state_out=None, k=2):
    from accelerate.state import AcceleratorState, GradientState
    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    accelerator = accelerate.Accelerator(cpu=True, gradient_accumulation_steps=k)
    net = make_net()
    opt = OPTIMIZERS[name](net.parameters())
    sched = torch.optim.lr_scheduler.StepLR(opt, 1, 0.9)
    net, opt, sched = accelerator.prepare(net, opt, sched)
    if state_in is not None:
        accelerator.load_state(state_in)
    for xb, yb in micro_batches:
        with accelerator.accumulate(net):
            loss = F.cross_entropy(net(xb), yb)
            backward(loss / accelerator.gradient_accumulation_steps, opt)
            opt.step()
            sched.step()
            opt.zero_grad()
    if state_out is not None:
        accelerator.save_state(state_out)
    return [p.detach().clone() for p in net.parameters()]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", METHODS)
def test_accelerate_accumulates_and_resumes_bit_for_bit(name, tmp_path):
    micro = batches(*make_data(), size=BATCH // 2)
    half = len(micro) // 2
    straight = accelerated(name, micro)
    accelerated(name, micro[:half], state_out=tmp_path / "state")
    resumed = accelerated(name, micro[half:], state_in=tmp_path / "state")
    assert same(straight, resumed)
    if name in ROUNDING_AMPLIFIED:
        return
    # Two half batches accumulated are the whole batch (to rounding: the mean is split).
    for a, b in zip(straight, plain_loop(name, gamma=0.9)):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6)


# ---- ignite: create_supervised_trainer as is; MetaCurvatureLR through a two-line update.
ignite_engine = pytest.importorskip("ignite.engine")


@pytest.mark.parametrize("name", METHODS)
def test_ignite_trains_as_the_plain_loop(name):
    net = make_net()
    opt = OPTIMIZERS[name](net.parameters())
    if getattr(opt, "needs_create_graph", None) is None:
        trainer = ignite_engine.create_supervised_trainer(net, opt, F.cross_entropy)
    else:
        def update(engine, batch):
            opt.zero_grad()
            loss = F.cross_entropy(net(batch[0]), batch[1])
            backward(loss, opt)
            opt.step()
            return loss.item()
        trainer = ignite_engine.Engine(update)
    trainer.run(batches(*make_data()), max_epochs=1)
    assert same(net.parameters(), plain_loop(name))


# ---- skorch: the optimizer is a picklable factory (a module-level function), and the net
# pickles with it.
skorch = pytest.importorskip("skorch")


def weight_trajectory_adam(params, lr=0.01, beta=0.1):
    return WeightTrajectoryLR(torch.optim.Adam(params, lr=lr), beta=beta)


class GraphNet(skorch.NeuralNetClassifier):
    """The one method skorch needs told: backward through core.optim."""

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        x, y = skorch.dataset.unpack_data(batch)
        y_pred = self.infer(x, **fit_params)
        loss = self.get_loss(y_pred, y, X=x, training=True)
        backward(loss, self.optimizer_)
        return {"loss": loss, "y_pred": y_pred}


@pytest.mark.parametrize("name", METHODS + ["factory"])
def test_skorch_fits_and_pickles(name):
    factory = (weight_trajectory_adam if name == "factory"
               else functools.partial(_registry_factory, name))
    net = GraphNet(make_net(), optimizer=factory, criterion=torch.nn.CrossEntropyLoss,
                   max_epochs=2, batch_size=BATCH, train_split=None, verbose=0,
                   iterator_train__shuffle=False,
                   **({"optimizer__beta": 0.5} if name == "factory" else {}))
    x, y = make_data()
    net.fit(x, y)
    copy = pickle.loads(pickle.dumps(net))
    net.partial_fit(x, y)
    copy.partial_fit(x, y)
    assert same(net.module_.parameters(), copy.module_.parameters())


def _registry_factory(name, params, lr=None):
    # skorch passes its own lr; the lab's methods keep their registry defaults here.
    return OPTIMIZERS[name](params)


# ---- Hugging Face Trainer: optimizers=(opt, scheduler); MetaCurvatureLR through a Trainer whose
# accelerator's backward is core.optim.backward (the same loss scaling as accelerate's own).
transformers = pytest.importorskip("transformers")


class CurvatureTrainer(transformers.Trainer):
    def create_accelerator_and_postprocess(self):
        super().create_accelerator_and_postprocess()
        accelerator = self.accelerator
        accelerator.backward = lambda loss, **kwargs: backward(
            loss / accelerator.gradient_accumulation_steps, self.optimizer)


class _HFNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = make_net()

    def forward(self, x, labels):
        logits = self.net(x)
        return {"loss": F.cross_entropy(logits, labels), "logits": logits}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", METHODS)
def test_hf_trainer_trains_as_the_plain_loop(name, tmp_path):
    # One batch holds the whole data set, so the Trainer's shuffling changes only the order of
    # the terms in the mean (rounding), and three epochs are three full-batch steps.
    x, y = make_data()
    model = _HFNet()
    opt = OPTIMIZERS[name](model.parameters())
    sched = torch.optim.lr_scheduler.StepLR(opt, 1, 0.5)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=len(y), num_train_epochs=3,
        use_cpu=True, report_to=[], save_strategy="no", logging_strategy="no",
        disable_tqdm=True, max_grad_norm=0.0)
    data = [{"x": a, "labels": b} for a, b in zip(x, y)]
    trainer = (transformers.Trainer if getattr(opt, "needs_create_graph", None) is None
               else CurvatureTrainer)
    trainer(model=model, args=args, train_dataset=data, optimizers=(opt, sched)).train()

    net = make_net()
    ref = OPTIMIZERS[name](net.parameters())
    ref_sched = torch.optim.lr_scheduler.StepLR(ref, 1, 0.5)
    for _ in range(3):
        ref.zero_grad()
        backward(F.cross_entropy(net(x), y), ref)
        ref.step()
        ref_sched.step()
    for a, b in zip(model.net.parameters(), net.parameters()):
        assert torch.allclose(a, b, **ROUNDING_AMPLIFIED.get(name, dict(rtol=1e-5, atol=1e-7)))
