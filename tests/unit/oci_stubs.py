"""In-memory stand-ins for the OCI SDK clients the collection uses.

They take the SDK's real request classes (Create*/Update*Details) and answer with the SDK's real
model classes inside ``oci.response.Response``, so a wrong field name fails here as it would
against the service. Failures are scripted per operation with :meth:`StubClient.fail`.
"""
from __future__ import annotations

import copy
import itertools
from collections import defaultdict
from typing import Any

import oci
import yaml
from oci.container_engine import models as ce
from oci.core import models as core
from oci.exceptions import ServiceError

_counter = itertools.count(1)
REGION = "eu-frankfurt-1"
ALL_SERVICES_CIDR = "all-fra-services-in-oracle-services-network"


def ocid(kind: str) -> str:
    return f"ocid1.{kind}.oc1.{REGION}.stub{next(_counter):06d}"


def response(data: Any = None, *, headers: dict[str, str] | None = None, status: int = 200) -> oci.response.Response:
    """A real SDK Response holding a copy of `data`, as if deserialized from the wire."""
    return oci.response.Response(status, {"opc-request-id": f"req-{next(_counter)}", **(headers or {})},
                                 copy.deepcopy(data), None)


def copy_fields(src: Any, cls: type) -> Any:
    """A `cls` with the fields `src` (an SDK model) shares with it."""
    target = cls()
    return cls(**{k: getattr(src, k) for k in src.swagger_types if k in target.swagger_types})


class StubClient:
    """Records calls and raises scripted ServiceErrors."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self._failures: dict[str, list[ServiceError]] = defaultdict(list)

    def fail(self, operation: str, *, status: int, code: str, message: str = "", times: int = 1,
             request_id: str = "opc-req-stub") -> None:
        for attempt in range(times):
            self._failures[operation].append(
                ServiceError(status, code, {"opc-request-id": request_id}, message or code))

    def _enter(self, operation: str, *args: Any) -> None:
        self.calls.append((operation, args))
        if self._failures[operation]:
            raise self._failures[operation].pop(0)

    def writes(self) -> list[str]:
        return [op for op, call_args in self.calls if op.split("_", 1)[0] in ("create", "update", "delete")
                and op != "create_kubeconfig"]

    def _not_found(self, what: str) -> ServiceError:
        return ServiceError(404, "NotAuthorizedOrNotFound", {"opc-request-id": "opc-req-404"}, f"{what} not found")


# --- virtual network -------------------------------------------------------------------------------
_NETWORK_MODELS = {
    "vcn": core.Vcn, "internet_gateway": core.InternetGateway, "nat_gateway": core.NatGateway,
    "service_gateway": core.ServiceGateway, "route_table": core.RouteTable, "security_list": core.SecurityList,
    "subnet": core.Subnet,
}


class VirtualNetworkStub(StubClient):
    def __init__(self) -> None:
        super().__init__()
        self.resources: dict[str, Any] = {}
        self.service = core.Service(id=ocid("service"), name="All FRA Services In Oracle Services Network",
                                    cidr_block=ALL_SERVICES_CIDR, description="all services")

    def list_services(self, **kwargs: Any) -> oci.response.Response:
        self._enter("list_services")
        other = core.Service(id=ocid("service"), name="OCI FRA Object Storage",
                             cidr_block="oci-fra-objectstorage", description="object storage")
        return response([other, self.service])

    def of_kind(self, noun: str) -> list[Any]:
        cls = _NETWORK_MODELS[noun]
        return [r for r in self.resources.values() if isinstance(r, cls)]


def _network_ops(noun: str, cls: type) -> None:
    def create(self: VirtualNetworkStub, details: Any, **kwargs: Any) -> oci.response.Response:
        self._enter(f"create_{noun}", details)
        obj = copy_fields(details, cls)
        obj.id = ocid(noun.replace("_", ""))
        obj.lifecycle_state = "PROVISIONING"
        if noun == "service_gateway":
            obj.services = [core.ServiceIdResponseDetails(service_id=s.service_id, service_name="all")
                            for s in details.services]
        if noun == "vcn":
            obj.cidr_block = details.cidr_blocks[0]
        self.resources[obj.id] = obj
        return response(obj)

    def get(self, resource_id: str, **kwargs: Any) -> oci.response.Response:
        self._enter(f"get_{noun}", resource_id)
        obj = self.resources.get(resource_id)
        if obj is None:
            raise self._not_found(resource_id)
        if obj.lifecycle_state in ("PROVISIONING", "UPDATING"):
            obj.lifecycle_state = "AVAILABLE"
        elif obj.lifecycle_state == "TERMINATING":
            obj.lifecycle_state = "TERMINATED"
        return response(obj)

    def update(self, resource_id: str, details: Any, **kwargs: Any) -> oci.response.Response:
        self._enter(f"update_{noun}", resource_id, details)
        obj = self.resources[resource_id]
        for attr in details.swagger_types:
            value = getattr(details, attr)
            if value is not None:
                if attr == "services":
                    value = [core.ServiceIdResponseDetails(service_id=s.service_id, service_name="all")
                             for s in value]
                setattr(obj, attr, value)
        obj.lifecycle_state = "UPDATING"
        if obj.lifecycle_state != "UPDATING":  # the model has no UPDATING state (the SDK maps it to UNKNOWN)
            obj.lifecycle_state = "AVAILABLE"
        return response(obj)

    def delete(self, resource_id: str, **kwargs: Any) -> oci.response.Response:
        self._enter(f"delete_{noun}", resource_id)
        self.resources[resource_id].lifecycle_state = "TERMINATING"
        return response(None)

    def list_(self, compartment_id: str, vcn_id: str | None = None, page: str | None = None,
              **kwargs: Any) -> oci.response.Response:
        self._enter(f"list_{noun}s", compartment_id)
        items = [r for r in self.resources.values() if isinstance(r, cls) and r.compartment_id == compartment_id
                 and (vcn_id is None or getattr(r, "vcn_id", None) == vcn_id)]
        return response(items)

    for name, fn in ((f"create_{noun}", create), (f"get_{noun}", get), (f"update_{noun}", update),
                     (f"delete_{noun}", delete), (f"list_{noun}s", list_)):
        fn.__name__ = name
        setattr(VirtualNetworkStub, name, fn)


for _noun, _cls in _NETWORK_MODELS.items():
    _network_ops(_noun, _cls)


# --- container engine --------------------------------------------------------------------------------
KUBECONFIG_TEMPLATE = """---
apiVersion: v1
kind: ""
clusters:
- name: cluster-{short}
  cluster:
    server: https://{ip}:6443
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
users:
- name: user-{short}
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      args:
      - ce
      - cluster
      - generate-token
      - --cluster-id
      - {cluster_id}
      - --region
      - {region}
      command: oci
      env: []
contexts:
- name: context-{short}
  context:
    cluster: cluster-{short}
    user: user-{short}
current-context: context-{short}
"""


class _Stream:
    """What the SDK returns for response_type='stream' (a requests.Response): has .content."""

    def __init__(self, content: bytes) -> None:
        self.content = content


class ContainerEngineStub(StubClient):
    def __init__(self, *, upgrades: list[str] | None = None) -> None:
        super().__init__()
        self.clusters: dict[str, ce.Cluster] = {}
        self.node_pools: dict[str, ce.NodePool] = {}
        self.work_requests: dict[str, dict[str, Any]] = {}
        self.work_request_statuses = ["SUCCEEDED"]
        self.upgrades = upgrades or []
        self.images = [
            ce.NodeSourceViaImageOption(source_type="IMAGE", image_id="ocid1.image.x86-old",
                                        source_name="Oracle-Linux-8.10-2025.01.01-0-OKE-1.33.1-100"),
            ce.NodeSourceViaImageOption(source_type="IMAGE", image_id="ocid1.image.x86-new",
                                        source_name="Oracle-Linux-8.10-2025.06.01-0-OKE-1.33.1-200"),
            ce.NodeSourceViaImageOption(source_type="IMAGE", image_id="ocid1.image.gpu",
                                        source_name="Oracle-Linux-8.10-Gen2-GPU-2025.06.01-0-OKE-1.33.1-200"),
            ce.NodeSourceViaImageOption(source_type="IMAGE", image_id="ocid1.image.arm",
                                        source_name="Oracle-Linux-8.10-aarch64-2025.06.01-0-OKE-1.33.1-200"),
            ce.NodeSourceViaImageOption(source_type="IMAGE", image_id="ocid1.image.x86-134",
                                        source_name="Oracle-Linux-8.10-2025.06.01-0-OKE-1.34.1-200"),
        ]

    # work requests
    def _work_request(self, operation: str, compartment_id: str, entity: str, entity_id: str,
                      action: str) -> dict[str, str]:
        wr_id = ocid("clustersworkrequest")
        wr = ce.WorkRequest(id=wr_id, operation_type=operation, compartment_id=compartment_id,
                            resources=[ce.WorkRequestResource(action_type=action, entity_type=entity,
                                                              identifier=entity_id)])
        self.work_requests[wr_id] = {"wr": wr, "statuses": list(self.work_request_statuses)}
        return {"opc-work-request-id": wr_id}

    def get_work_request(self, work_request_id: str, **kwargs: Any) -> oci.response.Response:
        self._enter("get_work_request", work_request_id)
        entry = self.work_requests[work_request_id]
        status = entry["statuses"].pop(0) if len(entry["statuses"]) > 1 else entry["statuses"][0]
        entry["wr"].status = status
        return response(entry["wr"])

    def list_work_request_errors(self, compartment_id: str, work_request_id: str, **kwargs: Any):
        self._enter("list_work_request_errors", work_request_id)
        return response([ce.WorkRequestError(code="InternalError", message="node launch failed")])

    # clusters
    def create_cluster(self, details: ce.CreateClusterDetails, **kwargs: Any) -> oci.response.Response:
        self._enter("create_cluster", details)
        c = copy_fields(details, ce.Cluster)
        c.id = ocid("cluster")
        c.endpoint_config = copy_fields(details.endpoint_config, ce.ClusterEndpointConfig)
        c.lifecycle_state = "ACTIVE"
        c.available_kubernetes_upgrades = list(self.upgrades)
        c.endpoints = ce.ClusterEndpoints(public_endpoint="192.0.2.10:6443", private_endpoint="10.0.0.5:6443")
        self.clusters[c.id] = c
        work_request = self._work_request("CLUSTER_CREATE", details.compartment_id, "cluster", c.id, "CREATED")
        return response(None, headers=work_request)

    def get_cluster(self, cluster_id: str, **kwargs: Any) -> oci.response.Response:
        self._enter("get_cluster", cluster_id)
        if cluster_id not in self.clusters:
            raise self._not_found(cluster_id)
        return response(self.clusters[cluster_id])

    def list_clusters(self, compartment_id: str, name: str | None = None, page: str | None = None, **kwargs: Any):
        self._enter("list_clusters", compartment_id)
        items = [copy_fields(c, ce.ClusterSummary) for c in self.clusters.values()
                 if c.compartment_id == compartment_id and (name is None or c.name == name)]
        return response(items)

    def update_cluster(self, cluster_id: str, details: ce.UpdateClusterDetails, **kwargs: Any):
        self._enter("update_cluster", cluster_id, details)
        c = self.clusters[cluster_id]
        for attr in details.swagger_types:
            if getattr(details, attr) is not None:
                setattr(c, attr, getattr(details, attr))
        work_request = self._work_request("CLUSTER_UPDATE", c.compartment_id, "cluster", cluster_id, "UPDATED")
        return response(None, headers=work_request)

    def update_cluster_endpoint_config(self, cluster_id: str, details: ce.UpdateClusterEndpointConfigDetails,
                                       **kwargs: Any):
        self._enter("update_cluster_endpoint_config", cluster_id, details)
        c = self.clusters[cluster_id]
        c.endpoint_config.is_public_ip_enabled = details.is_public_ip_enabled
        work_request = self._work_request("CLUSTER_UPDATE", c.compartment_id, "cluster", cluster_id, "UPDATED")
        return response(None, headers=work_request)

    def delete_cluster(self, cluster_id: str, **kwargs: Any):
        self._enter("delete_cluster", cluster_id)
        c = self.clusters[cluster_id]
        c.lifecycle_state = "DELETED"
        work_request = self._work_request("CLUSTER_DELETE", c.compartment_id, "cluster", cluster_id, "DELETED")
        return response(None, headers=work_request)

    def create_kubeconfig(self, cluster_id: str, create_cluster_kubeconfig_content_details: Any = None,
                          **kwargs: Any):
        self._enter("create_kubeconfig", cluster_id, create_cluster_kubeconfig_content_details)
        if cluster_id not in self.clusters:
            raise self._not_found(cluster_id)
        short = cluster_id[-11:]
        text = KUBECONFIG_TEMPLATE.format(short=short, ip="192.0.2.10", cluster_id=cluster_id, region=REGION)
        yaml.safe_load(text)
        return response(_Stream(text.encode()))

    # node pools
    def get_node_pool_options(self, node_pool_option_id: str, **kwargs: Any):
        self._enter("get_node_pool_options", node_pool_option_id)
        return response(ce.NodePoolOptions(kubernetes_versions=["v1.33.1", "v1.34.1"], sources=list(self.images)))

    def _nodes(self, np: ce.NodePool) -> list[ce.Node]:
        ads = [pc.availability_domain for pc in np.node_config_details.placement_configs] or ["AD-1"]
        return [ce.Node(id=ocid("instance"), name=f"{np.name}-{i}", lifecycle_state="ACTIVE",
                        availability_domain=ads[i % len(ads)]) for i in range(np.node_config_details.size)]

    def create_node_pool(self, details: ce.CreateNodePoolDetails, **kwargs: Any):
        self._enter("create_node_pool", details)
        np = copy_fields(details, ce.NodePool)
        np.id = ocid("nodepool")
        np.lifecycle_state = "ACTIVE"
        np.node_config_details = copy_fields(details.node_config_details, ce.NodePoolNodeConfigDetails)
        if details.node_shape_config is not None:
            np.node_shape_config = copy_fields(details.node_shape_config, ce.NodeShapeConfig)
        np.node_image_id = details.node_source_details.image_id
        np.nodes = self._nodes(np)
        self.node_pools[np.id] = np
        work_request = self._work_request("NODEPOOL_CREATE", details.compartment_id, "nodepool", np.id, "CREATED")
        return response(None, headers=work_request)

    def get_node_pool(self, node_pool_id: str, **kwargs: Any):
        self._enter("get_node_pool", node_pool_id)
        if node_pool_id not in self.node_pools:
            raise self._not_found(node_pool_id)
        return response(self.node_pools[node_pool_id])

    def list_node_pools(self, compartment_id: str, cluster_id: str | None = None, name: str | None = None,
                        page: str | None = None, **kwargs: Any):
        self._enter("list_node_pools", compartment_id)
        items = [copy_fields(np, ce.NodePoolSummary) for np in self.node_pools.values()
                 if np.compartment_id == compartment_id and (cluster_id is None or np.cluster_id == cluster_id)
                 and (name is None or np.name == name)]
        return response(items)

    def update_node_pool(self, node_pool_id: str, details: ce.UpdateNodePoolDetails, **kwargs: Any):
        self._enter("update_node_pool", node_pool_id, details)
        np = self.node_pools[node_pool_id]
        for attr in ("kubernetes_version", "node_shape", "freeform_tags", "node_source_details"):
            if getattr(details, attr) is not None:
                setattr(np, attr, getattr(details, attr))
        if details.node_shape_config is not None:
            np.node_shape_config = copy_fields(details.node_shape_config, ce.NodeShapeConfig)
        if details.node_config_details is not None:
            if details.node_config_details.size is not None:
                np.node_config_details.size = details.node_config_details.size
            if details.node_config_details.placement_configs is not None:
                np.node_config_details.placement_configs = details.node_config_details.placement_configs
            np.nodes = self._nodes(np)
        work_request = self._work_request("NODEPOOL_UPDATE", np.compartment_id, "nodepool", node_pool_id, "UPDATED")
        return response(None, headers=work_request)

    def delete_node_pool(self, node_pool_id: str, **kwargs: Any):
        self._enter("delete_node_pool", node_pool_id)
        np = self.node_pools[node_pool_id]
        np.lifecycle_state = "DELETED"
        work_request = self._work_request("NODEPOOL_DELETE", np.compartment_id, "nodepool", node_pool_id, "DELETED")
        return response(None, headers=work_request)

    # what an operator does in the console
    def resize_outside(self, node_pool_id: str, size: int) -> None:
        self.node_pools[node_pool_id].node_config_details.size = size
