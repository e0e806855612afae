"""Risk early warning (风险预警, API.md §12, RULES.md §11): each institution with money in
custody gets a daily score (0-100) explained factor by factor; `high` opens RISK_HIGH."""

from .queries import (
    RiskView,
    institution_risk,
    ranked_query,
    score_view,
)
from .runs import score_institutions
from .scoring import FACTOR_CODES, LEVELS, RiskPolicy

__all__ = ["FACTOR_CODES", "LEVELS", "RiskPolicy", "RiskView", "institution_risk",
           "ranked_query", "score_institutions", "score_view"]
