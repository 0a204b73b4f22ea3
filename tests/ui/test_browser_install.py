"""`make browser` (scripts/ensure-chromium.sh) installs Debian's Chromium only when it is missing: with apt-get as
root, through sudo otherwise, after `apt-get update` when the first install fails for want of package lists. It runs
here against stand-ins for id, sudo and apt-get on a PATH of their own, which record what they were asked."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "ensure-chromium.sh"
BASH = shutil.which("bash") or "/bin/bash"
CHMOD = shutil.which("chmod") or "/bin/chmod"

FAKE_ID = '#!/bin/sh\n[ "$1" = -u ] && echo "$FAKE_UID"\n'
FAKE_SUDO = '#!/bin/sh\necho "sudo $*" >> "$CALLS"\nexec "$@"\n'
FAKE_APT_GET = f"""#!/bin/sh
echo "apt-get $*" >> "$CALLS"
case "$1" in
  update) : > "$LISTS" ;;
  install)
    [ -n "$NEEDS_LISTS" ] && [ ! -f "$LISTS" ] && {{ echo "E: Unable to locate package chromium" >&2; exit 100; }}
    [ -n "$INSTALLS" ] && {{ : > "$INSTALLS"; {CHMOD} +x "$INSTALLS"; }}
    ;;
esac
exit 0
"""


@dataclass
class Machine:
    """A PATH with the stand-ins, where Chromium would be installed, and the log of the commands run."""

    bin: Path
    chromium: Path
    calls: Path

    def run(self, uid: int = 0, needs_lists: bool = False, installs: bool = True) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": str(self.bin),
            "CHROMIUM": str(self.chromium),
            "CALLS": str(self.calls),
            "LISTS": str(self.calls.with_name("lists")),
            "FAKE_UID": str(uid),
            "NEEDS_LISTS": "1" if needs_lists else "",
            "INSTALLS": str(self.chromium) if installs else "",
        }
        return subprocess.run([BASH, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30)

    def commands(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _executable(bin_dir / "id", FAKE_ID)
    _executable(bin_dir / "sudo", FAKE_SUDO)
    _executable(bin_dir / "apt-get", FAKE_APT_GET)
    return Machine(bin_dir, tmp_path / "usr-bin" / "chromium", tmp_path / "calls")


def test_an_installed_chromium_is_left_alone(machine: Machine) -> None:
    machine.chromium.parent.mkdir()
    _executable(machine.chromium, "#!/bin/sh\n")

    done = machine.run()

    assert done.returncode == 0, done.stderr
    assert machine.commands() == []


def test_a_chromium_on_the_path_is_left_alone(machine: Machine) -> None:
    _executable(machine.bin / "chromium", "#!/bin/sh\n")

    done = machine.run()

    assert done.returncode == 0, done.stderr
    assert machine.commands() == []


def test_a_missing_chromium_is_installed_with_apt_get_as_root(machine: Machine) -> None:
    machine.chromium.parent.mkdir()

    done = machine.run(uid=0)

    assert done.returncode == 0, done.stderr
    assert machine.commands() == ["apt-get install -y -q chromium"]
    assert "installing Chromium" in done.stdout


def test_the_package_lists_are_updated_when_the_first_install_fails(machine: Machine) -> None:
    machine.chromium.parent.mkdir()

    done = machine.run(uid=0, needs_lists=True)

    assert done.returncode == 0, done.stderr
    assert machine.commands() == [
        "apt-get install -y -q chromium",
        "apt-get update -q",
        "apt-get install -y -q chromium",
    ]


def test_another_user_installs_through_sudo(machine: Machine) -> None:
    machine.chromium.parent.mkdir()

    done = machine.run(uid=1000)

    assert done.returncode == 0, done.stderr
    assert machine.commands() == ["sudo apt-get install -y -q chromium", "apt-get install -y -q chromium"]


def test_another_user_without_sudo_is_told_to_install_it_as_root(machine: Machine) -> None:
    (machine.bin / "sudo").unlink()

    done = machine.run(uid=1000)

    assert done.returncode == 1
    assert "installing it needs root: run 'apt-get install -y chromium' as root" in done.stderr
    assert machine.commands() == []


def test_an_install_that_leaves_no_chromium_fails(machine: Machine) -> None:
    done = machine.run(uid=0, installs=False)

    assert done.returncode == 1
    assert f"there is no chromium on the PATH nor at {machine.chromium}" in done.stderr
    assert machine.commands() == ["apt-get install -y -q chromium"]
