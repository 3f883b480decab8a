"""One-cycle and cosine-with-warm-up schedules: exact rates at given steps, from the formulas written out here."""

import math

import keras
import numpy as np
import pytest

from keras_cvcls.training import OneCycle, cosine_schedule, make_schedule, step_lr_schedule


def rates(schedule, steps):
    return np.array([float(keras.ops.convert_to_numpy(schedule(s))) for s in steps])


def test_one_cycle_exact_values():
    # max 0.01, 100 steps, 25 rising: initial 0.01/25 = 4e-4, final 4e-4/1e4 = 4e-8.
    schedule = OneCycle(0.01, total_steps=100, pct_start=0.25, div_factor=25, final_div_factor=1e4)
    initial, final = 4e-4, 4e-8
    expected = {
        0: initial,
        5: initial + (0.01 - initial) * (1 - math.cos(math.pi * 5 / 25)) / 2,
        12: initial + (0.01 - initial) * (1 - math.cos(math.pi * 12 / 25)) / 2,
        25: 0.01,
        50: final + (0.01 - final) * (1 + math.cos(math.pi * 25 / 74)) / 2,
        62: final + (0.01 - final) * (1 + math.cos(math.pi * 37 / 74)) / 2,  # half way down
        99: final,
        500: final,  # beyond the end: the final rate
    }
    np.testing.assert_allclose(rates(schedule, list(expected)), list(expected.values()), rtol=1e-5, atol=1e-10)
    assert abs(rates(schedule, [62])[0] - (0.01 + final) / 2) < 1e-6
    # Rises monotonically to the peak, then falls monotonically.
    curve = rates(schedule, range(100))
    assert np.argmax(curve) == 25 and np.all(np.diff(curve[:26]) > 0) and np.all(np.diff(curve[25:]) < 0)


def test_cosine_schedule_exact_values_with_warmup():
    schedule = cosine_schedule(0.1, total_steps=110, warmup_steps=10, initial_lr=0.0, final_lr=0.001)
    assert isinstance(schedule, keras.optimizers.schedules.CosineDecay)  # Keras' own, with its warm-up
    expected = {
        0: 0.0,
        4: 0.1 * 4 / 10,  # linear warm-up
        10: 0.1,
        35: 0.001 + (0.1 - 0.001) * (1 + math.cos(math.pi * 25 / 100)) / 2,
        60: 0.001 + (0.1 - 0.001) / 2,
        110: 0.001,
        200: 0.001,
    }
    np.testing.assert_allclose(rates(schedule, list(expected)), list(expected.values()), rtol=1e-5, atol=1e-9)
    plain = cosine_schedule(0.1, total_steps=100)  # no warm-up: starts at the peak
    np.testing.assert_allclose(rates(plain, [0, 50, 100]), [0.1, 0.05, 0.0], atol=1e-7)


def test_schedules_round_trip_through_config_and_optimizer():
    for schedule in (OneCycle(0.02, 40, pct_start=0.3), cosine_schedule(0.1, 50, warmup_steps=5, final_lr=0.01)):
        again = type(schedule).from_config(schedule.get_config())
        np.testing.assert_allclose(rates(again, range(0, 60, 7)), rates(schedule, range(0, 60, 7)))
        optimizer = keras.optimizers.SGD(learning_rate=schedule, momentum=0.9)
        restored = keras.optimizers.SGD.from_config(optimizer.get_config())
        assert type(restored._learning_rate) is type(schedule)
        np.testing.assert_allclose(rates(restored._learning_rate, [0, 9, 33]), rates(schedule, [0, 9, 33]))
    assert OneCycle(0.02, 40).get_config() == {
        "max_lr": 0.02, "total_steps": 40, "pct_start": 0.25, "div_factor": 25.0, "final_div_factor": 1e4,
        "name": "OneCycle",
    }


def test_make_schedule_step_keeps_the_exact_per_epoch_list():
    rate, per_epoch = make_schedule("step", "0.01x2,0.001", epochs=4, steps_per_epoch=3)
    assert rate == 0.01 and per_epoch == [0.01, 0.01, 0.001]
    one_cycle, none = make_schedule("one-cycle", 0.05, epochs=4, steps_per_epoch=3)
    assert none is None and one_cycle.total_steps == 12 and one_cycle.max_lr == 0.05
    cosine, _ = make_schedule("cosine", [0.05], epochs=4, steps_per_epoch=3, warmup_epochs=1)
    np.testing.assert_allclose(rates(cosine, [0, 3, 12]), [0.0, 0.05, 0.0], atol=1e-8)
    # The step schedule of step_lr_schedule is still the exact list, step by step.
    np.testing.assert_allclose(rates(step_lr_schedule([0.1, 0.01], 3), [2, 3]), [0.1, 0.01])


def test_schedule_errors_name_the_remedy():
    with pytest.raises(ValueError, match="one \\(peak\\) learning rate.*Received: lr="):
        make_schedule("cosine", "0.1x2,0.01", epochs=3, steps_per_epoch=2)
    with pytest.raises(ValueError, match="schedule must be one of.*Received: schedule='linear'"):
        make_schedule("linear", 0.1, epochs=3, steps_per_epoch=2)
    with pytest.raises(ValueError, match="Received: pct_start=1.5"):
        OneCycle(0.1, 10, pct_start=1.5)
    with pytest.raises(ValueError, match="Received: warmup_steps=10"):
        cosine_schedule(0.1, 10, warmup_steps=10)
    with pytest.raises(ValueError, match="Received: max_lr=-1"):
        OneCycle(-1, 10)
