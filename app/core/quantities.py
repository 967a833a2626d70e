"""Kubernetes resource quantities: read exactly, added, compared and written back.

The webhook adds the finisher's requests to a pod's own budget (pod-level resources) and
fits them into a namespace's LimitRange and ResourceQuota, so it does sums the API server
will check again; exact fractions keep "510m" from becoming "0.51000001".
"""

import functools
import re
from fractions import Fraction

# Kubernetes' quantity grammar, without signs (a negative request is refused anyway) and with
# short exponents, so reading an untrusted value stays cheap.
QUANTITY = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d{1,2})?")
_SUFFIXES = {
    "": Fraction(1),
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    **{suffix: Fraction(1000) ** power for power, suffix in enumerate("kMGTPE", 1)},
    **{suffix + "i": Fraction(1024) ** power for power, suffix in enumerate("KMGTPE", 1)},
}
_BINARY = [(suffix, Fraction(1024) ** power) for power, suffix in ((3, "Gi"), (2, "Mi"), (1, "Ki"))]


def parse_quantity(value: object) -> Fraction | None:
    """The exact amount ``value`` stands for; None when it is not a quantity we read."""
    text = str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
    if not isinstance(text, str) or len(text) > 64:
        return None
    return _parse_text(text)


# Every master pod brings the same few quantities (the finisher's own, its LimitRanges'),
# and making a Fraction from text costs more than the rest of reading one; what a cache of
# 256 strings of at most 64 characters holds stays small whatever the pods write.
@functools.lru_cache(maxsize=256)
def _parse_text(text: str) -> Fraction | None:
    found = QUANTITY.fullmatch(text)
    if found is None:
        return None
    number, suffix = found.group(1), found.group(2) or ""
    if suffix[:1] in ("e", "E"):
        return Fraction(number) * Fraction(10) ** int(suffix[1:])
    return Fraction(number) * _SUFFIXES[suffix]


@functools.lru_cache(maxsize=256)
def format_quantity(resource: str, amount: Fraction) -> str:
    """``amount`` as people write it: millicores, the largest exact binary unit, or units."""
    if resource == "cpu" and amount.denominator != 1:
        millicores = amount * 1000
        return f"{-(-millicores.numerator // millicores.denominator)}m"  # rounded up, as kubelet
    if amount.denominator != 1:
        amount = Fraction(-(-amount.numerator // amount.denominator))
    for suffix, unit in _BINARY if resource != "cpu" and amount else ():
        if amount % unit == 0:
            return f"{amount // unit}{suffix}"
    return str(amount.numerator)
