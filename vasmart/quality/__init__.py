"""Data quality for auditors: the nightly gate (Great Expectations suites derived from the data contracts
and the marts' business expectations), reconciliation, lineage and the front page under
`$VASMART_HOME/reports/`."""

from vasmart.quality.guard import guard_publish
from vasmart.quality.run import QualityError, QualityGateStopped, QualityRun, gate, run_gate

__all__ = ["QualityError", "QualityGateStopped", "QualityRun", "gate", "guard_publish", "run_gate"]
