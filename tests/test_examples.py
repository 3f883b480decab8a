import json
import os
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


@pytest.mark.slow
def test_walkthrough_runs_end_to_end(tmp_path):
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import walkthrough; "
        "print('RESULT', json.dumps(walkthrough.main(sys.argv[2:])))"
    )
    args = ["--out", str(tmp_path), "--epochs", "4", "--image-size", "32", "--images-per-label", "12"]
    done = subprocess.run([sys.executable, "-c", code, EXAMPLES, *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.split("RESULT", 1)[1])
    assert result["loadtest_errors"] == 0
    for name in ("report.html", "training_curve.png", "model", "models/walkthrough/1", "logs"):
        assert os.path.exists(tmp_path / name), name
    augmented = [f for _, _, files in os.walk(tmp_path / "augmented") for f in files]
    assert len(augmented) == 24  # one copy of each of the 24 training images
