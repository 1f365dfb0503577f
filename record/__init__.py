"""What a run records, as one contract both sides import: `scenarios` writes it, `report`
reads it, and this package imports neither.

- `record.contract`: the typed shape of `results.json` and its schema version;
- `record.names`: the servers a results file names (our transports, the reference peers);
- `record.files`: writing it (validated) and reading it (refused when its version is unknown);
- `record.run`: a recorded run with its histograms, timelines and side files.
"""

from record.contract import (
    READABLE_VERSIONS,
    SCHEMA,
    SCHEMA_VERSION,
    STEP_KEYS,
    BrowserLatency,
    BytesPerMessage,
    Cluster,
    ConnectionLimit,
    CrossOrigin,
    CrossOriginOutcome,
    GitState,
    IdleStream,
    LatencySummary,
    LockState,
    Machine,
    PinningRecord,
    ProfileRecord,
    Results,
    Settings,
    Soak,
    Software,
    StepResult,
    Storm,
    Utilisation,
    describe_lock,
)
from record.files import (
    SchemaViolation,
    UnknownSchema,
    find_run,
    json_schema,
    read,
    validate,
    validate_step,
    write,
)
from record.names import PEERS, TRANSPORTS, WS_PEERS
from record.run import BreakdownRow, RecordedRun, Timeline, load

__all__ = [
    "PEERS",
    "READABLE_VERSIONS",
    "SCHEMA",
    "SCHEMA_VERSION",
    "STEP_KEYS",
    "TRANSPORTS",
    "WS_PEERS",
    "BreakdownRow",
    "BrowserLatency",
    "BytesPerMessage",
    "Cluster",
    "ConnectionLimit",
    "CrossOrigin",
    "CrossOriginOutcome",
    "GitState",
    "IdleStream",
    "LatencySummary",
    "LockState",
    "Machine",
    "PinningRecord",
    "ProfileRecord",
    "RecordedRun",
    "Results",
    "SchemaViolation",
    "Settings",
    "Soak",
    "Software",
    "StepResult",
    "Storm",
    "Timeline",
    "UnknownSchema",
    "Utilisation",
    "describe_lock",
    "find_run",
    "json_schema",
    "load",
    "read",
    "validate",
    "validate_step",
    "write",
]
