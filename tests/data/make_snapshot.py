"""Regenerate the committed snapshot that tests/test_snapshot_format.py restores: a cloud
on a new data dir, one account with every kind of resource (tests/persistence_scenario.py),
stopped with SIGTERM; its snapshot and the ids the test reads are written beside this file.

Run it only deliberately, when the snapshot format changes (snapshot.FORMAT raised): a
test that fails on the old file is the point of keeping it.

    python tests/data/make_snapshot.py
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from tests.conftest import start_cloud, stop_cloud  # noqa: E402
from tests.persistence_scenario import populate  # noqa: E402
from workshop.cloud.snapshot import FORMAT  # noqa: E402

ACCOUNT = "111122223333"


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="make-snapshot-"))
    cloud = start_cloud(tmp)
    try:
        made = populate(cloud, ACCOUNT, tmp)
    finally:
        stop_cloud(cloud, keep_data=True)
    source = cloud.data_dir / "state" / "snapshots" / f"{ACCOUNT}.snapshot"
    shutil.copyfile(source, HERE / f"snapshot-format{FORMAT}.snapshot")
    ids = {k: made[k] for k in ("account", "bucket", "stack_id", "build_id", "deployment_id", "execution_id",
                                "queue_url")}
    (HERE / f"snapshot-format{FORMAT}.json").write_text(json.dumps(ids, indent=2) + "\n")
    shutil.rmtree(cloud.data_dir, ignore_errors=True)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"wrote {HERE / f'snapshot-format{FORMAT}.snapshot'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
