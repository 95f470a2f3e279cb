"""EMA and hysteresis on a known-label stream: noisy probability vectors with known change points and flicker."""
import numpy as np
import pytest

from vtn_jax.errors import UserError
from vtn_jax.inference import smoothing

K = 6


def known_stream(k, seed=0, segments=(0, 3, 1, 4, 2, 5), length=20, flicker_lead=0.05, change_lead=0.5):
    """Probability vectors whose true class follows `segments` (each `length` labels), and whose top class
    flickers to a random other class in runs of 1 .. k - 1 labels, leading by `flicker_lead`, never in the first
    k labels of a segment (so every change of the true class leads for k labels and by `change_lead`).

    Returns (probs [T, K], true class [T], raw top class [T], segment starts).
    """
    rng = np.random.default_rng(seed)
    truth = np.repeat(segments, length)
    probs = np.empty((len(truth), K))
    t = 0
    flicker = np.zeros(len(truth), int) - 1
    while t < len(truth):
        if k <= t % length < length - k and rng.random() < 0.3:
            end = t + int(rng.integers(1, k))
            flicker[t:end] = rng.choice([c for c in range(K) if c != truth[t]])
            t = end + 1  # a clean label between two flickers
        else:
            t += 1
    for i, (y, w) in enumerate(zip(truth, flicker)):
        p = rng.uniform(0.0, 0.02, K)
        if w < 0:
            p[y] = (1.0 - change_lead) / 2 + change_lead
        else:
            p[y], p[w] = 0.4, 0.4 + flicker_lead
        probs[i] = p / p.sum() if w < 0 else p
    starts = [i * length for i in range(len(segments))]
    return probs, truth, probs.argmax(axis=1), starts


def changes(labels):
    return [t for t in range(1, len(labels)) if labels[t] != labels[t - 1]]


@pytest.mark.parametrize('k', [2, 3, 5])
def test_hysteresis_removes_flicker_and_delays_each_change_by_less_than_k(k):
    probs, truth, raw, starts = known_stream(k, seed=k)
    assert len(changes(raw)) > 2 * len(changes(truth))  # the raw top class flickers
    hysteresis = smoothing.Hysteresis(k)
    shown = np.array([hysteresis(p) for p in probs])
    # Exactly one change per true change, each k - 1 labels after it, and the right class from then on.
    assert changes(shown) == [s + k - 1 for s in starts[1:]]
    for start, end in zip(starts, starts[1:] + [len(truth)]):
        assert set(shown[start + k - 1:end]) == {truth[start]}


def test_hysteresis_never_misses_a_change_that_lasts_k_labels():
    k = 4
    truth = [0] * 8 + [1] * k + [2] * (k - 1) + [1] * 8  # class 1 lasts k labels; class 2 only k - 1
    probs = np.eye(K)[truth] * 0.6 + 0.4 / K
    hysteresis = smoothing.Hysteresis(k)
    shown = [hysteresis(p) for p in probs]
    assert shown[8 + k - 1] == 1 and 2 not in shown and shown[-1] == 1


def test_a_margin_switches_at_once_but_small_leads_wait_for_k():
    k = 4
    probs, truth, raw, starts = known_stream(k, seed=1, flicker_lead=0.05, change_lead=0.5)
    hysteresis = smoothing.Hysteresis(k, margin=0.3)
    shown = np.array([hysteresis(p) for p in probs])
    assert changes(shown) == starts[1:]  # every true change leads by >= 0.3 at once; no flicker leads by 0.3
    np.testing.assert_array_equal(shown, truth)
    lenient = smoothing.Hysteresis(k, margin=0.01)  # every flicker leads by 0.05: shown at once
    assert [lenient(p) for p in probs] == list(raw)


def test_k_1_shows_every_top_class_and_reset_forgets():
    probs, _, raw, _ = known_stream(3, seed=2)
    hysteresis = smoothing.Hysteresis(1)
    assert [hysteresis(p) for p in probs] == list(raw)
    slow = smoothing.Hysteresis(10)
    slow(np.eye(K)[0])
    assert slow(np.eye(K)[1]) == 0
    slow.reset()
    assert slow(np.eye(K)[1]) == 1 and slow.shown == 1


def test_ema_follows_its_formula_and_reset_forgets():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(K), size=10)
    ema = smoothing.Ema(0.7)
    out = [ema(p) for p in probs]
    expected = probs[0]
    np.testing.assert_allclose(out[0], probs[0])
    for p, o in zip(probs[1:], out[1:]):
        expected = 0.7 * expected + 0.3 * p
        np.testing.assert_allclose(o, expected)
    assert abs(out[-1].sum() - 1.0) < 1e-12
    ema.reset()
    np.testing.assert_allclose(ema(probs[3]), probs[3])
    off = smoothing.Ema(0.0)
    assert [np.allclose(off(p), p) for p in probs] == [True] * 10


def test_smoother_chains_ema_then_hysteresis():
    probs, truth, _, starts = known_stream(3, seed=4)
    smoother = smoothing.Smoother(ema=0.5, k=3)
    out = [smoother(p) for p in probs]
    assert not out[0].changed and [t for t, o in enumerate(out) if o.changed] == changes([o.label for o in out])
    # The EMA already damps the flicker; the hysteresis on top shows each true segment, a little late.
    labels = [o.label for o in out]
    assert [labels[t] for t in changes(labels)] == [truth[s] for s in starts[1:]]
    assert all(s <= t <= s + 3 for s, t in zip(starts[1:], changes(labels)))
    ema = smoothing.Ema(0.5)
    np.testing.assert_allclose(out[5].probs, [ema(p) for p in probs[:6]][-1])


@pytest.mark.parametrize('make, message', [
    (lambda: smoothing.Ema(1.0), r'\[0, 1\)'),
    (lambda: smoothing.Hysteresis(0), 'k must be an integer >= 1'),
    (lambda: smoothing.Hysteresis(2.5), 'k must be an integer >= 1'),
    (lambda: smoothing.Hysteresis(2, margin=-0.1), 'margin'),
])
def test_bad_settings_are_user_errors(make, message):
    with pytest.raises(UserError, match=message):
        make()
