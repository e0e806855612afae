"""Complaints, tip-offs and reviews (API.md §10-11, RULES.md §10): the parents' and the
public's front door. Every service takes the session and the caller first, flushes, never
commits; the API, the parents' and public pages and the demo call the same functions."""

from .complaints import (
    close_complaint,
    complaints_query,
    deadlines,
    get_complaint,
    respond_to_complaint,
    submit_complaint,
)
from .reviews import reviews_query, submit_review
from .tips import PUBLIC, TipStatus, act_on_tip, get_tip, submit_tip, tip_status, tips_query

__all__ = [
    "PUBLIC",
    "TipStatus",
    "act_on_tip",
    "close_complaint",
    "complaints_query",
    "deadlines",
    "get_complaint",
    "get_tip",
    "respond_to_complaint",
    "reviews_query",
    "submit_complaint",
    "submit_review",
    "submit_tip",
    "tip_status",
    "tips_query",
]
