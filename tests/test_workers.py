"""Every background worker has one lifecycle (start, stop, state), survives any exception in
its loop, and `/health` shows each one."""

import threading

from hub.workers import ThreadWorker
from tests.support.hubproc import RunningHub, wait_until


class Flaky(ThreadWorker):
    """Fails its first passes the way a bug or a locked database would."""

    name = "flaky"

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.left = failures
        self.passes = 0
        self.ended = threading.Event()

    def step(self, stop: threading.Event) -> float:
        if self.left:
            self.left -= 1
            raise RuntimeError(f"boom {self.left}")
        self.passes += 1
        return 0.01

    def end(self) -> None:
        self.ended.set()


def test_a_worker_survives_what_its_loop_raises_and_says_so():
    worker = Flaky(failures=2)
    assert worker.state()["state"] == "not started"
    worker.start()
    try:
        wait_until(lambda: worker.state()["failures"] == 1)
        failing = worker.state()
        assert failing["state"] == "failing" and failing["last_error"] == "RuntimeError: boom 1"
        wait_until(lambda: worker.passes > 3, timeout=30)  # backed off 1 s, then 2 s
        state = worker.state()
        assert state["state"] == "running" and state["failures"] == 2
        assert state["last_error"] == "RuntimeError: boom 0", "the last error stays visible"
    finally:
        worker.stop()
    assert worker.ended.is_set() and worker.state()["state"] == "stopped"


def test_health_reports_every_worker_of_a_running_hub(tmp_path):
    from tests.support.broker import Mosquitto

    broker = Mosquitto(tmp_path / "broker").start()
    hub = RunningHub(tmp_path / "home", "--broker", broker.url, "--store-id", "s-w").start()
    try:
        with hub.client() as api:
            def all_running():
                workers = {w["name"]: w for w in api.get("/health").json()["workers"]}
                return workers if all(w["state"] == "running" for w in workers.values()) \
                    else None

            workers = wait_until(all_running, timeout=30)
            assert set(workers) == {"print queue", "sync", "scheduler", "discovery"}
            assert workers["sync"]["failures"] == 0 and workers["sync"]["last_error"] is None
            health = api.get("/health").json()
            assert health["sync"]["conflicts"] == 0 and health["status"] == "ok"
    finally:
        assert hub.stop() == 0
        broker.stop()
