"""LEDs, buzzer and door relay on gpiozero's MockFactory: assert what the pins did."""

import pytest
from gpiozero.pins.mock import MockFactory
from pydantic import ValidationError

from hardware.indicators import (
    IndicatorError,
    Indicators,
    IndicatorsConfig,
    NullIndicators,
    accepted_steps,
    attention_steps,
    cannot_save_steps,
    refused_steps,
)

FAST = dict(accept_s=0.05, refuse_s=0.05, beep_s=0.01, beep_gap_s=0.01, attention_blink_s=0.01, relay_pulse_s=0.08,
            fault_pulse_s=0.01)
WAIT_S = 30  # generous: only a hang would reach it


@pytest.fixture
def factory():
    f = MockFactory()
    yield f
    f.reset()


def levels(factory, pin: int) -> list[bool]:
    """The pin's recorded level history (the first entry is its state before we touched it)."""
    return [s.state for s in factory.pin(pin).states]


def open_indicators(factory, **overrides) -> Indicators:
    indicators = Indicators(IndicatorsConfig(**{**FAST, **overrides}), pin_factory=factory)
    indicators.open()
    for pin in (17, 27, 22, overrides.get("relay_pin")):
        if pin is not None:
            factory.pin(pin).clear_states()
    return indicators


def test_accepted_lights_green_beeps_once_and_releases_the_door(factory):
    ind = open_indicators(factory, relay_pin=23)
    ind.accepted()
    assert ind.wait_idle(WAIT_S)
    assert levels(factory, 17) == [False, True, False]   # green on, then off
    assert levels(factory, 22) == [False, True, False]   # one beep
    assert levels(factory, 27) == [False]                # red untouched
    relay = factory.pin(23).states
    assert [s.state for s in relay] == [False, True, False]
    assert relay[2].timestamp >= 0.08 * 0.9  # the strike stays released for the pulse (a lower bound only)
    ind.close()


def test_refused_lights_red_and_beeps_twice(factory):
    ind = open_indicators(factory, relay_pin=23)
    ind.refused()
    assert ind.wait_idle(WAIT_S)
    assert levels(factory, 27) == [False, True, False]
    assert levels(factory, 22) == [False, True, False, True, False]
    assert levels(factory, 17) == [False]
    assert levels(factory, 23) == [False]  # no door for a refusal
    ind.close()


def test_cannot_save_pulses_red_with_the_buzzer_never_green_no_door(factory):
    """Issue 21: a punch the disk refused sounds and looks unlike a face that was refused."""
    ind = open_indicators(factory, relay_pin=23, fault_pulses=3)
    ind.cannot_save()
    assert ind.wait_idle(WAIT_S)
    assert levels(factory, 27) == [False, True, False, True, False, True, False]
    assert levels(factory, 22) == [False, True, False, True, False, True, False]
    assert levels(factory, 17) == [False] and levels(factory, 23) == [False]
    ind.close()


def test_attention_blinks_both_leds_without_sound(factory):
    ind = open_indicators(factory, attention_blinks=3)
    ind.attention()
    assert ind.wait_idle(WAIT_S)
    assert levels(factory, 17) == [False, True, False, True, False, True, False]
    assert levels(factory, 27) == [False, True, False, True, False, True, False]
    assert levels(factory, 22) == [False]
    ind.close()


def test_a_new_signal_cuts_the_previous_one_short_but_not_the_door(factory):
    ind = open_indicators(factory, relay_pin=23, accept_s=5.0, relay_pulse_s=0.2)
    ind.accepted()
    ind.refused()  # the next person, at once: green must go off, red takes over
    assert ind.wait_idle(WAIT_S)
    assert levels(factory, 17)[-1] is False
    assert levels(factory, 27) == [False, True, False]
    assert levels(factory, 23) == [False, True, False]  # the first person's door pulse ran to its end
    ind.close()


def test_an_active_low_relay_is_driven_low_to_release(factory):
    ind = Indicators(IndicatorsConfig(**FAST, relay_pin=23, relay_active_high=False), pin_factory=factory)
    ind.open()
    assert factory.pin(23).state is True  # idle: high, strike locked
    factory.pin(23).clear_states()
    ind.accepted()
    assert ind.wait_idle(WAIT_S)
    assert levels(factory, 23) == [True, False, True]
    ind.close()


def test_close_switches_everything_off_mid_pattern_and_frees_the_pins(factory):
    ind = open_indicators(factory, relay_pin=23, accept_s=10.0, relay_pulse_s=10.0)
    ind.accepted()
    ind.close()
    ind.close()  # twice is fine
    for pin in (17, 22, 23):
        assert factory.pin(pin).state is False
    again = Indicators(IndicatorsConfig(**FAST, relay_pin=23), pin_factory=factory)
    again.open()  # the pins were released
    again.close()


def test_signals_before_open_fail_clearly(factory):
    with pytest.raises(IndicatorError, match="not open"):
        Indicators(IndicatorsConfig(), pin_factory=factory).accepted()


def test_a_pin_already_in_use_is_an_indicator_error(factory):
    first = Indicators(IndicatorsConfig(), pin_factory=factory)
    first.open()
    with pytest.raises(IndicatorError, match="cannot be set up"):
        Indicators(IndicatorsConfig(), pin_factory=factory).open()
    first.close()


def test_config_rejects_shared_pins_and_unknown_keys():
    with pytest.raises(ValidationError, match="must differ"):
        IndicatorsConfig(red_pin=17)
    with pytest.raises(ValidationError, match="relay_pin"):
        IndicatorsConfig(relay_pin=17)
    with pytest.raises(ValidationError, match="extra"):
        IndicatorsConfig(green_led=5)
    assert all(f.description for f in IndicatorsConfig.model_fields.values())


@pytest.mark.parametrize("make", [accepted_steps, refused_steps, attention_steps, cannot_save_steps])
def test_patterns_are_ordered_and_end_with_everything_off(make):
    steps = make(IndicatorsConfig())
    assert [s[0] for s in steps] == sorted(s[0] for s in steps)
    final = {}
    for _, name, on in steps:
        final[name] = on
    assert not any(final.values())


def test_null_indicators_do_nothing_quietly():
    ind = NullIndicators()
    ind.open()
    ind.accepted(), ind.refused(), ind.attention(), ind.cannot_save()
    assert ind.wait_idle(0)
    ind.close()
