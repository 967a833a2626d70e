"""What every subcommand shares: the bad-input error and the flags for finishing defaults."""

import argparse
import re
from collections.abc import Callable
from enum import StrEnum
from typing import Any, NoReturn, Protocol

from app.core.durations import parse_duration, parse_interval
from app.core.podview import parse_port
from app.core.setting_codecs import SettingError
from app.core.settings import RELATIVE_CHECK_SETTINGS, SETTINGS, FinishSettings, Setting


class CliError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the usage is one --help away)."""

    def error(self, message: str) -> NoReturn:
        """Print ``prog: message`` and exit 2."""
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


class Subparsers(Protocol):
    """The bit of argparse's private subparsers action that commands use."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        """Add one subcommand."""
        ...


def duration(text: str) -> float:
    """Argparse type for durations such as ``45s`` or ``2m``."""
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def positive_duration(text: str) -> float:
    """Argparse type for an interval: a duration above zero (zero would spin)."""
    try:
        return parse_interval(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def port(text: str) -> int:
    """Argparse type for a TCP port, 1-65535."""
    number = parse_port(text)
    if number is None:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a port (1-65535)")
    return number


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def namespace(text: str) -> str:
    """Argparse type for a namespace name: a DNS-1123 label, as Kubernetes requires."""
    if len(text) > 63 or not _DNS_LABEL.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text[:70]!r} is not a namespace name (lower-case letters, digits and '-', "
            "at most 63)"
        )
    return text


def setting_type(setting: Setting) -> Callable[[str], Any]:
    """Argparse type for one finishing setting, through the setting's own codec."""

    def parse(text: str) -> Any:
        try:
            return setting.parse(text)
        except SettingError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return parse


def add_finish_defaults(parser: argparse.ArgumentParser) -> None:
    """Flags for the cluster-wide finishing defaults (overridable per pod by annotations)."""
    for setting in SETTINGS:
        default = setting.default()
        choices = [c.value for c in type(default)] if isinstance(default, StrEnum) else None
        parser.add_argument(
            f"--{setting.option}",
            dest=setting.field,
            type=setting_type(setting),
            default=default,
            metavar="{" + ",".join(choices) + "}" if choices else "DURATION",
            help=help_text(f"{setting.description} (default: {setting.format(default)})"),
        )


def finish_defaults(args: argparse.Namespace) -> FinishSettings:
    """The defaults given by :func:`add_finish_defaults` flags."""
    return FinishSettings(**{setting.field: getattr(args, setting.field) for setting in SETTINGS})


def add_test_arguments(parser: argparse.ArgumentParser) -> None:
    """Which test (``--test``, ``--job`` or ``--pod``), where, and how to reach the cluster."""
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--test", help="the LocustTest's name (its <name>-master Job)")
    target.add_argument("--job", help="a master Job's name")
    target.add_argument("--pod", help="a master pod's name")
    add_cluster_arguments(parser, "the test's namespace")


def add_cluster_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """Which namespace, and how to reach the cluster."""
    parser.add_argument(
        "-n",
        "--namespace",
        type=namespace,
        default=None,
        help=f"{what} (default: the kubeconfig context's, as kubectl)",
    )
    parser.add_argument(
        "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)"
    )
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")


def master_job(args: argparse.Namespace) -> str | None:
    """The master Job named by ``--test`` or ``--job`` (None for ``--pod``).

    locust-k8s-operator names it after the test with dots made dashes; the official operator
    keeps the name as is, so a dotted ``--test`` fits the former only.
    """
    if args.test:
        return f"{args.test.replace('.', '-')}-master"
    return args.job  # type: ignore[no-any-return]


def help_text(text: str) -> str:
    """``text`` as argparse help, which formats it with ``%``: a setting's ``10%`` stays text."""
    return text.replace("%", "%%")


def add_relative_check_flags(parser: argparse.ArgumentParser) -> None:
    """``--check-p95-regression 10%`` and the other relative checks, and ``--strict-baseline``."""
    group = parser.add_argument_group("relative checks (against the baseline)")
    for setting in RELATIVE_CHECK_SETTINGS:
        group.add_argument(
            f"--{setting.option}",
            dest=setting.field,
            type=setting_type(setting),
            default=argparse.SUPPRESS,  # not given: the pod's own (wait), else none
            metavar="LIMIT",
            help=help_text(f"{setting.description}; none: not checked"),
        )
    group.add_argument(
        "--strict-baseline",
        action="store_true",
        help="refuse (exit 2) a baseline whose run differs in users, spawn rate, run time, "
        "Locust version or test; without it such a baseline is flagged, not refused",
    )


def relative_check_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The relative checks the flags gave (``none`` too), by setting field."""
    given = vars(args)
    return {s.field: given[s.field] for s in RELATIVE_CHECK_SETTINGS if s.field in given}
