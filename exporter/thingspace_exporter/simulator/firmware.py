"""Firmware upgrade paths per account (``GET /api/fota/v3/firmware/{acc}``), pure.

Paths come from fleet.MODELS' firmware tables (oldest -> newest): from every
older firmware of a model to its newest, plus, seeded per account, some
one-step paths between intermediate versions. A model offers paths for one or
both protocols (``MODEL_PROTOCOLS``); one model per account (seeded, sometimes
none) offers no paths at all, as if its newest build were not certified yet.
A model with both protocols lists the same from/to twice, once per protocol,
so ``protocol=all`` can repeat a (make, model, from, to).

Protocol filter: absent, empty or ``all`` lists every path; ``OMD-DM`` (also
spelled ``OMADM``/``OMA-DM``) the device-management ones; ``LWM2M`` the LWM2M
ones; any other value matches nothing (an empty list, like the device list).
"""

from __future__ import annotations

import calendar
import hashlib
import random
from typing import NamedTuple

from .fleet import MODELS, rfc3339

# Which protocols each model's packages are published for.
MODEL_PROTOCOLS = {
    "NRF9160": ("LWM2M",),
    "BG96": ("LWM2M", "OMD-DM"),
    "BG96-NA": ("OMD-DM",),
    "GM01Q": ("LWM2M",),
    "ME910C1": ("LWM2M", "OMD-DM"),
    "HL7800": ("LWM2M",),
}
_ALIASES = {"OMADM": "OMD-DM", "OMA-DM": "OMD-DM"}
_EPOCH = calendar.timegm((2020, 6, 1, 0, 0, 0, 0, 0, 0))  # launch dates hang off it
_NOTES = (
    "",
    "",
    "Security fixes and modem stability improvements",
    "Improves PSM power consumption; fixes LwM2M re-registration after network loss",
)


class Path(NamedTuple):
    make: str
    model: str
    firmware_from: str
    firmware_to: str
    protocol: str
    name: str
    launch_date: str
    release_note: str

    def record(self) -> dict:
        return {
            "firmwareName": self.name,
            "firmwareFrom": self.firmware_from,
            "firmwareTo": self.firmware_to,
            "launchDate": self.launch_date,
            "releaseNote": self.release_note,
            "model": self.model,
            "make": self.make,
            "protocol": self.protocol,
        }


def protocol_filter(value: str | None) -> str | None:
    """None means every protocol."""
    if value is None or value.strip() == "" or value.strip().lower() == "all":
        return None
    wanted = value.strip().upper()
    return _ALIASES.get(wanted, wanted)


def catalog(seed: int, account: str) -> tuple[Path, ...]:
    """Every upgrade path the account may use, in the order the endpoint lists them."""
    r = random.Random(hashlib.blake2b(f"{seed}:{account}:firmware".encode(), digest_size=8).digest())
    skipped = r.randrange(len(MODELS) + 2)  # >= len(MODELS): every model has paths
    paths: list[Path] = []
    for m, (make, model, _share, table) in enumerate(MODELS):
        versions = [fw for fw, _ in table]
        steps = [(i, len(versions) - 1) for i in range(len(versions) - 1)]
        steps += [(i, i + 1) for i in range(len(versions) - 2) if r.random() < 0.5]
        if m == skipped:
            continue
        for protocol in MODEL_PROTOCOLS.get(model, ("LWM2M",)):
            # Device-management packages exist only for the last step.
            for i, j in steps if protocol == "LWM2M" else [(len(versions) - 2, len(versions) - 1)]:
                launched = _launch(seed, model, versions[j], j)
                name = f"{make.replace(' ', '')}_{model}_{versions[i]}_{versions[j]}"
                paths.append(
                    Path(
                        make,
                        model,
                        versions[i],
                        versions[j],
                        protocol,
                        name if protocol == "LWM2M" else name + "_DM",
                        launched,
                        r.choice(_NOTES),
                    )
                )
    return tuple(paths)


def _launch(seed: int, model: str, version: str, rank: int) -> str:
    """A version's launch date: the same on every path to it, later for newer versions."""
    h = int.from_bytes(hashlib.blake2b(f"{seed}:{model}:{version}".encode(), digest_size=8).digest(), "big")
    return rfc3339(_EPOCH + 86400 * (90 * rank + h % 60) + h % 86400, h % 10**9, 3)


def select(paths: tuple[Path, ...], protocol: str | None) -> list[Path]:
    wanted = protocol_filter(protocol)
    return [p for p in paths if wanted is None or p.protocol == wanted]
