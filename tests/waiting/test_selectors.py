from app.waiting.selectors import label_selector, owned_by


def test_a_selector_becomes_the_query_the_api_server_reads() -> None:
    selector = {
        "matchLabels": {"batch.kubernetes.io/controller-uid": "u1"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["a", "b"]},
            {"key": "canary", "operator": "NotIn", "values": ["true"]},
            {"key": "team", "operator": "Exists"},
            {"key": "skip", "operator": "DoesNotExist"},
        ],
    }
    assert label_selector(selector) == (
        "batch.kubernetes.io/controller-uid=u1,tier in (a,b),canary notin (true),team,!skip"
    )


def test_only_the_controlling_owner_counts() -> None:
    def pod(*refs: dict[str, object]) -> dict[str, object]:
        return {"metadata": {"ownerReferences": list(refs)}}

    assert owned_by(pod({"uid": "u1", "controller": True}), "u1")
    assert not owned_by(pod({"uid": "u1"}), "u1")
    assert not owned_by(pod({"uid": "u2", "controller": True}), "u1")
    assert not owned_by({"metadata": {}}, "u1")
