"""One pod's life on the process kubelet, and the status a real kubelet would report for it.

The order of events follows kubelet's: sandbox (network, PID namespace), volumes, init
containers one by one (native sidecars started and left running), then regular containers
in order, each one's postStart hook finishing before the next container starts. Containers
restart as ``restartPolicy`` says; when the regular containers are done the sidecars get
SIGTERM in reverse order; deletion runs preStop hooks and honours the grace period.
"""

import asyncio
import contextlib
import logging
import signal
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.timestamps import format_time
from devcluster.api import ApiError, AsyncApiClient, resource_path
from devcluster.kubelet import runtime
from devcluster.kubelet.images import LocalImage, container_argv, resolve
from devcluster.kubelet.volumes import (
    VolumeNotReadyError,
    VolumeUnsupportedError,
    container_env,
    expand,
    materialize_volumes,
)

log = logging.getLogger(__name__)

TERMINATION_MESSAGE_LIMIT = 4096
# kubelet re-syncs ConfigMap and Secret volumes about once a minute; faster here for tests.
VOLUME_SYNC_SECONDS = 5.0


def now() -> str:
    """A Kubernetes timestamp (seconds precision, UTC)."""
    return format_time(time.time())


@dataclass
class ContainerState:
    """One container: its spec, process and reported status."""

    spec: dict[str, Any]
    sidecar: bool = False
    init: bool = False
    process: asyncio.subprocess.Process | None = None
    pid: int | None = None
    uid: int | None = None
    gid: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    restart_count: int = 0
    ready: bool = False
    status: dict[str, Any] = field(default_factory=dict)
    waiter: asyncio.Task[int] | None = None
    prober: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        """The container's name."""
        return str(self.spec["name"])

    @property
    def running(self) -> bool:
        """Whether its process is alive."""
        return self.process is not None and self.process.returncode is None


@dataclass
class Sandbox:
    """What the pod's containers share."""

    directory: Path
    netns: str
    ip: str
    hosts_file: Path
    pid_namespace: str | None = None
    pause: asyncio.subprocess.Process | None = None
    volumes: dict[str, Path] = field(default_factory=dict)


@dataclass
class NodeContext:
    """What every pod worker needs from its kubelet."""

    api: AsyncApiClient
    node_name: str
    host_ip: str
    images: Mapping[str, LocalImage]
    root: Path
    network: Any  # ClusterNetwork; Any to keep this module free of ip(8) imports
    write_hosts: Callable[[Path, str, str, str], None]
    created_paths: Callable[[Path, bool], None]
    kubernetes_service: tuple[str, int]


class PodWorker:
    """Runs one pod from binding to completion or deletion."""

    def __init__(self, context: NodeContext, pod: dict[str, Any]) -> None:
        self.context = context
        self.pod = pod
        metadata = pod["metadata"]
        self.uid: str = metadata["uid"]
        self.namespace: str = metadata["namespace"]
        self.name: str = metadata["name"]
        self.spec: dict[str, Any] = pod["spec"]
        self.restart_policy: str = self.spec.get("restartPolicy", "Always")
        self.init_containers = [
            ContainerState(dict(c), sidecar=c.get("restartPolicy") == "Always", init=True)
            for c in self.spec.get("initContainers", []) or []
        ]
        self.containers = [ContainerState(dict(c)) for c in self.spec.get("containers", [])]
        for state in self.init_containers + self.containers:
            state.status = self._waiting(
                state, "PodInitializing" if state.init else "ContainerCreating"
            )
        self.phase = "Pending"
        self.sandbox: Sandbox | None = None
        self.start_time = now()
        self.initialized = False
        self.stopping = asyncio.Event()
        self.grace_seconds: float = float(self.spec.get("terminationGracePeriodSeconds", 30))
        self.task: asyncio.Task[None] | None = None
        self.pod_conditions_time: dict[str, str] = {}
        self._publish_lock = asyncio.Lock()
        self.restarts: set[asyncio.Future[None]] = set()

    # ----------------------------------------------------------------- status reporting

    def _waiting(self, state: ContainerState, reason: str, message: str = "") -> dict[str, Any]:
        waiting: dict[str, Any] = {"reason": reason}
        if message:
            waiting["message"] = message
        return self._status_of(state, {"waiting": waiting})

    def _status_of(self, state: ContainerState, current: dict[str, Any]) -> dict[str, Any]:
        status: dict[str, Any] = {
            "name": state.name,
            "image": state.spec.get("image", ""),
            "imageID": "",
            "ready": state.ready,
            "restartCount": state.restart_count,
            "started": "running" in current,
            "state": current,
        }
        if "running" in current or "terminated" in current:
            status["containerID"] = f"process://{self.uid[:8]}-{state.name}-{state.restart_count}"
        previous = state.status.get("lastState")
        if previous:
            status["lastState"] = previous
        return status

    def ready(self) -> bool:
        """Pod Ready: every regular container ready (and sidecars started)."""
        return (
            self.phase == "Running"
            and all(c.ready for c in self.containers)
            and all(c.running for c in self.init_containers if c.sidecar)
        )

    def _condition(self, kind: str, status: bool, reason: str = "") -> dict[str, Any]:
        value = "True" if status else "False"
        key = f"{kind}={value}"
        stamp = self.pod_conditions_time.setdefault(key, now())
        condition: dict[str, Any] = {"type": kind, "status": value, "lastTransitionTime": stamp}
        if reason:
            condition["reason"] = reason
        return condition

    async def publish(self) -> None:
        """PATCH pods/status with everything we know."""
        async with self._publish_lock:
            ready = self.ready()
            containers_ready = all(c.ready for c in self.containers)
            terminal = self.phase in ("Succeeded", "Failed")
            status: dict[str, Any] = {
                "phase": self.phase,
                "startTime": self.start_time,
                "hostIP": self.context.host_ip,
                "hostIPs": [{"ip": self.context.host_ip}],
                "qosClass": self.pod.get("status", {}).get("qosClass", "BestEffort"),
                "conditions": [
                    self._condition("PodReadyToStartContainers", self.sandbox is not None),
                    self._condition("Initialized", self.initialized),
                    self._condition(
                        "Ready",
                        ready,
                        "" if ready else ("PodCompleted" if terminal else "ContainersNotReady"),
                    ),
                    self._condition(
                        "ContainersReady",
                        containers_ready,
                        ""
                        if containers_ready
                        else ("PodCompleted" if terminal else "ContainersNotReady"),
                    ),
                    self._condition("PodScheduled", True),
                ],
                "containerStatuses": [{**c.status, "ready": c.ready} for c in self.containers],
            }
            if self.init_containers:
                status["initContainerStatuses"] = [
                    {**c.status, "ready": c.ready} for c in self.init_containers
                ]
            if self.sandbox is not None:
                status["podIP"] = self.sandbox.ip
                status["podIPs"] = [{"ip": self.sandbox.ip}]
            path = resource_path("v1", "pods", self.namespace, self.name) + "/status"
            try:
                await self.context.api.patch(path, {"status": status})
            except ApiError as error:
                if error.status != 404:
                    log.warning("status of %s/%s not written: %s", self.namespace, self.name, error)

    # ----------------------------------------------------------------- lifecycle

    async def run(self) -> None:
        """The pod's whole life; cancelled only by kubelet shutdown."""
        try:
            await self.publish()
            if not await self._create_sandbox():
                return
            refresher = asyncio.ensure_future(self._refresh_volumes())
            try:
                if await self._run_init_containers():
                    self.initialized = True
                    await self._start_regular_containers()
                    await self._supervise()
            finally:
                refresher.cancel()
        finally:
            await self._kill_everything(self.grace_seconds)
            self._teardown()
            if self.stopping.is_set():
                await self._confirm_deletion()

    async def _refresh_volumes(self) -> None:
        """Bring ConfigMap and Secret volumes up to date, as kubelet's periodic sync does."""
        assert self.sandbox is not None
        while True:
            await asyncio.sleep(VOLUME_SYNC_SECONDS)
            try:
                await materialize_volumes(
                    self.context.api, self.pod, self.sandbox.directory, refresh=True
                )
            except Exception as error:  # a missing ConfigMap now: keep the last content
                log.info("volumes of %s/%s not refreshed: %s", self.namespace, self.name, error)

    def request_stop(self, grace_seconds: float | None) -> None:
        """The pod is being deleted: stop within ``grace_seconds`` (spec's default if None)."""
        if grace_seconds is not None:
            self.grace_seconds = grace_seconds
        self.stopping.set()

    async def _confirm_deletion(self) -> None:
        with contextlib.suppress(ApiError):
            await self.context.api.delete(
                resource_path("v1", "pods", self.namespace, self.name), grace_period_seconds=0
            )

    async def _create_sandbox(self) -> bool:
        directory = self.context.root / "pods" / self.uid
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o755)
        (directory / "termination").mkdir(exist_ok=True)
        loop = asyncio.get_running_loop()
        address = await loop.run_in_executor(
            None, self.context.network.create_pod_network, self.uid
        )
        netns = f"/var/run/netns/{self.context.network.namespace_name(self.uid)}"
        hosts_file = directory / "hosts"
        self.context.write_hosts(hosts_file, self.namespace, address, self.name)
        sandbox = Sandbox(directory, netns, address, hosts_file)
        if self.spec.get("shareProcessNamespace"):
            pid_file = directory / "pause.pid"
            sandbox.pause = await runtime.launch(
                "pause", {"netns": netns, "pid_file": str(pid_file)}, directory / "pause.log"
            )
            pause_pid = await runtime.read_pid(pid_file)
            sandbox.pid_namespace = f"/proc/{pause_pid}/ns/pid"
        self.sandbox = sandbox
        # Like kubelet, keep retrying volumes until they can be set up (or the pod goes).
        while not self.stopping.is_set():
            try:
                sandbox.volumes = await materialize_volumes(self.context.api, self.pod, directory)
                break
            except VolumeNotReadyError as error:
                self._all_waiting("ContainerCreating", f"MountVolume.SetUp failed: {error}")
            except VolumeUnsupportedError as error:
                self._all_waiting("CreateContainerConfigError", str(error))
                await self.publish()
                await self.stopping.wait()
                return False
            await self.publish()
            await self._sleep_unless_stopping(2.0)
        await self.publish()
        return not self.stopping.is_set()

    def _all_waiting(self, reason: str, message: str) -> None:
        for state in self.init_containers + self.containers:
            state.status = self._waiting(state, reason, message)

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    async def _run_init_containers(self) -> bool:
        for state in self.init_containers:
            if self.stopping.is_set():
                return False
            if state.sidecar:
                if not await self._start(state):
                    return False
                continue
            while True:
                if not await self._start(state):
                    return False
                assert state.waiter is not None
                code = await state.waiter
                if code == 0:
                    break
                self.phase = "Failed" if self.restart_policy == "Never" else self.phase
                await self.publish()
                if self.restart_policy == "Never":
                    await self._stop_sidecars()
                    await self.publish()
                    return False
                await self._sleep_unless_stopping(self._backoff(state))
                state.restart_count += 1
        return True

    async def _start_regular_containers(self) -> None:
        for state in self.containers:
            if self.stopping.is_set():
                return
            await self._start(state)
        if not self.stopping.is_set():
            self.phase = "Running"
            await self.publish()

    def _backoff(self, state: ContainerState) -> float:
        return float(min(2**state.restart_count, 60))

    async def _start(self, state: ContainerState) -> bool:
        """Start a container and run its postStart hook; False if it could not start."""
        assert self.sandbox is not None
        image = resolve(self.context.images, str(state.spec.get("image", "")))
        if image is None:
            state.status = self._waiting(
                state,
                "ErrImagePull",
                f"image {state.spec.get('image')!r} is not in the process kubelet's image map",
            )
            await self.publish()
            await self._sleep_unless_stopping(1.0)
            state.status = self._waiting(
                state, "ImagePullBackOff", f"Back-off pulling image {state.spec.get('image')!r}"
            )
            await self.publish()
            return False
        try:
            spec = await self._launch_spec(state, image)
        except (VolumeNotReadyError, VolumeUnsupportedError) as error:
            state.status = self._waiting(state, "CreateContainerConfigError", str(error))
            await self.publish()
            return False
        log_path = self.sandbox.directory / f"{state.name}.log"
        pid_file = self.sandbox.directory / f"{state.name}.pid"
        pid_file.unlink(missing_ok=True)
        spec["pid_file"] = str(pid_file)
        self._termination_log(state).write_bytes(b"")
        state.process = await runtime.launch("run", spec, log_path)
        started_at = now()
        try:
            state.pid = await runtime.read_pid(pid_file)
        except TimeoutError:
            state.pid = None
        state.status = self._status_of(state, {"running": {"startedAt": started_at}})
        state.ready = "readinessProbe" not in state.spec
        state.waiter = asyncio.ensure_future(self._wait_exit(state, started_at))
        if "readinessProbe" in state.spec:
            state.prober = asyncio.ensure_future(self._probe_readiness(state))
        hook = state.spec.get("lifecycle", {}).get("postStart")
        if hook:
            ok, detail = await self._run_hook(state, hook, timeout=self.grace_seconds + 60)
            if not ok:
                log.warning(
                    "postStart hook of %s/%s failed: %s",
                    self.name,
                    state.name,
                    detail,
                )
                if state.process is not None:
                    runtime.signal_group(state.process, signal.SIGKILL)
        await self.publish()
        return True

    async def _launch_spec(self, state: ContainerState, image: LocalImage) -> dict[str, Any]:
        assert self.sandbox is not None
        base = dict(image.env)
        host, port = self.context.kubernetes_service
        base.update(
            {
                "KUBERNETES_SERVICE_HOST": host,
                "KUBERNETES_SERVICE_PORT": str(port),
                "KUBERNETES_SERVICE_PORT_HTTPS": str(port),
                "HOSTNAME": self.name,
            }
        )
        pod_for_fields = {
            **self.pod,
            "status": {"podIP": self.sandbox.ip, "hostIP": self.context.host_ip},
        }
        env = await container_env(self.context.api, pod_for_fields, state.spec, base)
        state.env = env
        argv = [expand(word, env) for word in container_argv(image, state.spec)]
        security = {
            **(self.spec.get("securityContext") or {}),
            **(state.spec.get("securityContext") or {}),
        }
        state.uid = security.get("runAsUser", image.user)
        state.gid = security.get("runAsGroup", state.uid if state.uid is not None else None)
        if security.get("runAsNonRoot") and (state.uid is None or state.uid == 0):
            raise VolumeUnsupportedError("container has runAsNonRoot and image will run as root")
        mounts = [
            {"source": str(self.sandbox.hosts_file), "target": "/etc/hosts", "readOnly": False},
        ]
        termination_target = Path(state.spec.get("terminationMessagePath", "/dev/termination-log"))
        self.context.created_paths(termination_target, False)
        mounts.append(
            {
                "source": str(self._termination_log(state)),
                "target": str(termination_target),
                "readOnly": False,
            }
        )
        for volume_mount in state.spec.get("volumeMounts", []) or []:
            source = self.sandbox.volumes.get(volume_mount["name"])
            if source is None:
                raise VolumeUnsupportedError(f"volumeMount {volume_mount['name']} has no volume")
            sub_path = volume_mount.get("subPath")
            if sub_path:
                source = source / sub_path
            target = Path(volume_mount["mountPath"])
            self.context.created_paths(target, source.is_dir())
            mounts.append(
                {
                    "source": str(source),
                    "target": str(target),
                    "readOnly": bool(volume_mount.get("readOnly", False)),
                }
            )
        rootfs = self.sandbox.directory / "rootfs" / state.name
        rootfs.mkdir(parents=True, exist_ok=True)
        return {
            "rootfs": str(rootfs),
            "netns": self.sandbox.netns,
            "hostname": self.spec.get("hostname") or self.name,
            "pidns": self.sandbox.pid_namespace,
            "mounts": mounts,
            "read_only_root": bool(security.get("readOnlyRootFilesystem", False)),
            "uid": state.uid,
            "gid": state.gid,
            "workdir": state.spec.get("workingDir"),
            "argv": argv,
            "env": env,
        }

    def _termination_log(self, state: ContainerState) -> Path:
        assert self.sandbox is not None
        path = self.sandbox.directory / "termination" / state.name
        if not path.exists():
            path.touch(mode=0o666)
            path.chmod(0o666)
        return path

    async def _wait_exit(self, state: ContainerState, started_at: str) -> int:
        assert state.process is not None
        code = await state.process.wait()
        state.ready = False
        if state.prober is not None:
            state.prober.cancel()
        message = self._termination_message(state, code)
        terminated: dict[str, Any] = {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": started_at,
            "finishedAt": now(),
            "containerID": f"process://{self.uid[:8]}-{state.name}-{state.restart_count}",
        }
        if message:
            terminated["message"] = message
        state.status = self._status_of(state, {"terminated": terminated})
        log.info("pod %s/%s container %s exited %d", self.namespace, self.name, state.name, code)
        await self.publish()
        return code

    def _termination_message(self, state: ContainerState, code: int) -> str:
        message = self._termination_log(state).read_bytes()[:TERMINATION_MESSAGE_LIMIT]
        if (
            not message
            and code != 0
            and state.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError"
        ):
            assert self.sandbox is not None
            with contextlib.suppress(OSError):
                lines = (
                    (self.sandbox.directory / f"{state.name}.log").read_bytes().splitlines()[-80:]
                )
                message = b"\n".join(lines)[-2048:]
        return message.decode(errors="replace")

    async def _supervise(self) -> None:
        """Restart containers as the policy says; end the pod when its work is done."""
        while not self.stopping.is_set():
            waiters = [c.waiter for c in self.containers + self.init_containers if c.waiter]
            stop = asyncio.ensure_future(self.stopping.wait())
            done, _ = await asyncio.wait([*waiters, stop], return_when=asyncio.FIRST_COMPLETED)
            if stop not in done:
                stop.cancel()
            if self.stopping.is_set():
                return
            for state in self.containers + self.init_containers:
                if state.waiter is not None and state.waiter.done():
                    code = state.waiter.result()
                    state.waiter = None
                    if self._should_restart(state, code):
                        self.restarts.add(asyncio.ensure_future(self._restart_later(state)))
            if self._regular_containers_done():
                await self._stop_sidecars()
                failed = any(
                    c.status["state"].get("terminated", {}).get("exitCode", 0) != 0
                    for c in self.containers
                )
                self.phase = "Failed" if failed else "Succeeded"
                await self.publish()
                return

    def _should_restart(self, state: ContainerState, code: int) -> bool:
        if state.sidecar:
            return not self._regular_containers_done()
        if self.restart_policy == "Always":
            return True
        return self.restart_policy == "OnFailure" and code != 0

    async def _restart_later(self, state: ContainerState) -> None:
        await self._sleep_unless_stopping(self._backoff(state))
        if self.stopping.is_set():
            return
        previous = state.status.get("state", {})
        state.restart_count += 1
        state.status["lastState"] = previous
        await self._start(state)

    def _regular_containers_done(self) -> bool:
        if self.restart_policy == "Always":
            return False
        for state in self.containers:
            terminated = state.status["state"].get("terminated")
            if terminated is None:
                return False
            if self.restart_policy == "OnFailure" and terminated["exitCode"] != 0:
                return False
        return True

    async def _stop_sidecars(self) -> None:
        for state in reversed(self.init_containers):
            if state.sidecar and state.running:
                await self._stop_container(state, self.grace_seconds)

    async def _stop_container(self, state: ContainerState, grace: float) -> None:
        if not state.running:
            return
        assert state.process is not None
        started = time.monotonic()
        hook = state.spec.get("lifecycle", {}).get("preStop")
        if hook:
            await self._run_hook(state, hook, timeout=max(grace, 0.1))
        remaining = max(grace - (time.monotonic() - started), 0.1)
        await runtime.stop_process(state.process, remaining)
        if state.waiter is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await state.waiter

    async def _kill_everything(self, grace: float) -> None:
        regular = [self._stop_container(c, grace) for c in self.containers if c.running]
        await asyncio.gather(*regular, return_exceptions=True)
        for state in reversed(self.init_containers):
            if state.running:
                await self._stop_container(state, grace)
        if self.stopping.is_set() and self.phase not in ("Succeeded", "Failed"):
            await self.publish()

    def _teardown(self) -> None:
        sandbox = self.sandbox
        if sandbox is None:
            return
        if sandbox.pause is not None:
            runtime.signal_group(sandbox.pause, signal.SIGKILL)
        self.context.network.delete_pod_network(self.uid)

    # ----------------------------------------------------------------- hooks and probes

    async def _run_hook(
        self, state: ContainerState, handler: Mapping[str, Any], timeout: float
    ) -> tuple[bool, str]:
        """Run an exec, httpGet or sleep handler; (succeeded, detail)."""
        if "sleep" in handler:
            await asyncio.sleep(float(handler["sleep"].get("seconds", 0)))
            return True, ""
        if "exec" in handler:
            if state.pid is None:
                return False, "container has no process"
            assert self.sandbox is not None
            result = await runtime.exec_in_container(
                state.pid,
                [str(w) for w in handler["exec"]["command"]],
                state.env,
                state.uid,
                state.gid,
                timeout,
                self.sandbox.directory / f"{state.name}.log",
            )
            return result.exit_code == 0, result.output.strip()[-300:]
        if "httpGet" in handler:
            return await self._http_get(state, handler["httpGet"], timeout)
        if "tcpSocket" in handler:
            return await self._tcp(state, handler["tcpSocket"], timeout)
        return False, f"unsupported handler {sorted(handler)}"

    def _port(self, state: ContainerState, port: Any) -> int:
        if isinstance(port, int):
            return port
        for declared in state.spec.get("ports", []) or []:
            if declared.get("name") == port:
                return int(declared["containerPort"])
        return int(port)

    async def _http_get(
        self, state: ContainerState, get: Mapping[str, Any], timeout: float
    ) -> tuple[bool, str]:
        assert self.sandbox is not None
        host = get.get("host") or self.sandbox.ip
        port = self._port(state, get.get("port", 80))
        scheme = str(get.get("scheme", "HTTP")).lower()
        path = get.get("path", "/")
        context = None
        if scheme == "https":
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=context), timeout
            )
            writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), timeout)
            writer.close()
            code = int(status_line.split()[1])
        except (OSError, TimeoutError, ValueError, IndexError) as error:
            return False, str(error)
        return 200 <= code < 400, f"HTTP {code}"

    async def _tcp(
        self, state: ContainerState, socket_spec: Mapping[str, Any], timeout: float
    ) -> tuple[bool, str]:
        assert self.sandbox is not None
        port = self._port(state, socket_spec.get("port"))
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(socket_spec.get("host") or self.sandbox.ip, port), timeout
            )
            writer.close()
        except (OSError, TimeoutError) as error:
            return False, str(error)
        return True, ""

    async def _probe_readiness(self, state: ContainerState) -> None:
        probe = state.spec["readinessProbe"]
        await asyncio.sleep(float(probe.get("initialDelaySeconds", 0)))
        failures = 0
        while state.running:
            ok, _ = await self._run_hook(
                state, probe, timeout=float(probe.get("timeoutSeconds", 1))
            )
            failures = 0 if ok else failures + 1
            ready = ok or (state.ready and failures < int(probe.get("failureThreshold", 3)))
            if ready != state.ready:
                state.ready = ready
                await self.publish()
            await asyncio.sleep(float(probe.get("periodSeconds", 10)))
