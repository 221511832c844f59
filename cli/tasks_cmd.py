"""``refrnn tasks``: list a task set's tasks, sizes and period structure."""
import click

from refrnn.tasks.encoding import COMPAT_MODES
from refrnn.tasks.registry import TASK_SETS, task_info, task_names


def _fmt_ms(values):
    """(500,) -> '500'; (200, 300, 400) -> '200..400/100'; else comma-separated."""
    if len(values) == 1:
        return str(values[0])
    steps = {b - a for a, b in zip(values, values[1:])}
    if len(steps) == 1:
        return f"{values[0]}..{values[-1]}/{steps.pop()}"
    return ",".join(str(v) for v in values)


def _validated(fn, param, *args, **kw):
    try:
        return fn(*args, **kw)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint=param) from None


@click.command("tasks")
@click.option("--task-set", "task_set", default="modcog", show_default=True,
              type=click.Choice(list(TASK_SETS)), help="which task battery")
@click.option("--task", "task", default=None, help="show only this task")
@click.option("--dt", default=100, show_default=True, type=int, help="step length, ms")
@click.option("--compat", default=None, type=click.Choice([c for c in COMPAT_MODES if c]),
              help="reference behaviour where refrnn differs")
@click.option("--seed", default=0, show_default=True, type=int,
              help="task-set seed (fixes the delayed-match delays)")
def tasks_cmd(task_set, task, dt, compat, seed):
    """List tasks in one-hot order with their period durations (ms).

    Durations read '500' (fixed), 'a..b/s' (drawn from a to b in steps of s).
    """
    names = task_names(task_set)
    if task is not None:
        if task not in names:
            _validated(task_info, "--task", task)  # unknown: close-match hint
            raise click.BadParameter(f"{task!r} is not in task set {task_set!r}",
                                     param_hint="--task")
        names = [task]
    n = len(TASK_SETS[task_set])
    click.echo(f"task set {task_set}: {n} tasks; input 33 + {n} (one-hot task) = {33 + n} "
               f"units, output 17 classes; dt {dt} ms"
               + (f"; compat {compat}" if compat else ""))
    for name in names:
        info = _validated(task_info, "--dt", name, dt=dt, compat=compat, seed=seed)
        periods = "  ".join(f"{p} {_fmt_ms(v)}" for p, v in info["periods"])
        idx = TASK_SETS[task_set].index(name)
        click.echo(f"{idx:4d}  {name:<16s} {info['family']:<4s} {periods}")
