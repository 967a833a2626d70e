"""The common JUnit XML layout (Jenkins' "junit-10" schema) as checks, without an XSD engine.

CI test reporters (Jenkins, GitLab, GitHub actions that publish test results) read this
layout; the schema fixes element names, their order, required and known attributes, and the
time format. Beyond the schema, the counts on each suite and on the root must add up.
:func:`read_junit` then reads the file with junitparser, the parser CI test reporters use, so
tests assert what a reporter would show.
"""

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from junitparser import JUnitXml, TestCase, TestSuite

# Attributes each element may carry (required ones first, split by "|").
_ATTRIBUTES = {
    "testsuites": ("", "name time tests failures disabled errors"),
    "testsuite": (
        "name tests",
        "failures errors time disabled skipped timestamp hostname id package",
    ),
    "properties": ("", ""),
    "property": ("name value", ""),
    "testcase": ("name", "assertions time classname status"),
    "skipped": ("", "message"),
    "error": ("", "message type"),
    "failure": ("", "message type"),
    "system-out": ("", ""),
    "system-err": ("", ""),
}
# Children in schema order, with how many of each: "?" at most one, "*" any number.
_CHILDREN = {
    "testsuites": [("testsuite", "*")],
    "testsuite": [("properties", "?"), ("testcase", "*"), ("system-out", "?"), ("system-err", "?")],
    "properties": [("property", "*")],
    "testcase": [
        ("skipped", "?"),
        ("error", "*"),
        ("failure", "*"),
        ("system-out", "*"),
        ("system-err", "*"),
    ],
}
_TIME = re.compile(r"\d+(\.\d{1,3})?")
_COUNT = re.compile(r"\d+")


def _check_element(element: ET.Element, where: str) -> None:
    required, optional = (set(names.split()) for names in _ATTRIBUTES[element.tag])
    missing = required - set(element.attrib)
    assert not missing, f"{where}: missing attributes {sorted(missing)}"
    unknown = set(element.attrib) - required - optional
    assert not unknown, f"{where}: attributes the schema does not know: {sorted(unknown)}"
    if "time" in element.attrib:
        assert _TIME.fullmatch(element.attrib["time"]), f"{where}: time {element.attrib['time']}"
    for count in ("tests", "failures", "errors", "skipped", "disabled"):
        if count in element.attrib:
            assert _COUNT.fullmatch(element.attrib[count]), f"{where}: {count} is not a count"
    allowed = _CHILDREN.get(element.tag, [])
    order = [tag for tag, _ in allowed]
    position = 0
    for child in element:
        assert child.tag in order, f"{where}: <{child.tag}> is not allowed in <{element.tag}>"
        index = order.index(child.tag)
        assert index >= position, f"{where}: <{child.tag}> is out of the schema's order"
        position = index
        _check_element(child, f"{where}/{child.tag}")
    for tag, how_many in allowed:
        found = len(element.findall(tag))
        assert how_many == "*" or found <= 1, f"{where}: {found} <{tag}>, at most one allowed"
    if element.tag not in ("failure", "error", "skipped", "system-out", "system-err"):
        assert not (element.text or "").strip(), f"{where}: text where the schema has none"


def _suite_counts(suite: ET.Element) -> dict[str, int]:
    cases = suite.findall("testcase")
    counted = {
        "tests": len(cases),
        "failures": sum(1 for case in cases if case.find("failure") is not None),
        "errors": sum(1 for case in cases if case.find("error") is not None),
        "skipped": sum(1 for case in cases if case.find("skipped") is not None),
    }
    name = suite.get("name")
    for key, value in counted.items():
        assert int(suite.get(key, "0")) == value, f"suite {name}: {key} says {suite.get(key)}"
    return counted


def validate_junit(text: str) -> ET.Element:
    """The parsed document; AssertionError saying what breaks the layout or the counts."""
    root = ET.fromstring(text)
    assert root.tag in ("testsuites", "testsuite"), f"root <{root.tag}>"
    _check_element(root, root.tag)
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for suite in suites:
        counted = _suite_counts(suite)
        for key in totals:
            totals[key] += counted[key]
    if root.tag == "testsuites":
        for key, value in totals.items():
            if key in root.attrib:
                assert int(root.attrib[key]) == value, f"testsuites: {key} says {root.get(key)}"
    return root


@dataclass(frozen=True)
class Report:
    """A JUnit file as a CI test reporter reads it (junitparser, as dorny/test-reporter does)."""

    suite: TestSuite
    cases: dict[str, TestCase]

    def outcome(self, name: str) -> str:
        """``passed``, or the kind of the case's result: ``failure``, ``skipped``, ``error``."""
        case = self.cases[name]
        if case.is_passed:
            return "passed"
        [result] = case.result
        return type(result).__name__.lower()

    def message(self, name: str) -> str:
        """The message of the case's one result."""
        [result] = self.cases[name].result
        return str(result.message)

    def failing(self) -> list[str]:
        """The cases a reporter shows as failed (a failure or an error)."""
        return [name for name in self.cases if self.outcome(name) in ("failure", "error")]

    @property
    def output(self) -> str:
        """The suite's ``<system-out>``."""
        return self.suite._elem.findtext("system-out") or ""

    @property
    def properties(self) -> dict[str, str]:
        """The suite's ``<properties>``, by name."""
        return {p.name: p.value for p in self.suite.properties()}  # type: ignore[no-untyped-call]


def read_junit(text: str) -> Report:
    """``text`` checked against the layout, then read by a real JUnit consumer's parser."""
    validate_junit(text)
    [suite] = list(JUnitXml.fromstring(text))
    assert isinstance(suite, TestSuite)
    cases = {case.name: case for case in suite}
    assert len(cases) == suite.tests, "testcase names are not unique"
    return Report(suite, cases)
