"""``python -m devcluster.clean`` (``make clean-cluster``): remove what killed runs left behind.

A test run that is killed cannot stop its cluster; the next cluster start cleans up after
it anyway, and this does the same on demand: processes, network namespaces and links,
mount points and the cluster's directory, for every cluster whose owning process is gone.
"""

from devcluster.cluster import clean_abandoned_clusters


def main() -> None:
    """Clean up, and say so."""
    removed = clean_abandoned_clusters()
    print(f"devcluster: removed {removed} abandoned cluster(s)")


if __name__ == "__main__":
    main()
