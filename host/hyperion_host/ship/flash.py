"""`hyperion-host flash`: MicroPython firmware onto a board.

ESP32 family: esptool's Python API (v5), at the board's offset, after checking that the image and the
connected chip both match the board; write-flash always verifies. RP2040/RP2350: a UF2 (converted from .bin
at the flash base if needed, family checked) copied to the mounted RPI-RP2/RP2350 drive, or written to
--uf2-out. --dry-run prints the exact operations and writes nothing."""

import os
from pathlib import Path

from hyperion_host.errors import HyperionError
from hyperion_host.ship import uf2

UF2_FAMILIES = {0xE48BFF56: "rp2040", 0xE48BFF59: "rp2350 (ARM)", 0xE48BFF5A: "rp2350 (RISC-V)"}


def esp_chip_class(chip):
    from esptool.targets import CHIP_DEFS

    try:
        return CHIP_DEFS[chip]
    except KeyError:
        raise HyperionError("esptool does not know chip '%s'" % chip) from None


def check_esp_image(path, board):
    """The chip an ESP image (.bin) was built for must be the board's. Returns esptool's chip name."""
    from esptool.bin_image import LoadFirmwareImage
    from esptool.targets import CHIP_DEFS

    data = Path(path).read_bytes()
    if not data or data[0] != 0xE9:
        raise HyperionError("%s is not an ESP firmware image (no 0xE9 header); use a MicroPython .bin for %s"
                            % (path, board["mp_board"]))
    want = esp_chip_class(board["chip"])
    try:
        img = LoadFirmwareImage(want.CHIP_NAME, data)
    except Exception as e:  # esptool raises several kinds for a malformed image
        raise HyperionError("%s is not a valid ESP image for %s: %s" % (path, want.CHIP_NAME, str(e)[:120])) from None
    if img.chip_id != want.IMAGE_CHIP_ID:
        got = [c.CHIP_NAME for c in CHIP_DEFS.values() if getattr(c, "IMAGE_CHIP_ID", None) == img.chip_id]
        raise HyperionError("%s is an image for %s, but board %s is %s; download the %s firmware"
                            % (path, got[0] if got else "chip id %d" % img.chip_id, board["name"], want.CHIP_NAME,
                               board["mp_board"]))
    return want.CHIP_NAME


def plan_esp(board, port, firmware, erase):
    chip = check_esp_image(firmware, board)
    off = board["firmware_offset"]
    size = os.path.getsize(firmware)
    ops = ["connect to %s on %s and check the chip is %s" % (board["chip"], port, chip)]
    if erase:
        ops.append("erase the whole flash")
    ops.append("write %s (%d bytes) at 0x%x, verify" % (firmware, size, off))
    ops.append("hard reset")
    return ops


def flash_esp(board, port, firmware, erase=False, log=print):
    """Write firmware with esptool's API after checking image and chip. Never writes to a wrong chip."""
    from esptool import cmds

    chip = check_esp_image(firmware, board)
    try:
        esp = cmds.detect_chip(port)
    except Exception as e:  # esptool's FatalError, serial errors
        raise HyperionError("cannot talk to an ESP bootloader on %s: %s (hold BOOT and press RESET?)"
                            % (port, str(e).splitlines()[0][:120])) from None
    try:
        if esp.CHIP_NAME != chip:
            raise HyperionError("the chip on %s is %s, not %s: wrong board? (expected %s)"
                                % (port, esp.CHIP_NAME, chip, board["name"]))
        esp = cmds.run_stub(esp)
        cmds.attach_flash(esp)
        if erase:
            log("erasing flash")
            cmds.erase_flash(esp)
        log("writing %s at 0x%x" % (firmware, board["firmware_offset"]))
        cmds.write_flash(esp, [(board["firmware_offset"], str(firmware))])
        cmds.reset_chip(esp, "hard-reset")
    finally:
        try:
            esp._port.close()
        except Exception:  # the port may be gone after the reset
            pass


def rp2_uf2(board, firmware):
    """UF2 bytes for an RP2 board: a .uf2 is checked (family), a .bin is packed at the flash base."""
    data = Path(firmware).read_bytes()
    if str(firmware).endswith(".uf2"):
        base, _, family = uf2.image_of(data)
        if family != board["uf2_family"]:
            raise HyperionError("%s is a UF2 for %s (family 0x%08x), but board %s needs family 0x%08x; download the "
                                "%s firmware" % (firmware, UF2_FAMILIES.get(family, "another chip"), family or 0,
                                                 board["name"], board["uf2_family"], board["mp_board"]))
        if base < board["flash_base"]:
            raise HyperionError("%s starts at 0x%x, below flash (0x%x)" % (firmware, base, board["flash_base"]))
        return data
    return uf2.pack(data, board["flash_base"], board["uf2_family"])


def find_rp2_drive():
    """The mount point of a board in BOOTSEL mode (RPI-RP2 or RP2350 drive with INFO_UF2.TXT), or None."""
    try:
        with open("/proc/mounts") as f:
            mounts = [line.split()[1].replace("\\040", " ") for line in f]
    except OSError:
        mounts = []
    for m in mounts:
        if os.path.basename(m) in ("RPI-RP2", "RP2350") and os.path.exists(os.path.join(m, "INFO_UF2.TXT")):
            return m
    return None


def flash_rp2(board, firmware, uf2_out=None, drive=None, dry_run=False, log=print):
    data = rp2_uf2(board, firmware)
    if uf2_out:
        ops = ["write %s (%d blocks of 512 bytes, family 0x%08x)" % (uf2_out, len(data) // 512, board["uf2_family"])]
        if not dry_run:
            tmp = Path(str(uf2_out) + ".part")
            tmp.write_bytes(data)
            os.replace(tmp, uf2_out)
        return ops
    drive = drive or find_rp2_drive()
    if not drive and dry_run:  # the plan needs no board: say where the file would go once one is in BOOTSEL
        return ["copy %d bytes of UF2 to the RPI-RP2/RP2350 drive (none is mounted now: hold BOOTSEL while "
                "plugging the board in) as firmware.uf2; the board reboots into MicroPython" % len(data)]
    if not drive:
        raise HyperionError("no RPI-RP2/RP2350 drive is mounted: hold BOOTSEL while plugging the board in, or write "
                            "the file with --uf2-out FILE")
    ops = ["copy %d bytes of UF2 to %s/firmware.uf2 (the board reboots into MicroPython)" % (len(data), drive)]
    if not dry_run:
        with open(os.path.join(drive, "firmware.uf2"), "wb") as f:
            f.write(data)
    return ops


def flash(board, port=None, firmware=None, erase=False, dry_run=False, uf2_out=None, log=print):
    if board.get("runtime") == "circuitpython":
        raise HyperionError("board %s runs CircuitPython, and `flash` installs MicroPython: install CircuitPython as "
                            "https://circuitpython.org/board/%s/ says, then `hyperion-host deploy --drive`"
                            % (board["name"], board["cp_board"]))
    if not firmware or not Path(firmware).is_file():
        raise HyperionError("no such firmware file: %s" % firmware)
    if board["mp_port"] == "esp32":
        if not port and not dry_run:
            raise HyperionError("--port is needed to flash an ESP board")
        if dry_run:
            return plan_esp(board, port or "<port>", firmware, erase)
        flash_esp(board, port, firmware, erase, log)
        return ["flashed"]
    if board["mp_port"] == "rp2":
        return flash_rp2(board, firmware, uf2_out, dry_run=dry_run, log=log)
    raise HyperionError("board %s has no flash procedure (port %s)" % (board["name"], board["mp_port"]))


def uf2_pack(image, board, out):
    """A ROMFS (or any) image -> UF2 at the board's ROMFS address."""
    rom = board.get("romfs", {})
    if "offset" not in rom:
        raise HyperionError("board %s has no ROMFS address in its board file (ESP boards use a romfs partition: "
                            "flash the image with `mpremote romfs deploy` or esptool at the partition offset)"
                            % board["name"])
    data = Path(image).read_bytes()
    if len(data) > rom["size"]:
        raise HyperionError("%s is %d bytes; the ROMFS area of %s holds %d" % (image, len(data), board["name"], rom["size"]))
    blob = uf2.pack(data, rom["offset"], board["uf2_family"])
    tmp = Path(str(out) + ".part")
    tmp.write_bytes(blob)
    os.replace(tmp, out)
    return rom["offset"], len(blob) // 512
