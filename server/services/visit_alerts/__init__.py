"""Late- and missed-visit alerts: no check-in by a visit's start plus the tenant's
``late_grace_s``; each says whether the carers' phones hold the visit and whether the
carers saw its latest change, and a check-in resolves it."""
