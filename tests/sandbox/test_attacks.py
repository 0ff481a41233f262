"""What an adversarial agent tries against the sandbox itself: forging the shell's end of
command markers, a fork bomb that starves other sandboxes, a huge file read back through
`read_file`, and filling the workdir."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest

from hotmess.sandbox import create, keeper
from hotmess.sandbox.base import FileTooLargeError, new_nonce

#: Markers of every protocol hotmess has used, for the next 400 sequential nonces.
FORGE = (
    "for n in $(seq 1 400); do for m in RC_${n}_0 SYNC_$n READY_$n OK_$n; do "
    "printf '\\n__HM_%s__\\n' $m | tee -a /dev/tty; done; done >/dev/null 2>&1"
)


def test_forged_markers_never_end_a_command_or_change_its_exit_code(sandbox_kind):
    with create(sandbox_kind, command_timeout_s=30) as box:
        box.exec(FORGE)
        # A process left behind keeps forging while the next commands run.
        box.exec(f"nohup sh -c 'while :; do {FORGE}; done' >/dev/null 2>&1 &")
        for _ in range(20):
            result = box.exec("sleep 0.05; echo truth; exit 3 2>/dev/null; (exit 3)")
            assert (result.stdout, result.exit_code) == ("truth\n", 3)
        box.write_file("data.txt", "written\n")
        assert box.read_file("data.txt") == b"written\n"
        assert box.exec("cat data.txt; printf '__HM_RC_1_0__' > /dev/tty; false").exit_code == 1
        with pytest.raises(FileNotFoundError):
            box.read_file("missing.txt")


def available(kind: str) -> bool:
    from hotmess.sandbox.bwrap import bwrap_available
    from hotmess.sandbox.images import docker_available, image_exists, image_tag

    if kind == "bwrap":
        return bwrap_available() is None
    return docker_available() is None and image_exists(image_tag())


@pytest.mark.docker
def test_the_shell_cannot_report_its_own_end(docker_ready):
    """The keeper signs a line saying the shell ended only when it has: a report the shell
    itself sends with that line's nonce (as code the agent got into the shell process could)
    is not signed, so the host neither restarts the shell nor loses the command's result."""
    with create("docker", command_timeout_s=30) as box:
        shell = box.shell
        assert shell.terminal is not None
        nonce = new_nonce()
        shell.terminal.send(
            f"printf '%s %d\\n' {keeper.ENDED} 0 >&3; printf '%s %d\\n' {nonce} 7 >&3\n".encode()
        )
        assert shell._await(nonce, 30) == 7
        assert shell.alive and box.exec("echo still").stdout == "still\n"
        assert shell.restarts == 0


def test_a_fork_bomb_in_one_sandbox_leaves_the_others_alone(sandbox_kind):
    """Concurrent sandboxes of the same backend and of the other one run every command,
    and a new sandbox starts, while a fork bomb fills the first one to its limit."""
    kinds = [sandbox_kind] + [k for k in ("docker", "bwrap") if k != sandbox_kind and available(k)]
    with create(sandbox_kind, pids=64, command_timeout_s=30) as bomb:
        neighbours = [create(kind, pids=64) for kind in kinds]
        bombed = []
        try:
            bombing = threading.Thread(
                target=lambda: bombed.append(
                    bomb.exec("b() { b | b & }; b; sleep 15; echo done", timeout=20)
                )
            )
            bombing.start()
            for i in range(40):
                for box in neighbours:
                    result = box.exec(f"sh -c 'echo {i}' | cat; ls / >/dev/null")
                    assert (result.stdout, result.exit_code) == (f"{i}\n", 0), result
                if i == 5:
                    for kind in kinds:
                        with create(kind) as fresh:
                            assert fresh.exec("sh -c 'echo new'").stdout == "new\n"
            bombing.join()
        finally:
            for box in neighbours:
                box.close()
    # The bomb did reach its sandbox's limit.
    assert "Resource temporarily unavailable" in bombed[0].stderr


READ_BIG = textwrap.dedent(
    """
    import resource, sys
    from hotmess.sandbox import create
    from hotmess.sandbox.base import FileTooLargeError
    with create(sys.argv[1], file_size_mb=300, work_mb=600, memory_mb=1024) as box:
        made = box.exec("head -c 220000000 /dev/urandom > big && echo made", timeout=120)
        assert made.stdout == "made\\n", made
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            box.read_file("big")
        except FileTooLargeError as exc:
            print("TOO LARGE", exc)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print("GROWTH_KIB", after - before)
    """
)


def test_reading_a_huge_file_is_refused_without_holding_it(sandbox_kind):
    run = subprocess.run(
        [sys.executable, "-c", READ_BIG, sandbox_kind],
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, run.stderr
    assert "TOO LARGE" in run.stdout and "limit of a file transfer" in run.stdout
    growth_kib = int(run.stdout.split("GROWTH_KIB")[1])
    assert growth_kib < 100 * 1024


def test_transfers_up_to_the_limit_pass_and_larger_ones_are_refused(sandbox_kind):
    with create(sandbox_kind, transfer_limit_bytes=4096) as box:
        box.write_file("exact.bin", b"\xff" * 4096)
        assert box.read_file("exact.bin") == b"\xff" * 4096
        box.exec("head -c 4097 /dev/zero > over.bin")
        with pytest.raises(FileTooLargeError, match="over the 4096-byte limit"):
            box.read_file("over.bin")
        with pytest.raises(FileTooLargeError):
            box.write_file("upload.bin", b"x" * 4097)
        assert box.exec("ls upload.bin").exit_code != 0


def test_the_workdir_is_capped_and_the_host_untouched(sandbox_kind):
    with create(sandbox_kind, work_mb=32, memory_mb=512) as box:
        fill = box.exec("for i in 1 2 3 4; do head -c 10000000 /dev/zero > f$i || exit 9; done")
        assert fill.exit_code == 9 and "No space left" in fill.stderr
        usage = box.exec("df -m /work | tail -1").stdout.split()
        assert int(usage[1]) <= 32
        assert box.exec("rm f1 && echo ok > small && cat small").stdout == "ok\n"
