"""benchmarks/main_job.py reads Ansible's profile_tasks recap: every task line after PLAY RECAP, names with or
without a role prefix, long names with three dashes, same-named tasks added up, task output before the recap ignored."""
from __future__ import annotations

from benchmarks.main_job import profile

OUTPUT = """TASK [Apply something] -------------------------- 9.99s
ok: [localhost]

PLAY RECAP *********************************************************************
localhost                  : ok=3    changed=0    unreachable=0    failed=0    skipped=1    rescued=0    ignored=0

Thursday 03 December 2026  06:40:16 +0000 (0:00:00.050)       0:00:32.078 ******
===============================================================================
multicluster.gitops.capi_workloads : Wait until every provider is ready --- 4.19s
Read clusters, registrations and ApplicationSets from the hub ----------- 1.10s
multicluster.gitops.capi_workloads : Split the objects by whether their namespace exists --- 0.37s
multicluster.gitops.capi_workloads : Split the objects by whether their namespace exists --- 0.17s
"""


def test_profile_reads_the_recap_lines() -> None:
    times = profile(OUTPUT)
    assert times == {
        "multicluster.gitops.capi_workloads : Wait until every provider is ready": 4.19,
        "Read clusters, registrations and ApplicationSets from the hub": 1.10,
        "multicluster.gitops.capi_workloads : Split the objects by whether their namespace exists": 0.37 + 0.17,
    }
