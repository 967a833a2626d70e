"""The installation's own ConfigMap, as the controller reads it at run time.

The webhook gets the cluster configuration at start; the controller reads the parts only it
uses (history's keep and expiry, the cluster's notification Secret) from the same ConfigMap
while it runs, so a change needs no restart. One reader, so both read it alike.
"""

import yaml

from app.core import names, podview
from app.core.cluster_config import InjectionConfig, parse_cluster_config
from app.kube.client import KubeClient, path_of


async def read_installation_config(
    client: KubeClient, namespace: str, name: str
) -> InjectionConfig:
    """The cluster configuration in ConfigMap ``namespace/name`` (key ``config.yaml``).

    Raises:
        KubeError: the ConfigMap could not be read.
        ConfigError, yaml.YAMLError: it holds no usable configuration.
    """
    found = await client.get(path_of("configmaps", namespace, name))
    text = podview.text(podview.mapping(found, "data"), names.CONFIG_MAP_KEY) or ""
    return parse_cluster_config(yaml.safe_load(text), InjectionConfig())


def first_line(error: Exception) -> str:
    """An error's first line, for a one-line log (a YAML error runs to several)."""
    return (str(error).splitlines() or [type(error).__name__])[0]
