"""Model architectures judged by `bench/knob_study.py --variant NAME` before they are built into deepear/.

A recipe knob is a `--set` override; a change of the network's shape that the recipe cannot express yet is a
variant: a builder that replaces `Experiment.build_model` for the study, everything else (data, pre-training,
fine-tuning, the stopping rule, the judgement) unchanged. Building an architecture into the library touches
training, DeepX (profiling, SVD, int8, partitioning) and the exports, and changes the `deepear/` tree, which
means recomputing the recipe's stored trajectories (~25 min per seed); a variant costs only its own side, so it
is judged first and built in only if it passes. A variant is not a deployable model: nothing but the study
trains it.

Variants:

    task-towers-<H>   one hidden layer of H units per task (the trunk's activation and dropout) between the
                      shared trunk and that task's softmax layer: `heads.<task>` becomes
                      Sequential(fc, act[, drop], out). Single-task nets of the recipe beat the shared trunk on
                      scene and emotion (docs/training.md); a tower gives each task capacity of its own.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import nn

from deepear.experiment import Experiment, run_seed
from deepear.model.dnn import ACTIVATIONS, MultiTaskDNN

Builder = Callable[[Experiment], MultiTaskDNN]


class TaskTowerDNN(MultiTaskDNN):
    """MultiTaskDNN whose heads are towers: heads.<task> = Sequential(fc (hidden[-1] -> width), act, [drop],
    out (width -> n_classes)). Trunk first, then the towers in task order, initialised from one generator:
    Glorot-uniform weights, zero biases (as the library's heads)."""

    def __init__(self, input_dim: int, tasks: dict[str, int], width: int, hidden, activation: str, dropout: float,
                 generator: torch.Generator) -> None:
        super().__init__(input_dim, tasks, hidden=hidden, activation=activation, dropout=dropout,
                         generator=generator)
        self.tower_width = int(width)
        towers = {}
        for t, n in self.tasks.items():
            layers: OrderedDict[str, nn.Module] = OrderedDict()
            layers["fc"] = nn.Linear(self.hidden[-1], self.tower_width)
            layers["act"] = ACTIVATIONS[activation]()
            if self.dropout > 0:
                layers["drop"] = nn.Dropout(self.dropout)
            layers["out"] = nn.Linear(self.tower_width, n)
            towers[t] = nn.Sequential(layers)
        self.heads = nn.ModuleDict(towers)
        with torch.no_grad():
            for t in self.tasks:
                for lin in (self.heads[t].fc, self.heads[t].out):
                    nn.init.xavier_uniform_(lin.weight, generator=generator)
                    lin.bias.zero_()


def task_towers(width: int) -> Builder:
    """Builder of a `TaskTowerDNN` with towers of `width` units, from the recipe's model section and init seed."""
    def build(exp: Experiment) -> MultiTaskDNN:
        m = exp.recipe.model
        return TaskTowerDNN(exp.recipe.front_end.dim, {t: len(exp.labels[t]) for t in exp.tasks}, width,
                            hidden=m.hidden, activation=m.activation, dropout=m.dropout,
                            generator=torch.Generator().manual_seed(run_seed(exp.recipe.seed, "init")[1]))
    return build


def builder(name: str) -> Builder:
    """The builder named `name` (see the module docstring); an unknown name is an error that lists the known."""
    m = re.fullmatch(r"task-towers-([1-9][0-9]*)", name)
    if m:
        return task_towers(int(m.group(1)))
    raise SystemExit(f"--variant {name!r}: unknown; known: task-towers-<H> (H units per task tower, e.g. "
                     "task-towers-256)")


def apply(exp: Experiment, name: str) -> None:
    """Make `exp.build_model` build variant `name` (for this Experiment object only)."""
    build = builder(name)
    exp.build_model = lambda: build(exp)  # type: ignore[method-assign]
