"""``refrnn tasks``: list a task set's tasks, sizes and period structure."""
import click

from refrnn.tasks.registry import TASK_SETS, task_info, task_names

from .options import setting_options, settings_from


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
@setting_options("task_set", "dt", "compat", "task_seed")
@click.option("--task", "task", default=None, help="show only this task")
def tasks_cmd(task, **options):
    """List tasks in one-hot order with their period durations (ms).

    Durations read '500' (fixed), 'a..b/s' (drawn from a to b in steps of s).
    The settings, their defaults and the --dt rule are `refrnn train`'s.
    """
    cfg = settings_from(options, check_dt=True)
    task_set, dt, compat, seed = cfg.task_set, cfg.dt, cfg.compat, cfg.task_seed
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
