"""How the money reads to a parent: each bucket of API.md §4 in plain words, each movement as
what happened, each status as a parent would say it."""

from __future__ import annotations

# (field of EscrowStatus, name, what it means for the family)
BUCKETS = (
    ("held_fen", "托管中", "已付款、还没上课的钱，存在监管账户里，机构拿不到。"),
    ("pending_confirmation_fen", "待您确认",
     "机构已记录上课消课，等您确认；15 个工作日不答复视为确认。有异议时钱继续留在监管账户。"),
    ("confirmed_fen", "已确认待拨付", "您（或到期自动）确认了的课时费，下一批次拨付给机构。"),
    ("released_fen", "已拨付机构", "监管账户已按上课进度付给机构的钱。"),
    ("refund_pending_fen", "退费办理中", "已批准退还给您、正在由托管机构原路退回的钱。"),
    ("refunded_fen", "已退还", "已原路退回给您的钱。"),
)
ENROLLMENT_STATUS = {"awaiting_payment": "待付款", "active": "上课中", "completed": "已结课",
                     "refunded": "已退费"}
ENROLLMENT_BADGE = {"awaiting_payment": "badge-warn", "active": "badge-ok",
                    "completed": "badge-info", "refunded": "badge-info"}
CONSUMPTION_STATUS = {"pending_confirmation": "待您确认", "confirmed": "已确认",
                      "disputed": "有异议（已报监管部门）"}
CONFIRMED_BY = {"parent": "您确认", "auto": "到期自动确认"}
REFUND_STATUS = {"requested": "已申请，等待机构处理", "approved": "已批准",
                 "instructed": "已批准，托管机构退款中", "completed": "已退还",
                 "rejected": "机构拒绝（已报监管部门，可由监管部门裁定）"}
MOVEMENT = {
    "deposit": "付款到账，存入监管账户",
    "consumption": "上课消课",
    "confirmation": "确认课消",
    "release": "拨付给机构",
    "refund_approval": "退费获批，转入退费办理",
    "refund": "退费已退还",
}
INSTITUTION_STATUS = {"active": "正常", "suspended": "暂停", "revoked": "吊销"}


def label(mapping: dict[str, str], code: str | None) -> str:
    return "—" if code is None else mapping.get(code, code)
