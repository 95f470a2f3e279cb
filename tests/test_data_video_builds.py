"""The per-video machinery of a build: loading in parallel and in order."""
import threading
import time

from vtn_jax.data import video_builds


def test_map_ordered_keeps_the_order_and_runs_ahead_in_parallel():
    active, peak, lock = [0], [0], threading.Lock()

    def slow_square(x):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.02 * (x % 3))  # later items may finish first
        with lock:
            active[0] -= 1
        return x * x

    assert list(video_builds.map_ordered(slow_square, range(12), 3)) == [x * x for x in range(12)]
    assert 1 < peak[0] <= 6  # several at once, at most 2 * num_workers ahead
    assert list(video_builds.map_ordered(abs, [-2, -1], 2, processes=True)) == [2, 1]
