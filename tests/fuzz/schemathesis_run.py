"""`make fuzz`'s schema-driven part: Schemathesis generates requests from serving/rest/openapi.json and
checks the answers of a live `tfkit serve` against the same document.

The server serves the kit's half_plus_two model as `half_plus_two` (version 123, label `stable`), the
values the document gives as examples, so generated requests reach real signatures as well as the error
paths. Checks: no 5xx (`not_a_server_error`), documented status codes, content type and response schema.
Not checked: `negative_data_rejection` / `positive_data_acceptance` (TF Serving accepts more than the
schema describes, e.g. trailing bytes after the JSON document, and refuses schema-valid bodies whose
tensors do not fit the signature). Usage:

    python -m tests.fuzz.schemathesis_run [--max-examples N] [--seed S] [--report DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from serving.launcher import REPO, running_server

DOCUMENT = REPO / "serving" / "rest" / "openapi.json"
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
MODEL = "half_plus_two"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=100, help="examples per API operation")
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--report", type=Path, default=None, help="directory for the JUnit report")
    args = parser.parse_args(argv)

    from tests.support.half_plus_two import write_half_plus_two

    work = Path(tempfile.mkdtemp(prefix="tfkit-schemathesis-"))
    try:
        write_half_plus_two(work / MODEL, 123)
        config = work / "models.config"
        config.write_text(
            f"model_config_list {{ config {{ name: '{MODEL}' base_path: '{work / MODEL}'"
            " model_platform: 'tensorflow' version_labels { key: 'stable' value: 123 } } }\n"
        )
        with running_server([f"--model_config_file={config}"], wait_models=[MODEL]) as server:
            command = [
                str(Path(sys.executable).with_name("schemathesis")),
                "run",
                str(DOCUMENT),
                f"--url={server.rest_url}",
                f"--checks={CHECKS}",
                f"--max-examples={args.max_examples}",
                f"--seed={args.seed}",
                "--request-timeout=60",
                "--workers=1",
                "--no-color",
            ]
            if args.report is not None:
                command += ["--report=junit", f"--report-dir={args.report}"]
            code = subprocess.run(command, cwd=REPO, check=False).returncode
            alive = server.process.poll() is None
            log = server.log()
        print(f"server alive after the run: {alive}; tracebacks in its log: {log.count('Traceback')}")
        return code if alive else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
