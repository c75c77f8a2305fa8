"""`tracegate validate` and `tracegate run` on good and bad configuration
files: exit codes, `file:line: path: message` problem lines, `${env:...}`
substitution, and the example configuration shipped in deploy/."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from e2e_helpers import REPO_ROOT, gateway_config, request_with_spans, run_tracegate, to_yaml

GOOD = """\
# A complete, valid configuration.
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:4318
        max_request_body_size: 8MiB
        traces_url_path: /v1/traces

processors:
  batch:
    send_batch_size: 512
    send_batch_max_size: 1024
    timeout: 1s

exporters:
  postgres:
    dsn: host=127.0.0.1 port=5432 user=postgres dbname=tracegate
    auto_migrate: false
    connect_timeout: 3s
    sending_queue:
      num_consumers: 4
      queue_size: 10000
    retry_on_failure:
      enabled: true
      initial_interval: 500ms
      max_interval: 10s
      max_elapsed_time: 0
      multiplier: 2
      randomization_factor: 0.1
  nop: {}

service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [postgres]
    traces/debug:
      receivers: [otlp]
      exporters: [nop]
  telemetry:
    logs:
      level: warn
    shutdown_timeout: 15s
"""

# Four problems at once; the comments give the line of each.
BAD = """\
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:4318
        max_body_size: 4MiB
processors:
  batch:
    timeout: 5 parsecs
  batch/unused:
    timeout: 1s
exporters:
  nop: {}
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [nop, kafka]
"""
# (line, path, fragments of the message)
BAD_PROBLEMS = [
    (6, "receivers.otlp.protocols.http.max_body_size", ["unknown key"]),
    (9, "processors.batch.timeout", ["duration", "'5 parsecs'"]),
    (10, "processors.batch/unused", ["not used in any pipeline"]),
    (19, "service.pipelines.traces.exporters[1]", ["kafka", "not defined"]),
]


def write(tmp_path: Path, text: str, name: str = "tracegate.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problem_lines(stderr: str, path: Path) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(f"{path}:")]


def assert_problems(stderr: str, path: Path, expected: list[tuple[int, str, list[str]]]) -> None:
    """Each expected problem is one `file:line: path: message` line."""
    lines = problem_lines(stderr, path)
    for line_no, key_path, fragments in expected:
        prefix = f"{path}:{line_no}: {key_path}: "
        matching = [l for l in lines if l.startswith(prefix)]
        assert matching, f"no line starting with {prefix!r} in:\n{stderr}"
        for fragment in fragments:
            assert any(fragment in l for l in matching), f"{fragment!r} not in {matching}"
    assert len(lines) == len(expected), f"expected {len(expected)} problems, got:\n{stderr}"
    assert f"{len(expected)} problem{'s' if len(expected) != 1 else ''} in {path}" in stderr, stderr


def test_validate_accepts_a_good_config(tracegate_bin, tmp_path):
    path = write(tmp_path, GOOD)
    result = run_tracegate(tracegate_bin, ["validate", "--config", str(path)])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{path}: OK (2 pipelines: traces, traces/debug)"
    assert result.stderr == ""


def test_validate_reports_every_problem_with_file_and_line(tracegate_bin, tmp_path):
    path = write(tmp_path, BAD)
    result = run_tracegate(tracegate_bin, ["validate", "--config", str(path)])
    assert result.returncode == 1, result
    assert result.stdout == ""
    assert_problems(result.stderr, path, BAD_PROBLEMS)


def test_run_with_a_bad_config_exits_1_with_the_same_problems(tracegate_bin, tmp_path):
    path = write(tmp_path, BAD)
    validate = run_tracegate(tracegate_bin, ["validate", "--config", str(path)])
    run = run_tracegate(tracegate_bin, ["run", "--config", str(path)], timeout=15)
    assert run.returncode == 1, run
    assert_problems(run.stderr, path, BAD_PROBLEMS)
    assert problem_lines(run.stderr, path) == problem_lines(validate.stderr, path)
    assert "tracegate started" not in run.stderr


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param("receivers:\n  otlp:\n    protocols:\n      http:\n\tendpoint: x\n", 5, id="tab-indent"),
        pytest.param("receivers:\n  otlp:\n    protocols: [http\nprocessors:\n  batch: {}\n", 4, id="unclosed-flow"),
        pytest.param("receivers:\n  otlp:\n    protocols:\n      http: {}\n   bad: indentation\n", 5,
                     id="bad-indentation"),
    ],
)
def test_validate_reports_invalid_yaml_with_its_line(tracegate_bin, tmp_path, text, line):
    path = write(tmp_path, text)
    result = run_tracegate(tracegate_bin, ["validate", "--config", str(path)])
    assert result.returncode == 1, result
    assert result.stderr.startswith(f"{path}:{line}: invalid YAML"), result.stderr
    assert f"1 problem in {path}" in result.stderr


def test_validate_reports_a_duplicate_key_with_its_line(tracegate_bin, tmp_path):
    path = write(tmp_path, "receivers:\n  otlp:\n    protocols:\n      http: {}\nreceivers:\n  otlp: {}\n")
    result = run_tracegate(tracegate_bin, ["validate", "--config", str(path)])
    assert result.returncode == 1, result
    lines = problem_lines(result.stderr, path)
    assert any(l.startswith(f"{path}:5: ") and "receivers" in l and "duplicate" in l for l in lines), (
        f"expected a `{path}:5: ...duplicate... receivers` line (the second `receivers:` is on line 5); got:\n"
        f"{result.stderr}")


def test_validate_reports_a_missing_file(tracegate_bin, tmp_path):
    path = tmp_path / "absent.yaml"
    result = run_tracegate(tracegate_bin, ["validate", "--config", str(path)])
    assert result.returncode == 1, result
    assert result.stderr.startswith(f"{path}: cannot read file"), result.stderr


ENV_CONFIG = """\
receivers:
  otlp:
    protocols:
      http:
        endpoint: ${env:TG_E2E_ENDPOINT:-127.0.0.1:4318}
processors:
  batch:
    timeout: ${env:TG_E2E_BATCH_TIMEOUT:-250ms}
exporters:
  nop: {}
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [nop]
"""


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        pytest.param({}, None, id="unset-uses-default"),
        pytest.param({"TG_E2E_BATCH_TIMEOUT": ""}, None, id="empty-uses-default"),
        pytest.param({"TG_E2E_BATCH_TIMEOUT": "2s"}, None, id="set"),
        pytest.param({"TG_E2E_BATCH_TIMEOUT": "soon"}, "got 'soon'", id="set-to-a-bad-value"),
        pytest.param({"TG_E2E_ENDPOINT": "no-port-here"}, "got 'no-port-here'", id="bad-endpoint"),
    ],
)
def test_env_substitution_with_default_is_validated(tracegate_bin, tmp_path, env, problem):
    path = write(tmp_path, ENV_CONFIG)
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("TG_E2E_")}
    result = run_tracegate(tracegate_bin, ["validate", "--config", str(path)], env={**clean_env, **env},
                           inherit_env=False)
    if problem is None:
        assert result.returncode == 0, result.stderr
        assert "OK (1 pipeline: traces)" in result.stdout
    else:
        assert result.returncode == 1, result
        line = 8 if "TIMEOUT" in next(iter(env)) else 5
        [message] = problem_lines(result.stderr, path)
        assert message.startswith(f"{path}:{line}: "), message
        assert problem in message, message


def test_env_default_is_the_value_that_gets_validated(tracegate_bin, tmp_path):
    path = write(tmp_path, ENV_CONFIG.replace(":-250ms}", ":-forever}"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TG_E2E_")}
    result = run_tracegate(tracegate_bin, ["validate", "--config", str(path)], env=env, inherit_env=False)
    assert result.returncode == 1, result
    assert_problems(result.stderr, path, [(8, "processors.batch.timeout", ["got 'forever'"])])


def test_run_listens_on_the_endpoint_from_the_environment(gateway):
    # The default in the file is port 1; the variable asks for any free port (0).
    gw = gateway.start(ENV_CONFIG.replace("127.0.0.1:4318", "127.0.0.1:1"),
                       env={"TG_E2E_ENDPOINT": "127.0.0.1:0", "TG_E2E_BATCH_TIMEOUT": "50ms"})
    assert gw.port not in (None, 1), f"listening on {gw.port}: the variable was not used\n{gw.log_tail()}"
    body, _ = request_with_spans(2)
    assert gw.post(body).status_code == 200


def test_run_uses_the_default_when_the_variable_is_unset(gateway, monkeypatch):
    monkeypatch.delenv("TG_E2E_ENDPOINT", raising=False)
    monkeypatch.delenv("TG_E2E_BATCH_TIMEOUT", raising=False)
    gw = gateway.start(ENV_CONFIG.replace("127.0.0.1:4318", "127.0.0.1:0"))
    assert gw.post(b"").status_code == 200


@pytest.mark.parametrize("dsn_env", [None, "host=127.0.0.1 port=5999 user=postgres dbname=elsewhere"])
def test_example_local_config_validates(tracegate_bin, dsn_env):
    env = {k: v for k, v in os.environ.items() if k != "TRACEGATE_DSN"}
    if dsn_env is not None:
        env["TRACEGATE_DSN"] = dsn_env
    result = run_tracegate(tracegate_bin, ["validate", "--config", "deploy/examples/local.yaml"], env=env,
                           inherit_env=False, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "deploy/examples/local.yaml: OK (1 pipeline: traces)"


def test_unused_and_undefined_components_in_a_generated_config(tracegate_bin, tmp_path):
    config = gateway_config(None)
    config["exporters"]["nop/spare"] = {}
    config["service"]["pipelines"]["traces"]["receivers"] = ["otlp", "otlp/other"]
    path = write(tmp_path, to_yaml(config).replace("{port}", "4318"))
    result = run_tracegate(tracegate_bin, ["validate", "--config", str(path)])
    assert result.returncode == 1, result
    lines = problem_lines(result.stderr, path)
    assert any(re.match(rf"{re.escape(str(path))}:\d+: exporters\.nop/spare: .*not used", l) for l in lines), lines
    assert any(re.match(rf"{re.escape(str(path))}:\d+: service\.pipelines\.traces\.receivers\[1\]: otlp/other", l)
               for l in lines), lines


def test_version_prints_the_version_and_schema_version(tracegate_bin):
    result = run_tracegate(tracegate_bin, ["version"])
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"tracegate \d+\.\d+\.\d+\S* \(schema version \d+\)\n", result.stdout), result.stdout
