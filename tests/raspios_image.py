"""A small disk image laid out like Raspberry Pi OS's, built with the tools that build the real one.

Raspberry Pi OS images (pi-gen) are an MBR with a FAT32 boot partition at
sector 8192 (``bootfs``: config.txt, cmdline.txt) and an ext4 root after it
(``rootfs``). Here the same with ``sfdisk``, ``mkfs.vfat`` + ``mcopy`` and
``mkfs.ext4 -d`` (which fills the file system from a folder: no mount, no
root), only smaller, and sparse: the file holds only the data written.
Files are read back with ``mcopy`` and ``debugfs`` (e2fsprogs), again
without mounting.
"""

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

SECTOR = 512
MIB = 1024 * 1024
BOOT_START = 8192  # as pi-gen's images
TOOLS = {"sfdisk": "fdisk", "mkfs.vfat": "dosfstools", "fsck.vfat": "dosfstools", "mcopy": "mtools",
         "mkfs.ext4": "e2fsprogs", "debugfs": "e2fsprogs"}
MISSING = sorted({pkg for tool, pkg in TOOLS.items() if not shutil.which(tool)})
needs_image_tools = pytest.mark.skipif(bool(MISSING), reason=f"needs Debian packages: {' '.join(MISSING)}")
CMDLINE = "console=serial0,115200 console=tty1 root=PARTUUID=6c586e13-02 rootfstype=ext4 fsck.repair=yes rootwait\n"
ENV = {**os.environ, "MTOOLS_SKIP_CHECK": "1", "MTOOLSRC": "/dev/null"}


@dataclass(frozen=True)
class Layout:
    boot_mib: int = 40  # FAT32 needs ~33 MiB of clusters at least
    root_mib: int = 24

    @property
    def boot_offset(self) -> int:
        return BOOT_START * SECTOR

    @property
    def root_offset(self) -> int:
        return self.boot_offset + self.boot_mib * MIB

    @property
    def size(self) -> int:
        return self.root_offset + self.root_mib * MIB


def sh(*args: str, stdin: bytes | None = None) -> bytes:
    proc = subprocess.run(args, input=stdin, capture_output=True, env=ENV, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"{args[0]} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}")
    return proc.stdout


def build_image(path: Path, root_tree: Path, layout: Layout = Layout()) -> Layout:
    """Write the image at ``path``: boot FAT32 with config.txt and cmdline.txt, ext4 root from ``root_tree``."""
    with path.open("wb") as f:
        f.truncate(layout.size)
    boot_sectors = layout.boot_mib * MIB // SECTOR
    script = (f"label: dos\nlabel-id: 0x6c586e13\nstart={BOOT_START}, size={boot_sectors}, type=c\n"
              f"start={BOOT_START + boot_sectors}, type=83\n")
    sh("sfdisk", "-q", str(path), stdin=script.encode())
    sh("mkfs.vfat", "-F", "32", "-n", "bootfs", "--offset", str(BOOT_START), str(path), str(layout.boot_mib * 1024))
    boot_files = path.parent / f".{path.name}.boot"
    boot_files.mkdir()
    (boot_files / "cmdline.txt").write_text(CMDLINE)
    (boot_files / "config.txt").write_text("[all]\ndtparam=audio=on\ncamera_auto_detect=1\n")
    sh("mcopy", "-i", f"{path}@@{layout.boot_offset}", *(str(p) for p in sorted(boot_files.iterdir())), "::/")
    shutil.rmtree(boot_files)
    sh("mkfs.ext4", "-q", "-F", "-L", "rootfs", "-E", f"offset={layout.root_offset}", "-d", str(root_tree),
       str(path), f"{layout.root_mib}M")
    return layout


def os_tree(folder: Path) -> Path:
    """A root file system's worth of files (a few, and a few MiB of random data)."""
    (folder / "etc").mkdir(parents=True)
    (folder / "etc/os-release").write_text('PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nID=debian\n')
    (folder / "usr/lib").mkdir(parents=True)
    (folder / "usr/lib/libpretend.so").write_bytes(os.urandom(4 * MIB))
    return folder


def read_root(image: Path, layout: Layout, path: str) -> bytes:
    """A file of the ext4 root, read with debugfs (no mount)."""
    return sh("debugfs", "-R", f"cat {path}", f"{image}?offset={layout.root_offset}")


def read_boot(image: Path, layout: Layout, path: str) -> bytes:
    return sh("mcopy", "-n", "-i", f"{image}@@{layout.boot_offset}", f"::/{path}", "-")


def copy_boot_folder(image: Path, layout: Layout, folder: str, target: Path) -> Path:
    """Copy ``folder`` of the boot partition (recursively) to ``target``/``folder``, as the Pi sees it."""
    target.mkdir(parents=True, exist_ok=True)
    sh("mcopy", "-s", "-n", "-i", f"{image}@@{layout.boot_offset}", f"::/{folder}", str(target))
    return target / folder
