"""Every environment variable of the finisher's container, named once.

The webhook writes them into the injected container (:mod:`app.core.finisher_spec`), the
finisher and its ``await-ready`` hook read them (:mod:`app.finisher.config`,
:mod:`app.finisher.readiness`), and the settings that travel this way name theirs in
:mod:`app.core.settings`. One module, so that no two of those can drift apart.
"""

from typing import Final

# Settings the pod's annotations and the cluster's defaults decide (their codecs: settings).
ENV_TTL: Final = "LOCUST_FINISHER_TTL"
ENV_WAIT_FOR_SCRAPE: Final = "LOCUST_FINISHER_WAIT_FOR_SCRAPE"
ENV_MAX_WAIT: Final = "LOCUST_FINISHER_MAX_WAIT"
# What the webhook found in the pod.
ENV_EXPORTER_URL: Final = "LOCUST_FINISHER_EXPORTER_URL"
ENV_LOCUST_URL: Final = "LOCUST_FINISHER_LOCUST_URL"
ENV_EXPORTER_SIDECAR: Final = "LOCUST_FINISHER_EXPORTER_SIDECAR"
ENV_MASTER_CONTAINER: Final = "LOCUST_FINISHER_MASTER_CONTAINER"
ENV_EXPORTER_CONTAINER: Final = "LOCUST_FINISHER_EXPORTER_CONTAINER"
# Where the finisher hands Locust's report (the controller's Service).
ENV_REPORT_URL: Final = "LOCUST_FINISHER_REPORT_URL"
# A folder that outlives the container (an emptyDir): what a killed container had learned.
ENV_STATE_DIR: Final = "LOCUST_FINISHER_STATE_DIR"
# Set by hand only: how long to wait for a master to appear.
ENV_MASTER_START_TIMEOUT: Final = "LOCUST_FINISHER_MASTER_START_TIMEOUT"
# The fault campaign's switch (app/finisher/faults.py): ``<phase>:<kind>``.
ENV_FAULT: Final = "LOCUST_FINISHER_FAULT"
# The abstract socket the finisher and its postStart hook meet on (tests set their own).
ENV_READY_SOCKET: Final = "LOCUST_FINISHER_READY_SOCKET"
