"""Opening ports (edgemb.link.ports): no reset on open, clear errors."""

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


def test_open_port_deasserts_dtr_and_rts_before_opening(monkeypatch):
    recorder = RecordingPort()
    seen = {}

    def fake_serial_for_url(url, **options):
        seen.update(options, url=url)
        return recorder

    monkeypatch.setattr(serial, "serial_for_url", fake_serial_for_url)
    assert ports.open_port("/dev/ttyUSB7") is recorder
    assert recorder.events == [("dtr", False), ("rts", False), ("open", None)]
    assert seen["do_not_open"] is True and seen["exclusive"] is True


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
    rts = [value for name, value in recorder.events if name == "rts"]
    assert rts == [True, False]  # EN low, then high
    assert all(value is False for name, value in recorder.events if name == "dtr")


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


def test_frame_writer_writes_every_frame_to_a_local_port_in_one_call(monkeypatch):
    import os
    import threading
    import tty

    yields = []
    monkeypatch.setattr(ports.os, "sched_yield", lambda: yields.append(1))

    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        device = serial.Serial(os.ttyname(slave), timeout=0.05)
        write = ports.frame_writer(device)
        assert os.get_blocking(device.fd)  # the kernel waits for room, not Python
        frames = [b"\x00", bytes(range(1, 256)) * 300, b"\x01\x02\x00"]  # more than a pty holds
        received = bytearray()
        expected = sum(map(len, frames))

        def drain():
            while len(received) < expected:
                received.extend(os.read(master, 65536))

        reader = threading.Thread(target=drain)
        reader.start()
        assert write(frames) == expected
        reader.join(5)
        assert bytes(received) == b"".join(frames)
        # One yield, after the whole write: it lets the kernel's worker move
        # the last bytes on before the caller encodes its next frame.
        assert len(yields) == 1
        device.close()
    finally:
        os.close(master)
        os.close(slave)


def test_frame_writer_joins_frames_for_ports_without_a_descriptor():
    written = []
    port = type("Port", (), {"write": lambda self, data: written.append(data)})()
    assert ports.frame_writer(port)([b"\x00", b"ab", b"c\x00"]) == 5
    assert written == [b"\x00abc\x00"]


class _Interrupted(Exception):
    pass


def test_a_signal_interrupts_a_write_that_waits_for_room():
    """Nobody reads the pty, so the blocking write waits for room; a signal's
    handler must still run (Ctrl-C stops edgemb verify on a stuck board)."""
    import os
    import signal
    import tty

    def interrupt(signum, frame):
        raise _Interrupted

    master, slave = os.openpty()
    tty.setraw(slave)
    device = serial.Serial(os.ttyname(slave), timeout=0.05)
    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        write = ports.frame_writer(device)
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(_Interrupted):
            write([bytes(range(1, 256)) * 1000])  # 255 KB: more than a pty holds
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        device.close()
        os.close(master)
        os.close(slave)


def test_byte_reader_takes_all_that_is_waiting_from_a_local_port():
    import os
    import time
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    device = serial.Serial(os.ttyname(slave), timeout=0.05)
    try:
        read = ports.byte_reader(device)
        start = time.monotonic()
        assert read() == b""  # nothing came within the port's timeout
        assert time.monotonic() - start >= 0.04
        os.write(master, b"\x00ack one\x00" + bytes(range(1, 256)) * 20)
        received = bytearray()
        while len(received) < 9 + 255 * 20:
            received += read()
        assert bytes(received) == b"\x00ack one\x00" + bytes(range(1, 256)) * 20
    finally:
        device.close()
        os.close(master)
        os.close(slave)


def test_byte_reader_reads_through_pyserial_for_ports_without_a_descriptor():
    port = type("Port", (), {"in_waiting": 3, "read": lambda self, n: b"xyz"[:n]})()
    assert ports.byte_reader(port)() == b"xyz"
