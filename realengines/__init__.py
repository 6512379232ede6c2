"""Real engines for the test tier, built from Go modules under ``engines/`` (no prebuilt binaries).

* ``realengines.build``: ``python -m realengines build [component...]`` (stamped, timed).
* ``realengines.kube``: etcd + kube-apiserver (+ kube-controller-manager) on 127.0.0.1.
* ``realengines.crds``: install CRD YAML into a running API server.
* ``realengines.pytest_plugin``: fixtures ``real_hub`` and ``real_server_factory``.

See docs/real-engines.md ("Real-engine tier").
"""
