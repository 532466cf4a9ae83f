"""`workshop grade`: a class of 30 accounts on one cloud (solved, half-way,
untouched) plus roster lines that cannot be checked; the HTML, CSV and JSON
it writes must say what each account really holds, row by row."""

from __future__ import annotations

import csv
import html
import json
from collections import Counter

import pytest

from checker import registry
from checker.results import CheckResult, LabResult
from tests import notebooks
from tests.conftest import free_port, new_account
from tests.lab_runs import TIME_SCALES, time_scale
from workshop.class_report import ClassReport, LabInfo, Learner, LearnerRow, grade_class, read_roster
from workshop.cli import main


def _roster(path, rows, columns=("email", "learner", "account_id")):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: v for k, v in row.items() if k in columns})
    return path


def _csv_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_grade_a_class_of_30_accounts_reports_what_each_account_holds(cloud, lab_runs, tmp_path):
    labs = registry.lab_ids()
    # A class early on: a few learners done (each with one lab: the graded runs of
    # tests/lab_runs.py, whose untouched submissions' accounts are classmates too),
    # a few half-way through every lab, most with nothing yet.
    runs = {lab: lab_runs.get(lab) for lab in labs}
    solved = [runs[lab].accounts["solved-learner"] for lab in labs]
    untouched = [runs[lab].accounts["unsolved-learner"] for lab in labs]
    half = [new_account() for _ in range(2)]
    empty = [new_account() for _ in range(30 - len(solved) - len(untouched) - len(half))]
    half_steps = {}
    # One kernel at a time: three labs' solutions side by side (lab 03 sends steady
    # Lambda traffic through canaries) on a loaded 2-core CI machine made a good
    # canary drop a request now and then; this test is about the report, not load.
    for lab in labs:
        steps = notebooks.solution_steps(lab)
        half_steps[lab] = steps[:(len(steps) - 1) // 2 + 1]  # the steps a half-way learner did
        if half_steps[lab][-1] == "drift":
            # Lab 04's drift step breaks the bucket on purpose and the next one mends it: a
            # learner half-way through is past the mend, where the earlier checks hold again.
            half_steps[lab] = steps[:steps.index("fix-drift") + 1]
        with time_scale(cloud, TIME_SCALES.get(lab)):     # as the lab's graded run does
            notebooks.perform_solution(lab, cloud.endpoint, half, tmp_path / "work" / lab,
                                       through_step=half_steps[lab][-1], kernels=1)

    def kind(account: str, lab: str) -> str:
        """What the account holds of the lab ("other": another lab's graded run, whose
        work may count for this lab too: only the report's faithfulness is checked)."""
        if account in half:
            return "half"
        if account in empty or account == runs[lab].accounts["unsolved-learner"]:
            return "empty"
        return "solved" if account == runs[lab].accounts["solved-learner"] else "other"

    # Interleaved, as a real roster is; plus two lines whose checks cannot run.
    accounts = solved + untouched + half + empty
    accounts = [a for i in range(5) for a in accounts[i::5]]
    lines = [{"learner": f"learner {i:02d}", "account_id": a, "email": f"l{i}@example.org"}
             for i, a in enumerate(accounts)]
    lines.insert(7, {"learner": "not-yet-issued", "account_id": "", "email": ""})
    lines.append({"learner": "typo", "account_id": "12345", "email": ""})
    roster = _roster(tmp_path / "roster.csv", lines)
    out = tmp_path / "report"

    assert main(["grade", "--roster", str(roster), "--endpoint", cloud.endpoint, "--out", str(out),
                 "--workers", "8"]) == 0

    data = json.loads((out / "report.json").read_text())
    assert [r["learner"] for r in data["learners"]] == [line["learner"] for line in lines]
    assert [lab["id"] for lab in data["labs"]] == labs
    truth = {}  # what each account holds, read one account at a time, outside `workshop grade`
    for account in accounts:
        truth[account] = {lab: notebooks.check(cloud, account, lab) for lab in labs}
    for row in data["learners"]:
        account = row["account_id"]
        if row["learner"] in ("not-yet-issued", "typo"):
            assert "account" in row["error"] and row["score"] == 0, row
            assert all(r["error"] and not r["results"] for r in row["labs"].values())
            continue
        assert row["error"] is None, row
        for lab in labs:
            got = LabResult.from_dict(row["labs"][lab])
            assert got.account == account
            expected = truth[account][lab]
            assert {r.id: r.passed for r in got.results} == {r.id: r.passed for r in expected.results}, \
                f"{row['learner']} ({kind(account, lab)}):\n{notebooks.describe(got)}"
            checks = registry.get_lab(lab).checks
            holds = kind(account, lab)
            if holds == "solved":
                assert got.all_passed, notebooks.describe(got)
            elif holds == "empty":
                assert got.score == 0 and got.error is None, notebooks.describe(got)
            elif holds == "half":
                # The checks of the steps done pass (a later check may pass too: the
                # work of one step can be evidence for another), and not all of them.
                done = {c.id for c in checks if c.step in half_steps[lab]}
                assert done <= {r.id for r in got.results if r.passed}, notebooks.describe(got)
                assert 0 < got.score < got.total, notebooks.describe(got)

    # The CSV says the same, check by check.
    rows = _csv_rows(out / "report.csv")
    assert [r["learner"] for r in rows] == [line["learner"] for line in lines]
    for csv_row, json_row in zip(rows, data["learners"]):
        assert int(csv_row["score"]) == json_row["score"]
        for lab in labs:
            result = LabResult.from_dict(json_row["labs"][lab])
            for check in registry.get_lab(lab).checks:
                expected = "" if result.error else str(result.result(check.id).earned)
                assert csv_row[check.id] == expected
            assert csv_row[f"{lab} total"] == ("" if result.error else str(result.score))
        assert bool(csv_row["error"]) == bool(json_row["error"])

    # The HTML: every learner, and each lab's most common failing check with its hint.
    page = (out / "report.html").read_text()
    for line in lines:
        assert html.escape(line["learner"]) in page
    for lab in labs:
        checks = registry.get_lab(lab).checks
        fails = Counter(r.id for account in accounts for r in truth[account][lab].results if not r.passed)
        worst = min(fails, key=lambda cid: (-fails[cid], [c.id for c in checks].index(cid)))
        check = registry.get_check(worst)
        common = {f["lab"]: f for f in data["most_common_failures"]}[lab]
        assert (common["check"], common["failing"], common["checked"]) == (worst, fails[worst], len(accounts))
        assert html.escape(check.title) in page and html.escape(check.hints[0]) in page


def test_grade_when_the_cloud_is_down_shows_the_reason_in_each_row(tmp_path, capsys):
    roster = _roster(tmp_path / "roster.csv", [{"learner": "ada", "account_id": new_account()},
                                               {"learner": "bob", "account_id": new_account()}])
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    assert main(["grade", "--roster", str(roster), "--endpoint", endpoint, "--out", str(tmp_path / "r")]) == 1
    data = json.loads((tmp_path / "r" / "report.json").read_text())
    for row in data["learners"]:
        assert "cannot reach the AWS endpoint" in row["error"] and row["score"] == 0
    assert "no learner's checks could run" in capsys.readouterr().err


@pytest.mark.parametrize("content, message", [
    ("name,account_id\nada,111111111111\n", "no 'learner' column"),
    ("learner,account_id\nada,111111111111\nada,222222222222\n", "appears twice"),
])
def test_grade_refuses_a_roster_it_cannot_read(tmp_path, capsys, content, message):
    (tmp_path / "roster.csv").write_text(content)
    assert main(["grade", "--roster", str(tmp_path / "roster.csv"), "--out", str(tmp_path / "r")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_grade_refuses_an_unknown_lab_and_a_missing_roster(tmp_path, capsys):
    roster = _roster(tmp_path / "roster.csv", [{"learner": "ada", "account_id": new_account()}])
    assert main(["grade", "--roster", str(roster), "--labs", "04-iac,99-nope"]) == 2
    assert "no lab 99-nope" in capsys.readouterr().err
    assert main(["grade", "--roster", str(tmp_path / "missing.csv")]) == 2
    assert "missing.csv" in capsys.readouterr().err


def test_roster_lines_keep_their_problems_and_issued_keys(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("\ufefflearner , account_id\nada,111111111111\n,\nbob,\ncy,12-34\n")
    ada, bob, cy = read_roster(path, keys={"111111111111": ("AKIAISSUED", "s3cret")})
    assert (ada.name, ada.account_id, ada.problem) == ("ada", "111111111111", None)
    assert ada.target("http://x").access_key_id == "AKIAISSUED" and ada.target("http://x").secret_access_key == "s3cret"
    assert "no account_id" in bob.problem and "12-digit" in cy.problem
    assert Learner("dee", "222222222222").target("http://x").access_key_id == "222222222222"


def _result(lab: LabInfo, passed: set[str], error: str | None = None) -> LabResult:
    results = [] if error else [CheckResult(c.id, c.title, c.points, c.id in passed, f"msg {c.id}", c.hint)
                                for c in lab.checks]
    return LabResult(lab.id, lab.title, "http://x", "111111111111", results, error)


def test_report_views_escape_names_and_break_ties_by_check_order():
    lab = LabInfo.of("04-iac")
    first, second, *_ = [c.id for c in lab.checks]
    everything = {c.id for c in lab.checks}
    rows = [LearnerRow("<script>alert(1)</script>", "111111111111", {lab.id: _result(lab, everything - {second})}),
            LearnerRow("b", "222222222222", {lab.id: _result(lab, everything - {first, second})}),
            LearnerRow("c", "333333333333", {lab.id: _result(lab, everything - {first})}),
            LearnerRow("d", None, {lab.id: _result(lab, set(), error="no account_id")})]
    report = ClassReport("http://x", [lab], rows, "now", 1.0)
    # first and second each fail for 2 of the 3 learners whose checks ran: the earlier check wins.
    (common,) = report.common_failures()
    assert (common.check.id, common.failing, common.checked) == (first, 2, 3)
    page = report.to_html()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert html.escape(common.check.hint) in page
    again = ClassReport.from_dict(json.loads(report.to_json()))
    assert again.to_csv() == report.to_csv()
    table = list(csv.DictReader(report.to_csv().splitlines()))
    assert table[0][second] == "0" and table[0][first] != "0" and table[3][first] == ""
    assert table[3]["error"] == "no account_id" and table[3]["max_score"] == str(lab.total)


def test_grade_class_keeps_roster_order_whatever_finishes_first(cloud):
    learners = [Learner(f"l{i}", new_account()) for i in range(12)]
    seen = []
    report = grade_class(learners, ["04-iac"], cloud.endpoint, workers=6,
                         progress=lambda learner, lab: seen.append((learner, lab)))
    assert [r.learner for r in report.rows] == [l.name for l in learners]
    assert [r.account_id for r in report.rows] == [l.account_id for l in learners]
    assert sorted(seen) == sorted((l.name, "04-iac") for l in learners)
    assert all(r.labs["04-iac"].account == r.account_id for r in report.rows)


def test_grade_class_in_grader_processes_keeps_order_and_results(cloud, monkeypatch):
    """A class is graded by one process per core: the same rows, in roster order, as in one process."""
    learners = [Learner(f"l{i}", new_account()) for i in range(23)]
    seen = []
    monkeypatch.setenv("WORKSHOP_GRADE_PROCESSES", "1")
    alone = grade_class(learners, ["04-iac"], cloud.endpoint, workers=6)
    monkeypatch.setenv("WORKSHOP_GRADE_PROCESSES", "2")
    split = grade_class(learners, ["04-iac"], cloud.endpoint, workers=6,
                        progress=lambda learner, lab: seen.append((learner, lab)))
    assert [r.learner for r in split.rows] == [l.name for l in learners]
    assert [r.account_id for r in split.rows] == [l.account_id for l in learners]
    assert sorted(seen) == sorted((l.name, "04-iac") for l in learners)
    assert [[(x.id, x.passed, x.message) for x in r.labs["04-iac"].results] for r in split.rows] == \
        [[(x.id, x.passed, x.message) for x in r.labs["04-iac"].results] for r in alone.rows]


def test_grade_in_class_mode_signs_with_the_issued_keys_or_the_admin_token(tmp_path, monkeypatch, capsys):
    from tests.conftest import ADMIN_TOKEN, start_cloud, stop_cloud

    monkeypatch.delenv("WORKSHOP_ADMIN_TOKEN", raising=False)
    monkeypatch.delenv("WORKSHOP_CLASS_KEYS", raising=False)
    monkeypatch.setenv("WORKSHOP_DATA_DIR", str(tmp_path / "no-cloud-data"))  # no admin token on this machine
    roster = tmp_path / "class" / "roster.csv"
    roster.parent.mkdir()
    roster.write_text("learner\nada\nbob\n")
    assert main(["accounts", str(roster)]) == 0
    keys = roster.with_name("class-keys.json")
    issued = {row["learner"]: row["account_id"] for row in _csv_rows(roster)}
    cloud = start_cloud(tmp_path, extra_env={"WORKSHOP_CLASS_KEYS": str(keys)})
    try:
        grade = ["grade", "--roster", str(roster), "--endpoint", cloud.endpoint, "--labs", "04-iac"]
        # The keys beside the roster: each learner's checks run as that learner.
        assert main([*grade, "--out", str(tmp_path / "with-keys")]) == 0
        rows = json.loads((tmp_path / "with-keys" / "report.json").read_text())["learners"]
        assert {r["learner"]: (r["account_id"], r["error"]) for r in rows} == \
            {name: (account, None) for name, account in issued.items()}

        hidden = keys.rename(tmp_path / "elsewhere.json")
        # Neither keys nor the admin token: the class-mode cloud refuses, and each row says so.
        assert main([*grade, "--out", str(tmp_path / "refused")]) == 1
        rows = json.loads((tmp_path / "refused" / "report.json").read_text())["learners"]
        assert all("refused" in r["error"] for r in rows), rows
        # The admin token signs for any account.
        monkeypatch.setenv("WORKSHOP_ADMIN_TOKEN", ADMIN_TOKEN)
        assert main([*grade, "--out", str(tmp_path / "admin")]) == 0
        rows = json.loads((tmp_path / "admin" / "report.json").read_text())["learners"]
        assert [r["error"] for r in rows] == [None, None]
        # A keys file named but missing is bad input, not a report of failures.
        assert main([*grade, "--keys", str(tmp_path / "missing.json"), "--out", str(tmp_path / "x")]) == 2
        assert "missing.json" in capsys.readouterr().err
        assert main([*grade, "--keys", str(hidden), "--out", str(tmp_path / "named")]) == 0
    finally:
        stop_cloud(cloud)


def test_a_class_cloud_keeps_answering_past_1024_open_files(tmp_path):
    """A class's cloud holds many files open (repositories, build logs, large
    objects): past 1024 descriptors, a select()-based server loop dies, and every
    learner's cloud with it. Here every S3 object is a file of its own."""
    from tests.conftest import start_cloud, stop_cloud

    cloud = start_cloud(tmp_path, extra_env={"MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": "1"})
    try:
        account = new_account()
        s3 = cloud.client("s3", account)
        s3.create_bucket(Bucket=f"many-{account}")
        for i in range(1100):
            s3.put_object(Bucket=f"many-{account}", Key=f"o{i}", Body=b"more than one byte")
        assert s3.get_object(Bucket=f"many-{account}", Key="o1099")["Body"].read() == b"more than one byte"
        report = grade_class([Learner("ada", account)], ["04-iac"], cloud.endpoint)
        assert report.rows[0].error is None
        assert cloud.process.poll() is None, "the cloud died"
    finally:
        stop_cloud(cloud)


def test_a_class_cloud_serves_more_open_connections_than_waitress_allows_by_default(cloud):
    """Every learner's kernel keeps a connection open per AWS client (keep-alive),
    and so does the instructor's report: a class has hundreds. Past the server's
    connection limit, new connections wait for idle ones to time out (minutes)."""
    import boto3
    from botocore.config import Config

    quick = Config(connect_timeout=5, read_timeout=15, retries={"max_attempts": 1})
    idle = []
    for _ in range(150):  # 30 learners' kernels with five clients each
        client = boto3.client("sts", endpoint_url=cloud.endpoint, region_name="us-east-1", config=quick,
                              aws_access_key_id=new_account(), aws_secret_access_key="test")
        client.get_caller_identity()  # its connection stays open, idle
        idle.append(client)
    try:
        account = new_account()
        report = grade_class([Learner("ada", account)], ["04-iac"], cloud.endpoint)
        assert report.rows[0].error is None, report.rows[0].error
    finally:
        for client in idle:
            client.close()

