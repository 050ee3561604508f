"""A small fake Kubernetes API server, enough for ClusterTarget: the REST paths it
reads, the scale subresource it writes (with a toy Deployment controller that removes
and recreates pods), pod logs, Secrets, Events, and the pod `portforward` WebSocket
speaking the v4.channel.k8s.io protocol, relaying to local HTTP servers that play the
pods. The official `kubernetes` client talks to it through a kubeconfig, so the
client's URLs, parameters, (de)serialisation and port-forward stream are exercised for
real; only the cluster behind is pretend.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from devstack import free_port
from tests.unit.e2e_support import documents as docs

NS = "user-audit"
EVENTING = "knative-eventing"


def _not_found(kind: str, name: str) -> JSONResponse:
    return JSONResponse(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": f'{kind} "{name}" not found',
            "reason": "NotFound",
            "details": {"name": name, "kind": kind},
            "code": 404,
        },
        404,
    )


def _deployment(
    namespace: str,
    name: str,
    selector: dict[str, str],
    replicas: int,
    pod_labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    doc = copy.deepcopy(docs.DEPLOYMENT_AVAILABLE)
    labels = pod_labels or selector
    doc["metadata"].update(name=name, namespace=namespace, labels=labels, generation=1)
    doc["spec"]["replicas"] = replicas
    doc["spec"]["selector"] = {"matchLabels": selector}
    doc["spec"]["template"]["metadata"]["labels"] = labels
    doc["status"].update(
        observedGeneration=1,
        replicas=replicas,
        updatedReplicas=replicas,
        availableReplicas=replicas,
        readyReplicas=replicas,
    )
    return doc


class FakeCluster:
    """State plus the ASGI app. `pod_backends` maps a pod name to the (host, port) of the
    local server that plays it; pods of a scaled-up Deployment reuse the names' order.
    `plane` is the broker class's ingress as upstream ships it (documents.IngressPlane)."""

    def __init__(
        self,
        pod_backends: dict[str, tuple[str, int]],
        plane: docs.IngressPlane = docs.MT_CHANNEL_BROKER,
    ) -> None:
        self.pod_backends = pod_backends
        self.plane = plane
        self.lock = threading.Lock()
        self.requests: list[str] = []
        self.broker_polls_until_ready = 2
        self.broker = docs.broker_of(plane, docs.broker_just_created())
        names = ["audit-user-created", "audit-user-updated", "audit-user-deleted"]
        types = ["user.storeUser", "user.updateUser", "user.deleteUser"]
        self.triggers = [docs.trigger(n, t) for n, t in zip(names, types, strict=True)]
        self.sinkbinding = docs.SINKBINDING_READY
        audit_labels = {"app.kubernetes.io/name": "audit"}
        user_labels = {"app.kubernetes.io/name": "user"}
        ingress = (EVENTING, plane.deployment)
        self.deployments = {
            (NS, "audit"): _deployment(NS, "audit", audit_labels, 2),
            (NS, "user"): _deployment(NS, "user", user_labels, 2),
            ingress: _deployment(EVENTING, plane.deployment, plane.selector, 1, plane.pod_labels),
        }
        self.pod_names = {
            (NS, "audit"): ["audit-6d4cf56db6-a1", "audit-6d4cf56db6-b2"],
            (NS, "user"): ["user-5c7f8d9b4-c3", "user-5c7f8d9b4-d4"],
            ingress: [plane.pod_name],
        }
        self.services = {
            (NS, "audit"): docs.AUDIT_SERVICE,
            (EVENTING, plane.service["metadata"]["name"]): plane.service,
        }
        self.pods: dict[str, list[dict[str, Any]]] = {NS: [], EVENTING: []}
        for (namespace, name), deployment in self.deployments.items():
            self._set_pods(namespace, name, deployment["spec"]["replicas"])
        self.secrets = {
            (NS, "user-admin"): {"token": base64.b64encode(b"admin-token-from-secret").decode()}
        }

    # -- toy controllers
    def _set_pods(self, namespace: str, deployment: str, replicas: int) -> None:
        spec = self.deployments[(namespace, deployment)]["spec"]
        selector = spec["selector"]["matchLabels"]
        labels = spec["template"]["metadata"]["labels"]
        port = 8080
        self.pods[namespace] = [
            p
            for p in self.pods[namespace]
            if not all(p["metadata"]["labels"].get(k) == v for k, v in selector.items())
        ]
        for name in self.pod_names[(namespace, deployment)][:replicas]:
            pod = docs.pod(name, labels=dict(labels), port=port)
            pod["metadata"]["namespace"] = namespace
            pod["spec"]["containers"][0]["name"] = deployment
            pod["status"]["containerStatuses"][0]["name"] = deployment
            self.pods[namespace].append(pod)

    def _scale(self, namespace: str, name: str, replicas: int) -> None:
        deployment = self.deployments[(namespace, name)]
        deployment["metadata"]["generation"] += 1
        deployment["spec"]["replicas"] = replicas
        deployment["status"].update(
            observedGeneration=deployment["metadata"]["generation"],
            replicas=replicas,
            updatedReplicas=replicas,
            availableReplicas=replicas,
            readyReplicas=replicas,
        )
        self._set_pods(namespace, name, replicas)

    # -- handlers
    async def broker_get(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name != "default":
            return _not_found("brokers.eventing.knative.dev", name)
        with self.lock:
            # A fresh Broker, then one whose ingress has no endpoints, then Ready.
            self.broker_polls_until_ready -= 1
            ingress = self.deployments[(EVENTING, self.plane.deployment)]
            if self.broker_polls_until_ready == 0:
                self.broker = docs.broker_of(self.plane, docs.broker_ingress_down())
            elif self.broker_polls_until_ready < 0:
                ready = ingress["spec"]["replicas"] > 0
                broker = docs.BROKER_READY if ready else docs.broker_ingress_down()
                self.broker = docs.broker_of(self.plane, broker)
            return JSONResponse(self.broker)

    async def triggers_list(self, request: Request) -> Response:
        return JSONResponse(
            {"apiVersion": "eventing.knative.dev/v1", "kind": "TriggerList", "items": self.triggers}
        )

    async def sinkbinding_get(self, request: Request) -> Response:
        return JSONResponse(self.sinkbinding)

    async def deployments_list(self, request: Request) -> Response:
        namespace = request.path_params["ns"]
        self.requests.append(f"list deployments {namespace}")
        with self.lock:
            items = [d for (ns, _), d in self.deployments.items() if ns == namespace]
            return JSONResponse(
                {"apiVersion": "apps/v1", "kind": "DeploymentList", "metadata": {}, "items": items}
            )

    async def deployment_get(self, request: Request) -> Response:
        key = (request.path_params["ns"], request.path_params["name"])
        with self.lock:
            if key not in self.deployments:
                return _not_found("deployments.apps", key[1])
            return JSONResponse(self.deployments[key])

    def _scale_doc(self, namespace: str, name: str) -> dict[str, Any]:
        deployment = self.deployments[(namespace, name)]
        return {
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": deployment["spec"]["replicas"]},
            "status": {"replicas": deployment["status"].get("replicas", 0)},
        }

    async def scale(self, request: Request) -> Response:
        namespace, name = request.path_params["ns"], request.path_params["name"]
        with self.lock:
            if request.method == "PATCH":
                body = json.loads(await request.body())
                self.requests.append(
                    f"PATCH scale {namespace}/{name} {request.headers['content-type']} {body}"
                )
                self._scale(namespace, name, int(body["spec"]["replicas"]))
            return JSONResponse(self._scale_doc(namespace, name))

    async def service_get(self, request: Request) -> Response:
        key = (request.path_params["ns"], request.path_params["name"])
        if key not in self.services:
            return _not_found("services", key[1])
        return JSONResponse(self.services[key])

    async def pods_list(self, request: Request) -> Response:
        namespace = request.path_params["ns"]
        selector = request.query_params.get("labelSelector")
        wanted = dict(part.split("=", 1) for part in selector.split(",")) if selector else {}
        with self.lock:
            items = [
                p
                for p in self.pods.get(namespace, [])
                if all(p["metadata"]["labels"].get(k) == v for k, v in wanted.items())
            ]
        return JSONResponse({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items})

    async def pod_log(self, request: Request) -> Response:
        name = request.path_params["name"]
        self.requests.append(f"log {name} {dict(request.query_params)}")
        lines = [f'{{"level":"info","msg":"line {i} of {name}"}}' for i in range(100)]
        tail = request.query_params.get("tailLines")
        if tail:
            lines = lines[-int(tail) :]
        return PlainTextResponse("\n".join(lines) + "\n")

    async def secret_get(self, request: Request) -> Response:
        key = (request.path_params["ns"], request.path_params["name"])
        if key not in self.secrets:
            return _not_found("secrets", key[1])
        return JSONResponse(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": key[1], "namespace": key[0]},
                "type": "Opaque",
                "data": self.secrets[key],
            }
        )

    async def events_list(self, request: Request) -> Response:
        warning = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "audit.1", "namespace": NS},
            "involvedObject": {"kind": "Pod", "name": "audit-6d4cf56db6-a1", "namespace": NS},
            "reason": "Unhealthy",
            "message": "Readiness probe failed: HTTP probe failed with statuscode: 503",
            "type": "Warning",
            "count": 3,
        }
        normal = {
            **warning,
            "metadata": {"name": "audit.2", "namespace": NS},
            "type": "Normal",
            "reason": "Pulled",
            "message": "image pulled",
        }
        return JSONResponse(
            {"apiVersion": "v1", "kind": "EventList", "metadata": {}, "items": [normal, warning]}
        )

    async def portforward(self, websocket: WebSocket) -> None:
        """kubelet's side of `kubectl port-forward`, v4.channel.k8s.io: channel 0 carries
        data, channel 1 errors; each starts with a frame holding the port number."""
        name = websocket.path_params["name"]
        port = int(websocket.query_params["ports"])
        self.requests.append(f"portforward {websocket.path_params['ns']}/{name}:{port}")
        await websocket.accept(subprotocol="v4.channel.k8s.io")
        init = port.to_bytes(2, "little")
        await websocket.send_bytes(b"\x00" + init)
        await websocket.send_bytes(b"\x01" + init)
        backend = self.pod_backends.get(name)
        if backend is None:
            await websocket.send_bytes(b"\x01" + f"pod {name} has no backend".encode())
            await websocket.close()
            return
        reader, writer = await asyncio.open_connection(*backend)

        async def upstream() -> None:
            with contextlib.suppress(WebSocketDisconnect):
                while True:
                    frame = await websocket.receive_bytes()
                    if frame[:1] == b"\x00" and len(frame) > 1:
                        writer.write(frame[1:])
                        await writer.drain()

        async def downstream() -> None:
            while data := await reader.read(65536):
                await websocket.send_bytes(b"\x00" + data)

        tasks = [asyncio.create_task(upstream()), asyncio.create_task(downstream())]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        writer.close()
        with contextlib.suppress(Exception):
            await websocket.close()

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(
                    "/apis/eventing.knative.dev/v1/namespaces/{ns}/brokers/{name}", self.broker_get
                ),
                Route("/apis/eventing.knative.dev/v1/namespaces/{ns}/triggers", self.triggers_list),
                Route(
                    "/apis/sources.knative.dev/v1/namespaces/{ns}/sinkbindings/{name}",
                    self.sinkbinding_get,
                ),
                Route("/apis/apps/v1/namespaces/{ns}/deployments", self.deployments_list),
                Route("/apis/apps/v1/namespaces/{ns}/deployments/{name}", self.deployment_get),
                Route(
                    "/apis/apps/v1/namespaces/{ns}/deployments/{name}/scale",
                    self.scale,
                    methods=["GET", "PATCH"],
                ),
                Route("/api/v1/namespaces/{ns}/services/{name}", self.service_get),
                Route("/api/v1/namespaces/{ns}/pods", self.pods_list),
                Route("/api/v1/namespaces/{ns}/pods/{name}/log", self.pod_log),
                Route("/api/v1/namespaces/{ns}/secrets/{name}", self.secret_get),
                Route("/api/v1/namespaces/{ns}/events", self.events_list),
                WebSocketRoute("/api/v1/namespaces/{ns}/pods/{name}/portforward", self.portforward),
            ]
        )


class Served:
    """An ASGI app under uvicorn in a thread, on a free loopback port."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=self.port, log_level="warning", ws="websockets-sansio"
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("fake server did not start")
            time.sleep(0.01)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def write_kubeconfig(path: Path, server: str, context: str) -> Path:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": server}}],
                "users": [{"name": "fake", "user": {"token": "fake-token"}}],
                "contexts": [{"name": context, "context": {"cluster": "fake", "user": "fake"}}],
                "current-context": context,
            }
        )
    )
    return path
