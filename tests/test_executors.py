"""Where benchmark cells run: one after another here, or as tasks on a local Ray cluster; a failing
item is isolated either way."""

import math
import os

import pytest

from audit.cores import CORES_ENV, available_cores, thread_env
from audit.executors import run_all


def test_local_runs_in_order_reports_each_outcome_and_isolates_a_failing_item():
    seen = []
    out = run_all(math.sqrt, [4, -1, 9], on_done=lambda k, o: seen.append(k))
    assert [o.value for o in out] == [2.0, None, 3.0] and seen == [0, 1, 2]
    assert out[1].error == "ValueError: math domain error" and "Traceback" in out[1].traceback
    with pytest.raises(ValueError, match="benchmark.executor: unknown 'dask'; available: local, ray"):
        run_all(math.sqrt, [1], executor="dask")


def test_ray_runs_items_as_tasks_on_a_local_cluster_each_worker_held_to_its_share():
    pytest.importorskip("ray")  # the [ray] extra; `make test` installs it
    out = run_all(os.getenv, ["missing", CORES_ENV, "TF_NUM_INTRAOP_THREADS"], executor="ray", workers=2)
    share = str(max(1, available_cores() // 2))
    assert [o.value for o in out] == [None, share, share] and not any(o.error for o in out)
    out = run_all(math.sqrt, [4, -1, 9], executor="ray", workers=2)
    assert [o.value for o in out] == [2.0, None, 3.0] and out[1].error == "ValueError: math domain error"


def test_cores_come_from_the_environment_when_set(monkeypatch):
    monkeypatch.setenv(CORES_ENV, "3")
    assert available_cores() == 3 and thread_env(3)["TF_NUM_INTRAOP_THREADS"] == "3"
    monkeypatch.setenv(CORES_ENV, "many")
    with pytest.raises(ValueError, match="BRAIN_AUDIT_CORES must be a whole number of cores, got 'many'"):
        available_cores()
    monkeypatch.delenv(CORES_ENV)
    assert available_cores() == (os.cpu_count() or 1)


def test_ray_executor_without_ray_is_a_one_line_error(monkeypatch):
    import sys

    from audit.executors import import_ray

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ValueError, match=r"needs Ray: pip install 'brain-audit\[ray\]'"):
        import_ray()


def test_threads_cannot_change_once_tensorflow_runs_here():
    import tensorflow as tf

    from audit.cores import threads_in_use

    _ = tf.constant(1.0) + 1  # TensorFlow has run: its thread count is fixed in this process
    held = threads_in_use()
    with pytest.raises(ValueError, match=rf"benchmark.threads = {held + 5}: TensorFlow already runs in this process"):
        run_all(math.sqrt, [1], threads=held + 5)
