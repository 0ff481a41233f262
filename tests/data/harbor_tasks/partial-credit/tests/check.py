import json
from pathlib import Path

tests = []
for letter in "abcd":
    path = Path(f"/app/out/{letter}.txt")
    ok = path.is_file() and path.read_text().strip() == letter.upper()
    tests.append({"name": f"test_{letter}", "status": "passed" if ok else "failed", "duration": 0})
passed = sum(t["status"] == "passed" for t in tests)
report = {
    "results": {
        "tool": {"name": "check.py"},
        "summary": {"tests": 4, "passed": passed, "failed": 4 - passed},
        "tests": tests,
    }
}
Path("/logs/verifier/ctrf.json").write_text(json.dumps(report))
Path("/logs/verifier/reward.json").write_text(json.dumps({"reward": passed / 4}))
