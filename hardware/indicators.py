"""What the person at the wall sees and hears: LEDs, a buzzer and the door relay.

Signals are short timed patterns (lists of ``(at_s, output, on)`` steps, made
by pure functions below) played on a background thread, so ``accepted()``
returns at once and the pipeline never waits for a beep. A new signal cuts the
previous one short (a refusal right after an acceptance must not leave the
green LED lit). The door relay plays on its own thread: a stranger walking up
does not cut the door pulse of the person before them.

All devices are gpiozero devices built with the given ``pin_factory``; None
takes gpiozero's default, so ``GPIOZERO_PIN_FACTORY=mock`` runs this on a
laptop and tests pass ``gpiozero.pins.mock.MockFactory()``. gpiozero (the
``kiosk`` extra) is imported in ``open()``.
"""

import logging
import threading
import time
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

log = logging.getLogger(__name__)

Step = tuple[float, str, bool]  # (seconds after the start, output name, on)


class IndicatorError(RuntimeError):
    """The GPIO outputs cannot be set up (pin busy, no pin factory, bad pin)."""


class IndicatorsConfig(BaseModel):
    """GPIO feedback (``indicators:`` in kiosk.yaml). Pins are BCM numbers; see hardware/README.md."""

    model_config = ConfigDict(extra="forbid")

    green_pin: int = Field(17, ge=0, le=27, description="BCM pin of the green LED: accepted (header pin 11)")
    red_pin: int = Field(27, ge=0, le=27, description="BCM pin of the red LED: refused (header pin 13)")
    buzzer_pin: int = Field(22, ge=0, le=27, description="BCM pin driving the active buzzer's transistor (header pin 15)")
    relay_pin: int | None = Field(
        None, ge=0, le=27, description="BCM pin of the door-strike relay input (23 = header pin 16); unset: no door"
    )
    relay_active_high: bool = Field(
        True, description="relay switches on when its input is high; false for the many modules that trigger on low"
    )
    relay_pulse_s: float = Field(3.0, gt=0, le=30, description="how long the door strike is released after an accept")
    accept_s: float = Field(1.5, gt=0, le=10, description="how long the green LED stays on after an accept")
    refuse_s: float = Field(1.5, gt=0, le=10, description="how long the red LED stays on after a refusal")
    beep_s: float = Field(0.12, gt=0, le=2, description="length of one beep")
    beep_gap_s: float = Field(0.12, gt=0, le=2, description="silence between the two beeps of a refusal")
    attention_blink_s: float = Field(0.25, gt=0, le=2, description="'look again': both LEDs blink on/off this long")
    attention_blinks: int = Field(3, ge=1, le=20, description="'look again': number of blinks")
    fault_pulse_s: float = Field(
        0.5, gt=0, le=2, description="'cannot save': red LED and buzzer pulse together on/off this long")
    fault_pulses: int = Field(3, ge=1, le=20, description="'cannot save': number of red-and-buzzer pulses")

    @model_validator(mode="after")
    def _distinct_pins(self) -> "IndicatorsConfig":
        pins = [p for p in (self.green_pin, self.red_pin, self.buzzer_pin, self.relay_pin) if p is not None]
        if len(set(pins)) != len(pins):
            raise ValueError(f"green_pin, red_pin, buzzer_pin and relay_pin must differ, got {pins}")
        return self


def accepted_steps(c: IndicatorsConfig) -> list[Step]:
    """Green on, one short beep."""
    return sorted([(0.0, "green", True), (0.0, "buzzer", True), (c.beep_s, "buzzer", False), (c.accept_s, "green", False)])


def refused_steps(c: IndicatorsConfig) -> list[Step]:
    """Red on, two beeps."""
    second = c.beep_s + c.beep_gap_s
    return sorted([
        (0.0, "red", True),
        (0.0, "buzzer", True), (c.beep_s, "buzzer", False),
        (second, "buzzer", True), (second + c.beep_s, "buzzer", False),
        (c.refuse_s, "red", False),
    ])


def attention_steps(c: IndicatorsConfig) -> list[Step]:
    """Both LEDs blink together (amber behind a shared diffuser): 'look at the camera again', no sound."""
    return _pulses(("green", "red"), c.attention_blinks, c.attention_blink_s)


def cannot_save_steps(c: IndicatorsConfig) -> list[Step]:
    """Red and long beeps pulsing together: 'not saved, use the register', unlike any refusal of a face."""
    return _pulses(("red", "buzzer"), c.fault_pulses, c.fault_pulse_s)


def _pulses(outputs: tuple[str, ...], count: int, length_s: float) -> list[Step]:
    """``outputs`` on together for ``length_s``, then off as long, ``count`` times."""
    steps: list[Step] = []
    for i in range(count):
        on_at, off_at = 2 * i * length_s, (2 * i + 1) * length_s
        steps += [(on_at, name, True) for name in outputs] + [(off_at, name, False) for name in outputs]
    return steps


def door_steps(c: IndicatorsConfig) -> list[Step]:
    return [(0.0, "relay", True), (c.relay_pulse_s, "relay", False)]


class Feedback(Protocol):
    """What the kiosk calls: Indicators on GPIO, or NullIndicators without."""

    def open(self) -> None: ...
    def close(self) -> None: ...
    def accepted(self) -> None: ...
    def refused(self) -> None: ...
    def attention(self) -> None: ...
    def cannot_save(self) -> None: ...
    def wait_idle(self, timeout_s: float | None = None) -> bool: ...


class _Sequencer:
    """Plays one step list at a time on its own thread; a new list replaces the current one."""

    def __init__(self, name: str, outputs: dict[str, Any]) -> None:
        self.name = name
        self.outputs = outputs
        self._cond = threading.Condition()
        self._pending: list[Step] | None = None
        self._generation = 0
        self._idle = True
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=f"indicators-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def play(self, steps: list[Step]) -> None:
        with self._cond:
            self._pending = steps
            self._generation += 1
            self._idle = False
            self._cond.notify_all()

    def wait_idle(self, timeout_s: float | None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._idle, timeout_s)

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join()
        self._all_off()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._closing)
                if self._closing:
                    return
                steps, generation, self._pending = self._pending, self._generation, None
            self._play(steps, generation)
            with self._cond:
                if self._pending is None:
                    self._idle = True
                    self._cond.notify_all()

    def _play(self, steps: list[Step], generation: int) -> None:
        self._all_off()
        start = time.monotonic()
        for at_s, name, on in steps:
            with self._cond:
                replaced = self._cond.wait_for(
                    lambda: self._generation != generation or self._closing,
                    max(0.0, start + at_s - time.monotonic()),
                )
            if replaced:
                return
            self.outputs[name].value = on
        self._all_off()

    def _all_off(self) -> None:
        for device in self.outputs.values():
            device.off()


class Indicators:
    """Green/red LEDs, buzzer and optional door relay on GPIO, driven by gpiozero."""

    def __init__(self, config: IndicatorsConfig, pin_factory: Any = None) -> None:
        self.config = config
        self.pin_factory = pin_factory
        self._devices: list[Any] = []
        self._feedback: _Sequencer | None = None
        self._door: _Sequencer | None = None

    def open(self) -> None:
        if self._feedback is not None:
            return
        c = self.config
        try:
            from gpiozero import LED, Buzzer, DigitalOutputDevice, GPIOZeroError
        except ImportError as exc:
            raise IndicatorError("gpiozero is not installed: install the 'kiosk' extra") from exc
        try:
            outputs = {"green": LED(c.green_pin, pin_factory=self.pin_factory)}
            self._devices.append(outputs["green"])
            outputs["red"] = LED(c.red_pin, pin_factory=self.pin_factory)
            self._devices.append(outputs["red"])
            outputs["buzzer"] = Buzzer(c.buzzer_pin, pin_factory=self.pin_factory)
            self._devices.append(outputs["buzzer"])
            relay = None
            if c.relay_pin is not None:
                relay = DigitalOutputDevice(
                    c.relay_pin, active_high=c.relay_active_high, initial_value=False, pin_factory=self.pin_factory
                )
                self._devices.append(relay)
        except (GPIOZeroError, OSError) as exc:  # BadPinFactory, GPIOPinInUse, PinInvalidPin, /dev/gpiochip*
            self._close_devices()
            raise IndicatorError(f"GPIO indicators cannot be set up: {type(exc).__name__}: {exc}") from exc
        self._feedback = _Sequencer("feedback", outputs)
        self._feedback.start()
        if relay is not None:
            self._door = _Sequencer("door", {"relay": relay})
            self._door.start()
        log.info("indicators on BCM green=%s red=%s buzzer=%s relay=%s", c.green_pin, c.red_pin, c.buzzer_pin, c.relay_pin)

    def accepted(self) -> None:
        """Green + one beep, and the door released when a relay is configured."""
        self._play(accepted_steps(self.config))
        if self._door is not None:
            self._door.play(door_steps(self.config))

    def refused(self) -> None:
        """Red + two beeps."""
        self._play(refused_steps(self.config))

    def attention(self) -> None:
        """Both LEDs blink: 'look at the camera again'."""
        self._play(attention_steps(self.config))

    def cannot_save(self) -> None:
        """Red and buzzer pulse: the punch could not be stored (never green, no door)."""
        self._play(cannot_save_steps(self.config))

    def wait_idle(self, timeout_s: float | None = None) -> bool:
        """Wait until every running pattern has finished (tests, an orderly shutdown)."""
        return all(s.wait_idle(timeout_s) for s in (self._feedback, self._door) if s is not None)

    def close(self) -> None:
        """Stop any pattern, switch everything off and release the pins; safe twice."""
        for sequencer in (self._feedback, self._door):
            if sequencer is not None:
                sequencer.close()
        self._feedback = self._door = None
        self._close_devices()

    def _play(self, steps: list[Step]) -> None:
        if self._feedback is None:
            raise IndicatorError("indicators are not open")
        self._feedback.play(steps)

    def _close_devices(self) -> None:
        for device in reversed(self._devices):
            device.close()
        self._devices.clear()


class NullIndicators:
    """For kiosks without GPIO feedback (screen only): every signal is a no-op."""

    def open(self) -> None:
        log.info("no GPIO indicators configured: feedback on screen only")

    def close(self) -> None:
        pass

    def accepted(self) -> None:
        pass

    def refused(self) -> None:
        pass

    def attention(self) -> None:
        pass

    def cannot_save(self) -> None:
        pass

    def wait_idle(self, timeout_s: float | None = None) -> bool:
        return True
