"""The assistance app's models, one module per area so that each area's code stays apart."""

from .applications import (
    Application,
    ApplicationChannel,
    ApplicationState,
    ApprovalTier,
    Benefit,
    BenefitStatus,
    CreditPenalty,
    InvestigationVisit,
    Recovery,
    Review,
    ReviewKind,
    ReviewState,
    TemporaryKind,
)
from .common import MONTHLY_PROGRAMS, AssistanceQuerySet, Program
from .payments import BankReturn, CycleState, Payment, PaymentCycle, PaymentStatus
from .policy import PolicySet, PolicyVersion
from .supervision import (
    Finding,
    FindingKind,
    FindingState,
    Simulation,
    SimulationState,
    StaffRelative,
)

__all__ = [
    "MONTHLY_PROGRAMS",
    "Application",
    "ApplicationChannel",
    "ApplicationState",
    "ApprovalTier",
    "AssistanceQuerySet",
    "BankReturn",
    "Benefit",
    "BenefitStatus",
    "CreditPenalty",
    "CycleState",
    "Finding",
    "FindingKind",
    "FindingState",
    "InvestigationVisit",
    "Payment",
    "PaymentCycle",
    "PaymentStatus",
    "PolicySet",
    "PolicyVersion",
    "Program",
    "Recovery",
    "Review",
    "ReviewKind",
    "ReviewState",
    "Simulation",
    "SimulationState",
    "StaffRelative",
    "TemporaryKind",
]
