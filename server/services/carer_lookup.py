"""Which of some user ids are carers of a tenant, and in which branch: the one read behind
every check that a carer may be put on a visit or a device (each caller applies its own
rule: a coordinator only in their branch on the rota, any of the tenant's on a device)."""

from __future__ import annotations

from server.store.hot.steps import Steps


def carer_branches_steps(tenant_id: str, carer_ids: list[str]) -> Steps[dict[str, str | None]]:
    """Carer id -> branch id, for the ids that are carers of the tenant (others are left out)."""
    if not carer_ids:
        return {}
    marks = ", ".join("?" * len(carer_ids))
    rows = yield (
        f"SELECT id, branch_id FROM users WHERE id IN ({marks}) AND tenant_id = ? AND role = 'carer'",
        (*carer_ids, tenant_id),
    )
    return {str(carer_id): branch_id for carer_id, branch_id in rows}
