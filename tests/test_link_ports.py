"""Opening ports (edgemb.link.ports): no reset on open (the exact sequence of
line changes), clear errors."""

from __future__ import annotations

import errno

import pytest
import serial

from edgemb.link import ports
from edgemb.link.errors import PortError


class RecordingPort:
    """Stands in for a pyserial port and records line changes in order."""

    def __init__(self):
        self.events = []
        self._dtr = self._rts = True  # pyserial's defaults: asserted

    @property
    def dtr(self):
        return self._dtr

    @dtr.setter
    def dtr(self, value):
        self._dtr = value
        self.events.append(("dtr", value))

    @property
    def rts(self):
        return self._rts

    @rts.setter
    def rts(self, value):
        self._rts = value
        self.events.append(("rts", value))

    def open(self):
        self.events.append(("open", None))


# (DTR, RTS) that holds an ESP32 in reset: EN low on the common auto-reset
# circuit, and the reset state of the USB-Serial-JTAG controller.
RESET_STATE = (False, True)


class LinuxLines(serial.Serial):
    """pyserial's own POSIX port on a pseudo-terminal, with the modem lines
    recorded instead of set: `lines` is every (DTR, RTS) the board would see,
    starting with what Linux sets as it opens a tty (both raised). Each of
    pyserial's updates changes one line; the other stays as it was."""

    def open(self):
        self._line = {"dtr": True, "rts": True}
        self.lines = [(True, True)]
        super().open()

    def _set_line(self, name, value):
        self._line[name] = value
        self.lines.append((self._line["dtr"], self._line["rts"]))

    def _update_dtr_state(self):
        self._set_line("dtr", self._dtr_state)

    def _update_rts_state(self):
        self._set_line("rts", self._rts_state)


@pytest.fixture
def pty_path():
    import os
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    yield os.ttyname(slave)
    os.close(master)
    os.close(slave)


def test_opening_a_port_never_passes_through_the_reset_state(monkeypatch, pty_path):
    """Through pyserial's real open(): it applies DTR, then RTS, after Linux
    raised both; then open_port releases RTS, then DTR."""
    monkeypatch.setattr(serial, "Serial", LinuxLines)
    device = ports.open_port(pty_path)
    try:
        assert device.lines == [(True, True),   # Linux opens the tty
                                (True, True),   # pyserial applies DTR
                                (True, True),   # pyserial applies RTS
                                (True, False),  # RTS released: EN stays high
                                (False, False)]  # DTR released
        assert RESET_STATE not in device.lines
        assert (device.dtr, device.rts) == (False, False)
    finally:
        device.close()


def test_asking_for_inactive_lines_before_open_would_pass_through_a_reset(pty_path):
    """What open_port did before: DTR and RTS set inactive, then open(). The
    same recorder sees the reset state, so the test above can tell."""
    device = LinuxLines()  # no port yet: not opened
    device.port = pty_path
    device.dtr = False
    device.rts = False
    device.open()
    try:
        assert device.lines == [(True, True), (False, True), (False, False)]
        assert RESET_STATE in device.lines
    finally:
        device.close()


def test_open_port_asks_for_active_lines_then_releases_rts_first(monkeypatch):
    recorder = RecordingPort()
    seen = {}

    def fake_serial_for_url(url, **options):
        seen.update(options, url=url)
        return recorder

    monkeypatch.setattr(serial, "serial_for_url", fake_serial_for_url)
    assert ports.open_port("/dev/ttyUSB7") is recorder
    assert recorder.events == [("dtr", True), ("rts", True), ("open", None),
                               ("rts", False), ("dtr", False)]
    assert seen["do_not_open"] is True and seen["exclusive"] is True


def test_a_port_without_modem_lines_opens(pty_path):
    """A pseudo-terminal (an emulated board) refuses DTR and RTS changes."""
    device = ports.open_port(pty_path)
    assert device.is_open
    device.close()


def test_urls_are_opened_without_a_lock(monkeypatch):
    seen = {}
    monkeypatch.setattr(serial, "serial_for_url",
                        lambda url, **options: seen.update(options) or RecordingPort())
    ports.open_port("socket://127.0.0.1:4000")
    assert "exclusive" not in seen


def test_hard_reset_pulses_en_with_io0_high(monkeypatch):
    monkeypatch.setattr(ports.time, "sleep", lambda s: None)
    recorder = RecordingPort()
    ports.hard_reset(recorder)
    # DTR is written again after each RTS change: some USB serial drivers
    # only send RTS along with DTR.
    assert recorder.events == [("dtr", False), ("rts", True), ("dtr", False),  # EN low
                               ("rts", False), ("dtr", False)]  # EN high, IO0 high: boot the app


def test_loop_url_opens():
    device = ports.open_port("loop://")
    device.write(b"abc")
    assert device.read(3) == b"abc"
    device.close()


def test_permission_denied_says_how_to_fix():
    error = ports.port_error("/dev/ttyUSB0", serial.SerialException(
        errno.EACCES, "could not open port /dev/ttyUSB0: [Errno 13] Permission denied"))
    assert isinstance(error, PortError)
    assert "dialout" in str(error) and "usermod" in str(error)


def test_busy_port_says_what_to_do():
    error = ports.port_error("/dev/ttyUSB0", serial.SerialException(
        errno.EAGAIN, "Could not exclusively lock port /dev/ttyUSB0"))
    assert "busy" in str(error) and "fuser /dev/ttyUSB0" in str(error)


def test_missing_device():
    error = ports.port_error("/dev/ttyUSB9", serial.SerialException(
        errno.ENOENT, "could not open port /dev/ttyUSB9: [Errno 2] No such file or directory"))
    assert "no such device" in str(error)


class _ComPort:
    def __init__(self, device, vid, pid):
        self.device, self.vid, self.pid = device, vid, pid


def _comports(monkeypatch, *ports_present):
    import serial.tools.list_ports as list_ports

    monkeypatch.setattr(list_ports, "comports", lambda: list(ports_present))


def test_usb_serial_jtag_ports_are_told_by_their_usb_ids(monkeypatch):
    _comports(monkeypatch, _ComPort("/dev/ttyACM0", 0x303A, 0x1001),
              _ComPort("/dev/ttyUSB0", 0x10C4, 0xEA60))  # a CP210x bridge
    assert ports.is_usb_serial_jtag("/dev/ttyACM0")
    assert not ports.is_usb_serial_jtag("/dev/ttyUSB0")
    assert not ports.is_usb_serial_jtag("/dev/ttyACM9")  # not present
    assert not ports.is_usb_serial_jtag("socket://127.0.0.1:4000")


def test_reset_over_a_uart_bridge_keeps_the_port(monkeypatch):
    monkeypatch.setattr(ports.time, "sleep", lambda s: None)
    _comports(monkeypatch, _ComPort("/dev/ttyUSB0", 0x10C4, 0xEA60))
    recorder = RecordingPort()
    assert ports.reset_board(recorder, "/dev/ttyUSB0") is recorder
    assert [e for e in recorder.events if e[0] == "rts"] == [("rts", True), ("rts", False)]


def test_reset_over_usb_serial_jtag_opens_the_port_again_once_it_is_back(monkeypatch):
    """The chip's own USB port leaves the bus while the chip is in reset."""
    sleeps, opened = [], []
    monkeypatch.setattr(ports.time, "sleep", sleeps.append)
    _comports(monkeypatch, _ComPort("/dev/ttyACM0", 0x303A, 0x1001))
    fresh = RecordingPort()

    def reopen(port, **options):
        opened.append((port, options))
        if len(opened) < 3:  # not back yet
            raise ports.port_error(port, FileNotFoundError(2, "No such file or directory"))
        return fresh

    monkeypatch.setattr(ports, "open_port", reopen)
    old = RecordingPort()
    old.close = lambda: old.events.append(("close", None))
    assert ports.reset_board(old, "/dev/ttyACM0", baudrate=921600) is fresh
    assert old.events == [("dtr", False), ("rts", True), ("dtr", False),
                          ("rts", False), ("dtr", False), ("close", None)]
    assert sleeps == [0.2, 0.2, 0.2, 0.2]  # EN held low 0.2 s, then three looks 0.2 s apart
    assert opened == [("/dev/ttyACM0", {"baudrate": 921600, "poll_seconds": ports.POLL_SECONDS})] * 3


def test_a_usb_serial_jtag_port_that_does_not_come_back_is_reported(monkeypatch):
    clock = iter(range(0, 100, 2))
    monkeypatch.setattr(ports.time, "sleep", lambda s: None)
    monkeypatch.setattr(ports.time, "monotonic", lambda: next(clock))
    _comports(monkeypatch, _ComPort("/dev/ttyACM0", 0x303A, 0x1001))

    def gone(port, **options):
        raise PortError(f"{port}: no such device")

    monkeypatch.setattr(ports, "open_port", gone)
    old = RecordingPort()
    old.close = lambda: None
    with pytest.raises(PortError) as error:
        ports.reset_board(old, "/dev/ttyACM0")
    assert str(error.value) == (
        "/dev/ttyACM0: the board's USB-Serial-JTAG port did not come back within 5 s of the "
        "reset (/dev/ttyACM0: no such device). Unplug and plug the board in, and verify "
        "without --reset")
