"""Both sandbox backends, for real: isolation, limits, the persistent shell, file transfer,
and output capping."""

from __future__ import annotations

import http.server
import os
import threading
import time

import pytest

from hotmess.errors import ConfigError, SandboxError
from hotmess.sandbox import TIMEOUT_EXIT_CODE, create


@pytest.fixture
def sandbox(sandbox_kind):
    with create(sandbox_kind, memory_mb=256, pids=64, command_timeout_s=20) as box:
        yield box


def test_shell_state_persists_between_commands(sandbox):
    sandbox.exec(
        "mkdir -p deep/er && cd deep/er && export GREETING=hello && counter() { echo $((7 * 6)); }"
    )
    result = sandbox.exec('pwd; echo "$GREETING"; counter')
    assert result.stdout.splitlines() == ["/work/deep/er", "hello", "42"]
    assert result.exit_code == 0 and result.stderr == ""


@pytest.mark.parametrize("code", [0, 1, 2, 42, 255])
def test_exit_codes_are_exact(sandbox, code):
    assert sandbox.exec(f"(exit {code})").exit_code == code
    assert sandbox.exec(f"sh -c 'exit {code}'").exit_code == code


def test_stdout_and_stderr_are_separate_and_multiline_commands_work(sandbox):
    result = sandbox.exec(
        "echo out; echo err >&2\ncat <<'EOF'\nline with 'quotes' and $dollars\nEOF"
    )
    assert result.stdout == "out\nline with 'quotes' and $dollars\n"
    assert result.stderr == "err\n"


def test_a_syntax_error_is_an_error_not_a_hang(sandbox):
    result = sandbox.exec("echo 'unclosed")
    assert result.exit_code != 0 and "unexpected EOF" in result.stderr
    assert sandbox.exec("echo fine").stdout == "fine\n"


def test_commands_run_as_a_non_root_user(sandbox):
    assert sandbox.exec("id -u").stdout.strip() == "1000"


def test_writing_outside_the_work_directory_fails(sandbox):
    for path in ("/etc/hotmess-probe", "/usr/bin/hotmess-probe", "/hotmess-probe"):
        result = sandbox.exec(f"echo x > {path}")
        assert result.exit_code != 0, path
    assert sandbox.exec("echo x > /work/inside && cat /work/inside").stdout == "x\n"
    assert sandbox.exec("echo y > /tmp/scratch && cat /tmp/scratch").stdout == "y\n"


def test_binary_files_round_trip(sandbox):
    blob = bytes(range(256)) * 257 + b"\x00\r\n\x1b[31m"
    sandbox.write_file("data/blob.bin", blob)
    assert sandbox.read_file("data/blob.bin") == blob
    assert sandbox.read_file("/work/data/blob.bin") == blob
    assert sandbox.exec("wc -c < data/blob.bin").stdout.strip() == str(len(blob))
    sandbox.write_file("text.txt", "caf\u00e9\n")
    assert sandbox.exec("cat text.txt").stdout == "caf\u00e9\n"
    with pytest.raises(FileNotFoundError):
        sandbox.read_file("missing.txt")


def test_relative_paths_are_relative_to_the_workdir_whatever_the_shell_cwd(sandbox):
    sandbox.exec("cd /tmp")
    sandbox.write_file("note.txt", "here")
    assert sandbox.exec("cat /work/note.txt").stdout == "here"


def test_ten_megabytes_of_output_are_capped(sandbox):
    result = sandbox.exec("head -c 10000000 /dev/zero | tr '\\0' 'a'; echo; echo THE-END")
    assert result.truncated and result.exit_code == 0
    assert len(result.stdout) < 40_000
    assert result.stdout.startswith("aaaa") and result.stdout.rstrip().endswith("THE-END")
    assert "bytes cut" in result.stdout
    assert not sandbox.exec("echo small").truncated


def test_an_endless_loop_times_out_and_the_next_command_works(sandbox):
    start = time.monotonic()
    result = sandbox.exec("echo started; sleep 1000", timeout=1.5)
    assert result.timed_out and result.exit_code == TIMEOUT_EXIT_CODE
    assert result.stdout == "started\n" and "timed out after 1.5 s" in result.stderr
    assert time.monotonic() - start < 10
    # A process that ignores Ctrl-C, and its children, are killed too.
    result = sandbox.exec("sh -c 'trap \"\" INT; sleep 1000 & while :; do :; done'", timeout=1)
    assert result.timed_out
    assert sandbox.exec("echo alive").stdout == "alive\n"
    assert "sleep 1000" not in sandbox.exec("ps -eo args").stdout


def test_a_wedged_shell_is_replaced(sandbox):
    result = sandbox.exec("trap '' INT; while :; do :; done", timeout=1)
    assert result.timed_out and "restarted" in result.stderr
    assert sandbox.exec("pwd").stdout == "/work\n"


def test_exit_in_a_command_starts_a_new_shell(sandbox):
    result = sandbox.exec("cd /tmp; exit 7")
    assert result.exit_code == 7 and "new shell" in result.stderr
    assert sandbox.exec("pwd").stdout == "/work\n"


def test_no_network_not_even_the_hosts_loopback(sandbox):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3); print('CONNECTED')"
        result = sandbox.exec(f'python3 -c "{probe}"')
        assert "CONNECTED" not in result.stdout and result.exit_code != 0
        assert "refused" in result.stderr.lower() or "unreachable" in result.stderr.lower()
        assert "lo" in sandbox.exec("cat /proc/net/dev").stdout
        assert "eth0" not in sandbox.exec("cat /proc/net/dev").stdout
    finally:
        server.shutdown()


def test_localhost_is_named_and_served_inside_the_sandbox(sandbox):
    """Without a network the sandbox still has its own loopback, and `localhost` resolves
    (the Docker backend skips the engine's network set-up and writes /etc/hosts itself)."""
    server = "import http.server as h; h.HTTPServer(('127.0.0.1', 8765), h.SimpleHTTPRequestHandler).serve_forever()"
    sandbox.exec(f'echo served > page; (python3 -c "{server}" >/dev/null 2>&1 &)')
    fetch = (
        "import time, urllib.request as u\n"
        "for _ in range(100):\n"
        "    try: print(u.urlopen('http://localhost:8765/page', timeout=5).read().decode(), end=''); break\n"
        "    except OSError: time.sleep(0.1)\n"
    )
    sandbox.write_file("fetch.py", fetch)
    assert sandbox.exec("python3 fetch.py").stdout == "served\n"
    named = sandbox.exec("""python3 -c 'import socket; print(socket.gethostbyname("localhost"))'""")
    assert named.stdout == "127.0.0.1\n"


def test_a_fork_bomb_is_contained(sandbox):
    result = sandbox.exec("bomb() { bomb | bomb & }; bomb; sleep 2; echo survived", timeout=15)
    assert result.exit_code == 0 or result.timed_out
    sandbox.exec("pkill -KILL -u 1000 -f bomb || true", timeout=15)
    # The host still forks freely, and the sandbox's shell still answers.
    assert os.system("true") == 0
    assert "alive" in sandbox.exec("echo alive", timeout=15).stdout


def test_a_memory_hog_is_killed_and_reported(sandbox):
    result = sandbox.exec("python3 -c 'x = bytearray(1024 ** 3); print(len(x))'", timeout=30)
    assert result.exit_code == 137 and result.oom_killed
    assert "out of memory" in result.stderr
    assert sandbox.exec("echo alive").stdout == "alive\n"


def test_episode_wall_clock_limit(sandbox_kind):
    with create(sandbox_kind, episode_timeout_s=2) as box:
        assert box.exec("sleep 5", timeout=10).timed_out
        result = box.exec("echo too late")
        assert result.timed_out and "wall-clock limit" in result.stderr and box.expired


def test_close_is_idempotent(sandbox_kind):
    box = create(sandbox_kind)
    box.close()
    box.close()


def test_bad_options_and_kinds_are_clear_errors():
    with pytest.raises(ConfigError, match="invalid sandbox options: memory_mb"):
        create("bwrap", memory_mb=1)
    with pytest.raises(ConfigError, match="unknown sandbox 'vm'"):
        create("vm")
    with pytest.raises(SandboxError, match="runs no commands"):
        create("none").exec("true")


@pytest.mark.docker
def test_the_keeper_started_by_docker_exec_serves_the_same_shell(docker_ready):
    """Where the container's own process is `sleep` (Harbor's task containers, an engine
    over TLS or SSH), the keeper comes through `docker exec -it`: the same shell."""
    from hotmess.sandbox.base import SandboxConfig
    from hotmess.sandbox.docker import DockerSandbox

    class ExecKeeper(DockerSandbox):
        keeper_relay = False

    with ExecKeeper(SandboxConfig(command_timeout_s=20)) as box:
        assert "sleep" in box.container.attrs["Config"]["Cmd"]
        result = box.exec("cd /tmp; X=4; echo $((X * 2)) >&2; (exit 3)")
        assert (result.stdout, result.stderr, result.exit_code) == ("", "8\n", 3)
        ended = box.exec("exit 5")
        assert ended.exit_code == 5 and "new shell" in ended.stderr
        assert box.exec("pwd; echo ${X:-gone}").stdout == "/work\ngone\n"
        stuck = box.exec("trap '' INT; sleep 100", timeout=1)
        assert stuck.timed_out and box.exec("echo fine").stdout == "fine\n"
