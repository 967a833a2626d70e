"""Carrying out :class:`AnnotateTest`: the verdict onto the LocustTest that owns the Job.

One read and at most one merge patch per pod. The patch names the LocustTest's uid, so the
API server refuses it for a LocustTest deleted and made again under the name since the read.
Whatever cannot be done is final and said in the log and in the pod's mark: no LocustTest
CRD or object (404), no right to it (403, an install from before this feature), another
uid. Only an outage or throttling is retried, by the controller's usual retry.
"""

from app.core.gitops import PLURAL, refusal
from app.core.pod_facts import PodFacts
from app.core.reconcile import AnnotateTest
from app.kube.client import KubeClient, KubeError, path_of

# Enough of the API server's answer for the pod's mark and the log line.
DETAIL_CHARS = 200


async def annotate_test(client: KubeClient, facts: PodFacts, action: AnnotateTest) -> str:
    """Patch the LocustTest's annotations, unless it is not the one; what was done, in words.

    The words are the pod's mark (:data:`names.TEST_ANNOTATED_ANNOTATION`) and the log's.
    """
    test = action.test
    path = path_of(PLURAL, facts.namespace, test.name, group=test.api_version)
    try:
        found = await client.get(path)
    except KubeError as error:
        if error.retryable:
            raise
        return f"LocustTest {test.name} not read: {error.message[:DETAIL_CHARS]}"
    refused = refusal(found, test, action.annotations)
    if refused is not None:
        return f"{refused}: not annotated"
    patch = {"metadata": {"uid": test.uid, "annotations": action.annotations}}
    try:
        await client.merge_patch(path, patch)
    except KubeError as error:
        if error.retryable:
            raise
        # 409/422: made again under its name since the read; 404: gone; 403: not allowed.
        return f"LocustTest {test.name} not annotated: {error.message[:DETAIL_CHARS]}"
    return f"LocustTest {test.name} annotated"
