"""The task table: what each task of the LM is given, what it generates and which losses train it.

A training sample carries a task tag, tag i = TASKS[i]; the loader draws it and batches hold it, so
the order of `TASK_TABLE` is part of the batch format. `generate(task, ...)` samples the generated
streams and feeds the given ones from their codes; a training sample of a task has a loss on the
streams the task generates (the given stream is a condition). Both streams are always conditioned on
their text. Captioning is not a task of this table: it is its own training stage and `model.caption()`.
"""

from __future__ import annotations

from dataclasses import dataclass

STREAMS = ("music", "motion")  # the two code streams of the LM


@dataclass(frozen=True)
class Task:
    name: str
    tag: int  # the task id of training batches: TASK_TABLE[tag] is this task
    given: tuple[str, ...]  # streams fed from their codes ("music", "motion")
    generated: tuple[str, ...]  # streams the model samples

    @property
    def trained(self) -> tuple[str, ...]:
        """The stream losses a training sample of this task carries: the streams it generates."""
        return self.generated


TASK_TABLE: tuple[Task, ...] = (
    Task("text2music_motion", tag=0, given=(), generated=("music", "motion")),
    Task("music2motion", tag=1, given=("music",), generated=("motion",)),
    Task("motion2music", tag=2, given=("motion",), generated=("music",)),
)
if [task.tag for task in TASK_TABLE] != list(range(len(TASK_TABLE))):
    raise ValueError(f"TASK_TABLE must list tasks in tag order 0..{len(TASK_TABLE) - 1}")

TASKS: tuple[str, ...] = tuple(task.name for task in TASK_TABLE)  # task tag i = TASKS[i]


def task_named(name: str) -> Task:
    """The task called `name`; ValueError naming the known tasks otherwise."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {TASKS}")
    return TASK_TABLE[TASKS.index(name)]
