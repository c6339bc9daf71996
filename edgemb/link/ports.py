"""Opening serial ports: a device path (/dev/ttyUSB0, /dev/pts/3) or any
pyserial URL (socket://host:port, rfc2217://host:port), and resetting boards."""

from __future__ import annotations

import errno
import os
import time

import serial

from edgemb.link.errors import PortError

DEFAULT_BAUDRATE = 115200
# The USB IDs of the USB-Serial-JTAG controller of the ESP32-S3 and -C3, by
# which esptool and esp-idf-monitor (constants.py, USB_JTAG_SERIAL_PID) tell it
# from a USB-to-UART bridge.
ESPRESSIF_VID, USB_SERIAL_JTAG_PID = 0x303A, 0x1001
# A chip on its own USB port leaves the bus while in reset: EN is held low this
# long, and the port is looked for again for up to this long (esptool's
# HardReset for USB holds 0.2 s and waits 0.2 s for the device to come back).
USB_RESET_HOLD_SECONDS = 0.2
USB_REAPPEAR_SECONDS = 5.0
# The port's read timeout: how long one read() may block. The client keeps its
# own deadlines on top, so this only bounds how late it notices one.
POLL_SECONDS = 0.05


def is_url(port: str) -> bool:
    return "://" in port


def open_port(
    port: str, *, baudrate: int = DEFAULT_BAUDRATE, poll_seconds: float = POLL_SECONDS
) -> serial.SerialBase:
    """Opens a port without resetting the board behind it, and leaves DTR and
    RTS inactive.

    On the common ESP32 auto-reset circuit, and in the USB-Serial-JTAG
    controller of the ESP32-S3 and -C3, DTR inactive with RTS active holds
    the chip in reset (EN low). Linux raises both lines as it opens a tty,
    and pyserial's open() then applies its DTR setting and after it its RTS
    setting (serialposix.py): asking for both inactive before open() went
    (DTR, RTS) = (1, 1) -> (0, 1) -> (0, 0), through a reset. So, as
    esp-idf-monitor does (esp_idf_monitor/base/serial_reader.py,
    open_serial), both stay active through open(), which is what Linux set,
    and are released afterwards, RTS first: (1, 1) -> (1, 0) -> (0, 0).
    The middle state holds IO0 low, which the chip reads only while it
    leaves reset. Reset only on request, with hard_reset().
    """
    options = {} if is_url(port) else {"exclusive": True}  # a lock on local devices
    try:
        device = serial.serial_for_url(
            port, baudrate=baudrate, timeout=poll_seconds, do_not_open=True, **options
        )
        device.dtr = True
        device.rts = True
        device.open()
        release_lines(device)
    except (serial.SerialException, OSError, ValueError) as error:
        raise port_error(port, error) from error
    return device


def release_lines(device: serial.SerialBase) -> None:
    """DTR and RTS inactive, from both active, without passing through
    (DTR 0, RTS 1): RTS first, then DTR. A port without modem lines (a
    pseudo-terminal) refuses the change, as it refuses it in pyserial's own
    open(), and is left as it is."""
    try:
        device.rts = False
        device.dtr = False
    except OSError as error:
        if error.errno not in (errno.EINVAL, errno.ENOTTY):
            raise


def hard_reset(device: serial.SerialBase, hold_seconds: float = 0.1) -> None:
    """Reboots an ESP32-style board into its application: EN low through RTS,
    as esptool's HardReset does (reset.py).

    DTR (IO0 on the usual auto-reset circuit) stays inactive, so the chip boots
    from flash, not into its ROM bootloader. The ROM then prints a boot log at
    115200 baud; BoardClient.hello() skips it.
    """
    device.dtr = False
    device.rts = True  # EN low: chip held in reset
    device.dtr = device.dtr  # some USB serial drivers only apply RTS with DTR
    time.sleep(hold_seconds)
    device.rts = False  # EN high: chip boots
    device.dtr = device.dtr


def is_usb_serial_jtag(port: str) -> bool:
    """Whether a local port is an ESP32-S3/-C3's own USB-Serial-JTAG port."""
    if is_url(port):
        return False
    from serial.tools.list_ports import comports

    real = os.path.realpath(port)
    return any(os.path.realpath(info.device) == real
               and (info.vid, info.pid) == (ESPRESSIF_VID, USB_SERIAL_JTAG_PID)
               for info in comports())


def reset_board(device: serial.SerialBase, port: str, *, baudrate: int = DEFAULT_BAUDRATE,
                poll_seconds: float = POLL_SECONDS) -> serial.SerialBase:
    """hard_reset(), and the port to talk to the board afterwards. A USB-to-UART
    bridge stays where it is. A chip's own USB-Serial-JTAG port leaves the bus
    while the chip is in reset and comes back as a new device, so the old one
    is closed and the port opened again once it is back."""
    if not is_usb_serial_jtag(port):
        hard_reset(device)
        return device
    hard_reset(device, hold_seconds=USB_RESET_HOLD_SECONDS)
    device.close()
    deadline = time.monotonic() + USB_REAPPEAR_SECONDS
    while True:
        time.sleep(USB_RESET_HOLD_SECONDS)
        try:
            return open_port(port, baudrate=baudrate, poll_seconds=poll_seconds)
        except PortError as error:
            if time.monotonic() >= deadline:
                raise PortError(
                    f"{port}: the board's USB-Serial-JTAG port did not come back within "
                    f"{USB_REAPPEAR_SECONDS:.0f} s of the reset ({error}). Unplug and plug "
                    "the board in, and verify without --reset") from error


def available_ports() -> list[str]:
    from serial.tools.list_ports import comports

    return sorted(p.device for p in comports())


def port_error(port: str, error: Exception) -> PortError:
    """A PortError that says what is wrong with the port and how to fix it."""
    code = getattr(error, "errno", None)
    text = str(error)
    if code == errno.ENOENT or "No such file" in text:
        ports = ", ".join(available_ports()) or "none found"
        return PortError(
            f"{port}: no such device. Is the board plugged in, and is this its port? "
            f"(serial ports here: {ports}; an emulated or host board prints its own path)"
        )
    if code == errno.EACCES or "Permission denied" in text:
        return PortError(
            f"{port}: permission denied. Join the group that owns serial ports: "
            f"`sudo usermod -aG dialout $USER`, then log out and in again "
            f"(or run `newgrp dialout` in this shell)."
        )
    if code in (errno.EBUSY, errno.EAGAIN) or "exclusively lock" in text or "busy" in text:
        return PortError(
            f"{port}: the port is busy: another program has it open (a serial monitor, "
            f"another edgemb, ModemManager). Close it; `fuser {port}` shows which."
        )
    return PortError(f"{port}: cannot open the port: {text}")
