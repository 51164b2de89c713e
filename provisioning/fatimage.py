"""Files in and out of one FAT partition of a disk image, through mtools.

mtools addresses the partition as ``image@@offset``, works on an ordinary
file (no root, no loop device, no mount), and stays inside the file system
its boot sector describes; ``partitions.check_fat_boot_sector`` has made
sure that fits inside the partition.
"""

import os
import shutil
import subprocess
from pathlib import Path

from provisioning.errors import ImageError
from provisioning.partitions import Partition

# No user mtoolsrc; no geometry checks (images are not floppies).
MTOOLS_ENV = {"MTOOLS_SKIP_CHECK": "1", "MTOOLSRC": "/dev/null"}


def require_mtools() -> None:
    missing = [tool for tool in ("mcopy", "mdir") if shutil.which(tool) is None]
    if missing:
        raise ImageError(f"{', '.join(missing)} not found; install mtools (sudo apt-get install mtools)")


class FatImage:
    """The FAT file system of ``partition`` inside the image file ``image``."""

    def __init__(self, image: Path, partition: Partition) -> None:
        self.image = Path(image)
        self.partition = partition

    @property
    def drive(self) -> str:
        return f"{self.image}@@{self.partition.offset}"

    def _run(self, *args: str) -> bytes:
        require_mtools()
        env = {**os.environ, **MTOOLS_ENV}
        proc = subprocess.run([args[0], "-i", self.drive, *args[1:]], capture_output=True, env=env, check=False)
        if proc.returncode != 0:
            message = proc.stderr.decode(errors="replace").strip() or f"exit {proc.returncode}"
            raise ImageError(f"{args[0]} on partition {self.partition.number} failed: {message}")
        return proc.stdout

    def copy_in(self, sources: list[Path]) -> None:
        """Copy files and folders (recursively) into the root, replacing same-named ones."""
        if sources:
            self._run("mcopy", "-s", "-o", "-D", "o", *(str(s) for s in sources), "::/")

    def read(self, path: str) -> bytes:
        """The bytes of ``path`` (``/cmdline.txt``, ``kiosk/kiosk.yaml``)."""
        return self._run("mcopy", "-n", f"::/{path.lstrip('/')}", "-")

    def exists(self, path: str) -> bool:
        try:
            self._run("mdir", "-b", f"::/{path.lstrip('/')}")
        except ImageError:
            return False
        return True

    def list(self) -> list[str]:
        """Every path in the file system, folders ending in ``/``."""
        out = self._run("mdir", "-/", "-b", "::/").decode(errors="replace")
        return sorted(line.removeprefix("::") for line in out.splitlines() if line.strip())
