"""collectors.licenses: totals bought and used."""

from __future__ import annotations

import pytest
from api_fixtures import FOTA
from thingspace_exporter.collection.snapshots import Snapshot
from thingspace_exporter.collectors import Tools
from thingspace_exporter.collectors.licenses import LicensesCollector
from thingspace_exporter.thingspace.errors import ApiError
from ts_builders import ACCOUNT


def test_totals(rsps, client, settings_factory, log, stop):
    rsps.get(
        f"{FOTA}/subscriptions/{ACCOUNT}",
        json={
            "accountName": ACCOUNT,
            "purchaseType": "TS-HFOTA-EVNT,TS-HFOTA-MRC",
            "licenseCount": 5000,
            "licenseUsedCount": "4200",
            "updateTime": "2026-11-28 10:00:00.000 +0000 UTC",
        },
    )
    data = LicensesCollector(Tools(client, settings_factory(), stop, log, client.metrics)).collect(ACCOUNT, 1e18, {})
    assert (data.total, data.used) == (5000, 4200)
    fams = {f.name: f for f in LicensesCollector.families([Snapshot(ACCOUNT, data, 1.0, "licenses")])}
    assert fams["thingspace_licenses"].samples[0].value == 5000
    assert fams["thingspace_licenses_used"].samples[0].labels == {"account": ACCOUNT}


@pytest.mark.parametrize(
    "doc",
    [
        {"licenseCount": -1, "licenseUsedCount": 0},
        {"licenseCount": 1.5, "licenseUsedCount": 0},
        {"licenseCount": "many", "licenseUsedCount": 0},
        {"licenseUsedCount": 3},
        {"licenseCount": True, "licenseUsedCount": 0},
    ],
)
def test_a_count_that_is_not_one_is_a_bad_page(rsps, client, settings_factory, log, stop, doc):
    rsps.get(f"{FOTA}/subscriptions/{ACCOUNT}", json=doc)
    with pytest.raises(ApiError) as e:
        LicensesCollector(Tools(client, settings_factory(), stop, log, client.metrics)).collect(ACCOUNT, 1e18, {})
    assert (e.value.reason, e.value.endpoint) == ("bad_page", "subscriptions")
