#!/bin/bash
# Final measurements of the speed3 branch: background trainings paused, always resumed.
set -u
# only the two convergence trainings (other helpers' run_worker processes are left alone)
PIDS=$(pgrep -f 'one_run import run_worker.*/work/runs_conv/' | tr '\n' ' ')
resume() { for p in $PIDS; do kill -CONT $p 2>/dev/null; done; }
trap resume EXIT
PY=/work/venvs/speed3/bin/python
WT=/work/wt/speed3
OUT=$WT/benchmarks/results
D=2026-12-07_amd
LOG=/tmp/speed3-meas/measure.log
cd $WT
step() {  # name, then step.py arguments
  local name=$1; shift
  { echo "# $(date -u +%H:%M:%S) UTC, load: $(cut -d' ' -f1-3 /proc/loadavg); python benchmarks/step.py $*"
    timeout 900 $PY benchmarks/step.py "$@" 2>&1; } > $OUT/${name}.txt
  echo "$(date -u +%H:%M:%S) done $name" >> $LOG
}
main_step() {
  local name=$1; shift
  { echo "# $(date -u +%H:%M:%S) UTC, load: $(cut -d' ' -f1-3 /proc/loadavg); main (be75b11): python benchmarks/step.py $*"
    (cd /tmp/speed3_main && PYTHONPATH=/tmp/speed3_main timeout 900 $PY benchmarks/step.py "$@" 2>&1); } > $OUT/${name}.txt
  echo "$(date -u +%H:%M:%S) done $name" >> $LOG
}
echo "$(date -u +%H:%M:%S) start; $(uptime)" > $LOG
ps -eo pid,ni,pcpu,etime,args --sort=-pcpu | head -12 >> $LOG
echo "pausing: $PIDS" >> $LOG
for p in $PIDS; do kill -STOP $p; done
sleep 20
echo "$(date -u +%H:%M:%S) paused; $(uptime)" >> $LOG
step step_cpu_${D}_speed3_1t --threads 1 --sizes 256 1024 --sparsities 0.04 1.0 --reps 5
main_step step_cpu_${D}_speed3_before_1t --threads 1 --sizes 256 1024 --sparsities 0.04 --reps 5
step step_cpu_${D}_speed3_2t --threads 2 --sizes 256 1024 --sparsities 0.04 1.0 --reps 5
main_step step_cpu_${D}_speed3_before_2t --threads 2 --sizes 256 1024 --sparsities 0.04 --reps 5
{ echo "# $(date -u +%H:%M:%S) UTC, load: $(cut -d' ' -f1-3 /proc/loadavg)"
  REFRNN_THREADS=1 timeout 600 $PY benchmarks/floor.py --sizes 256 1024 --sparsities 0.04 --reps 3 2>&1; } > $OUT/floor_${D}_speed3.txt
echo "$(date -u +%H:%M:%S) done floor" >> $LOG
{ for n in 256 1024; do echo "# $(date -u +%H:%M:%S) UTC, load: $(cut -d' ' -f1-3 /proc/loadavg)"
  timeout 300 $PY benchmarks/threads.py --n $n --threads 2 --reps 3 2>&1; done; } > $OUT/threads_${D}_speed3.txt
echo "$(date -u +%H:%M:%S) done threads" >> $LOG
step step_cpu_${D}_speed3_matrix_1t --matrix --threads 1 --sizes 256 1024 --sparsities 0.04 --reps 3
step step_cpu_${D}_speed3_4096_1t --threads 1 --sizes 4096 --sparsities 0.04 --big-reps 2
resume
echo "$(date -u +%H:%M:%S) resumed; $(uptime)" >> $LOG
