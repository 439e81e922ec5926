"""The device report CSV never hands a spreadsheet a formula, in any text column."""

from __future__ import annotations

import csv
import io
import uuid

import pytest

from server.services.spreadsheet import FORMULA_STARTS
from tests.security.conftest import World

HOSTILE = ['=HYPERLINK("http://x.example")', "+1+1", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("hostile", HOSTILE)
async def test_every_text_cell_is_neutralised(world: World, hostile: str) -> None:
    node = world.running.node
    tenant = world.agency.tenant_id
    carer = await node.directory.create_user(tenant, world.a.id, hostile, "carer")
    await node.devices.create_device(
        tenant, uuid=str(uuid.uuid4()), name=hostile, carer_ids=[carer], branch_id=world.a.id
    )
    async with world.running.http(world.agency.admin_token) as http:
        answer = await http.get("/api/v1/reports/devices", params={"format": "csv"})
    assert answer.status_code == 200
    rows = list(csv.DictReader(io.StringIO(answer.text, newline="")))
    mine = [r for r in rows if r["device_name"].lstrip("'") == hostile]
    assert mine, "the hostile device is listed"
    for row in mine:
        assert row["device_name"] == "'" + hostile
        assert row["users"] == "'" + hostile
    for row in rows:
        for column, cell in row.items():
            assert not cell.startswith(FORMULA_STARTS), (column, cell)
