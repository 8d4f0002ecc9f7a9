"""Batches gathered a batch at a time (issue 20): the same batches and the same numbers, bit for
bit, as the old per-epoch gather of a permuted copy of the training set per member."""

import pytest
import torch

from core.config import RunConfig
from core.training.epochs import Gathered, batch_generator, run_epochs
from core.training.population import StackedMembers
from core.training.train import SoloMembers

pytestmark = pytest.mark.timeout(300)


class OldStackedMembers(StackedMembers):
    """StackedMembers with the gather it had before issue 20: one (P, n, 40) copy per epoch."""

    def start_epoch(self, x_train, y_train):
        n = len(y_train)
        perms = torch.stack([torch.randperm(n, generator=g) for g in self.batch_orders])
        perms = perms.to(x_train.device)
        self.xs, self.ys = x_train[perms].transpose(1, 2), y_train[perms]


class OldSoloMembers(SoloMembers):
    def start_epoch(self, x_train, y_train):
        perm = torch.randperm(len(y_train), generator=self.batch_order).to(x_train.device)
        self.xs, self.ys = x_train[perm], y_train[perm]


def _configs(method="adam", **shared):
    return [RunConfig(method=method, lr=0.01 * (1 + i), seed=3 + i, device="cpu", **shared)
            for i in range(3)]


def test_gathered_is_the_permuted_copy_sliced():
    x, order = torch.randn(10, 4), torch.stack([torch.randperm(10) for _ in range(3)])
    lazy = Gathered(x, order, features_first=True)
    assert torch.equal(lazy[:, :, 2:7], x[order].transpose(1, 2)[:, :, 2:7])
    assert torch.equal(Gathered(x, order[0])[3:9], x[order[0]][3:9])
    with pytest.raises(IndexError, match="sample axis"):
        lazy[0, :, 2:7]


def test_each_epochs_batches_equal_the_old_ones_also_after_a_member_leaves():
    configs = _configs(batch_size=7)
    x, y = torch.randn(50, 40), torch.randint(10, (50,))
    members = StackedMembers(configs, torch.device("cpu"), torch.float32)
    gens = [batch_generator(c) for c in configs]
    for epoch in range(4):
        if epoch == 2:   # a diverged or pruned member leaves: the others' orders go on
            members.keep([0, 2])
            gens = [gens[0], gens[2]]
        members.start_epoch(x, y)
        perms = torch.stack([torch.randperm(50, generator=g) for g in gens])
        old_xs, old_ys = x[perms].transpose(1, 2), y[perms]
        for i in range(0, 50, 7):
            j = min(i + 7, 50)
            assert torch.equal(members.xs[:, :, i:j], old_xs[:, :, i:j]), (epoch, i)
            assert torch.equal(members.ys[:, i:j], old_ys[:, i:j]), (epoch, i)


def _history(configs, data, build):
    return [[(m.train_loss, m.val_loss, m.val_acc, m.test_loss, m.lrs, m.diagnostics)
             if m else None for m in row] for row in run_epochs(configs, data, build)]


@pytest.mark.parametrize("method", ["adam", "wngd"])
def test_a_population_trains_bit_for_bit_as_with_the_old_gather(method, mnist1d):
    configs = _configs(method, epochs=2, batch_size=64, hidden=(30,), split="honest")
    new = _history(configs, mnist1d, StackedMembers)
    assert new == _history(configs, mnist1d, OldStackedMembers)


def test_a_solo_run_trains_bit_for_bit_as_with_the_old_gather(mnist1d):
    config = _configs(epochs=2, batch_size=64, hidden=(30,))[0]

    def solo(cls):
        return lambda configs, device, dtype: cls(configs[0], device, dtype)
    assert _history([config], mnist1d, solo(SoloMembers)) == \
        _history([config], mnist1d, solo(OldSoloMembers))
