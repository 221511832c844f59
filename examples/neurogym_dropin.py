"""neurogym's supervised-learning example, run on refrnn.Dataset.

neurogym's notebook docs/examples/supervised_learning_pytorch.ipynb (a PyTorch
LSTM on ``ngym.Dataset``, then an evaluation with ``env.new_trial()``) with
two lines changed: the import (``import refrnn as ngym``) and the task name
(its PerceptualDecisionMaking is not a Yang task: here a yang19 task or the
whole set). Everything between the marked lines is the notebook's code.

    python examples/neurogym_dropin.py                          # yang19.dm1-v0, 200 updates
    python examples/neurogym_dropin.py --task yang19 --epochs 500 --seed 1
    python examples/neurogym_dropin.py --compat neurogym-2.3    # neurogym 2.3.1's trials
    python examples/neurogym_dropin.py --package neurogym       # the same on neurogym itself

Needs torch (``pip install refrnn[torch]``), not neurogym (only
``--package neurogym`` imports it, to compare). Prints the mean loss of each
100 updates, the last 100 updates' mean loss, the evaluation's performance
and the wall time.
"""
import argparse
import importlib
import time
import warnings

import numpy as np
import torch
import torch.nn as nn

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--task", default="yang19.dm1-v0",
               help="a yang19 task id, or 'yang19' for the 20-task set (default %(default)s)")
p.add_argument("--epochs", type=int, default=200, help="updates (the notebook's EPOCHS)")
p.add_argument("--trials", type=int, default=200, help="evaluation trials (num_trial)")
p.add_argument("--seed", type=int, default=None, help="seeds torch and the dataset")
p.add_argument("--compat", default=None, help="refrnn's trial rule set, e.g. neurogym-2.3")
p.add_argument("--package", default="refrnn", choices=("refrnn", "neurogym"))
a = p.parse_args()
if a.compat and a.package == "neurogym":
    p.error("--compat is refrnn's rule-set switch; neurogym has its own rules only")
torch.set_num_threads(1)
if a.seed is not None:
    torch.manual_seed(a.seed)
t0 = time.perf_counter()

# ---- the notebook, with the import and the task name changed --------------------------
ngym = importlib.import_module(a.package)          # notebook: import neurogym as ngym
warnings.filterwarnings('ignore')

# Environment
task = a.task                                      # notebook: 'PerceptualDecisionMaking-v0'
kwargs = {'dt': 100}
seq_len = 100
if a.compat:
    kwargs['compat'] = a.compat
if a.package == "neurogym" and task == "yang19":   # neurogym has no id for the whole set
    from neurogym.envs.collections import get_collection
    from neurogym.utils.scheduler import RandomSchedule
    from neurogym.wrappers import ScheduleEnvs
    envs = [ngym.make(t, **kwargs) for t in get_collection("yang19")]
    task = ScheduleEnvs(envs, schedule=RandomSchedule(len(envs)), env_input=True)

# Make supervised dataset
dataset = ngym.Dataset(task, env_kwargs=kwargs, batch_size=16,
                       seq_len=seq_len)
if a.seed is not None:
    dataset.seed(a.seed)  # both packages: the batches and env (refrnn: seed=None is fresh entropy)
env = dataset.env
ob_size = env.observation_space.shape[0]
act_size = env.action_space.n

EPOCHS = a.epochs
losses = []


class Net(nn.Module):
    def __init__(self, num_h):
        super(Net, self).__init__()
        self.lstm = nn.LSTM(ob_size, num_h)
        self.linear = nn.Linear(num_h, act_size)

    def forward(self, x):
        out, hidden = self.lstm(x)
        x = self.linear(out)
        return x


device = 'cuda' if torch.cuda.is_available() else 'cpu'
net = Net(num_h=64).to(device)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)

running_loss = 0.0
for i in range(EPOCHS):
    inputs, labels = dataset()
    inputs = torch.from_numpy(inputs).type(torch.float).to(device)
    labels = torch.from_numpy(labels.flatten()).type(torch.long).to(device)

    # zero the parameter gradients
    optimizer.zero_grad()

    # forward + backward + optimize
    outputs = net(inputs)

    loss = criterion(outputs.view(-1, act_size), labels)
    loss.backward()
    optimizer.step()

    # print statistics
    losses.append(loss.item())
    running_loss += loss.item()
    if (i+1) % 100 == 0:
        print('{:d} loss: {:0.5f}'.format(i+1, running_loss / 100))
        running_loss = 0.0

print('Finished Training')

perf = 0
num_trial = a.trials
for i in range(num_trial):
    env.new_trial()
    ob, gt = env.ob, env.gt
    ob = ob[:, np.newaxis, :]  # Add batch axis
    inputs = torch.from_numpy(ob).type(torch.float).to(device)

    action_pred = net(inputs)
    action_pred = action_pred.detach().numpy()
    action_pred = np.argmax(action_pred, axis=-1)
    perf += gt[-1] == action_pred[-1, 0]

perf /= num_trial
print('Average performance in {:d} trials'.format(num_trial))
print(perf)
# ---- end of the notebook ---------------------------------------------------------------

print(f"last 100 updates' mean loss {np.mean(losses[-100:]):.5f}; "
      f"wall time {time.perf_counter() - t0:.1f} s ({a.package}, {a.task}, compat={a.compat})")
