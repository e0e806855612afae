"""The services' refusals in Chinese. The services speak English (the API's language); a clerk
reads why in Chinese: the rule codes of RULES.md, then the fields a refusal names. Nothing is
decided here: this only translates what a service already refused."""

from __future__ import annotations

from ..errors import Conflict, DomainError, NotFound

RULES = {
    "SESSION_BEFORE_ENROLLMENT": "有学生的报名在这节课开始后才付款到账：预付费只能用于"
                                 "到账之后的课，本次考勤未记录任何人。",
    "HOURS_EXCEED_SESSION": "课时数超过了这节课的时长所能容纳的课时。",
    "INSTITUTION_NOT_ACTIVE": "机构目前不在正常经营状态（暂停或吊销），不能排课或记录考勤。",
    "INSUFFICIENT_ESCROW": "有学生的监管账户余额不足以支付本次课时费，本次考勤未记录任何人。",
    "SUBJECT_ON_HOLIDAY": "学科类培训不得安排在法定节假日。",
    "SUBJECT_ON_WEEKEND": "学科类培训不得安排在周末。",
    "SUBJECT_ON_ADJUSTED_WORKDAY": "该日为周末调休上班日，学科类培训须由监管部门复核。",
    "SUBJECT_IN_VACATION": "学科类培训不得安排在寒暑假。",
    "ONLINE_SESSION_TOO_LONG": "线上学科类培训每节不得超过规定时长。",
    "LATE_END_ONLINE": "线上培训结束时间晚于规定时间（21:00）。",
    "LATE_END_OFFLINE": "线下培训结束时间晚于规定时间（20:30）。",
    "PRICE_ABOVE_GUIDE": "课时单价高于政府指导价上限。",
    "DISGUISED_SUBJECT": "申报为非学科类的课程疑似开展学科类培训。",
}

FIELDS = {
    "id_number": "身份证号", "name": "姓名", "qualification_cert_no": "教师资格证号",
    "cert_level": "资格证学段", "hired_on": "入职日期", "background_checked_on": "背景审查日期",
    "background_check_status": "背景审查结果", "employment": "用工方式",
    "enrollment_ids": "学生", "session_id": "课次", "class_hours": "课时数",
    "starts_at": "开始时间", "ends_at": "结束时间", "teacher_id": "授课教师",
    "venue_id": "场地", "note": "整改说明", "reason": "理由", "text": "回复内容",
    "address": "地址", "contact_phone": "联系电话",
    "grade_min": "最低年级", "grade_max": "最高年级", "subject": "科目", "category": "类别",
    "mode": "形式", "class_size": "班额", "minutes_per_class_hour": "每课时分钟数",
    "price_per_class_hour_fen": "单价", "left_on": "离职日期",
}

# Phrases of the services' messages, in the order they are tried.
PHRASES = (
    ("has not started yet", "这节课还没有开始，开始后才能记录考勤。"),
    ("the session is cancelled", "这节课已取消，不能记录考勤。"),
    ("already recorded", "这节课已经记录过这些学生的考勤，不能重复记录。"),
    ("not an enrollment of this session", "有学生不是本课程的报名学生。"),
    ("enrollment is", "有学生的报名不在上课中（未付款、已结课或已退费）。"),
    ("listed twice", "同一个学生被勾选了两次。"),
    ("already cancelled", "这节课已经取消过了。"),
    ("they were bought as they are",
     "这门课程已有未结课的报名，授课形式和每课时分钟数不能再修改。"),
    ("the teacher left on", "该教师已离职，离职日期之后不能再为其排课。"),
    ("scheduled sessions after left_on", "该教师在离职日期之后仍有已排的课次，请先取消这些课次。"),
    ("must not be before hired_on", "离职日期不能早于入职日期。"),
    ("must not be after today", "离职日期不能晚于今天。"),
    ("check character is wrong", "身份证号校验位不正确，请核对。"),
    ("17 digits and a check character", "身份证号应为 17 位数字加 1 位校验码（数字或 X）。"),
    ("birth date", "身份证号中的出生日期无效。"),
    ("required", "必须填写。"),
    ("must be after starts_at", "结束时间必须晚于开始时间。"),
    ("must not be below grade_min", "最高年级不能低于最低年级。"),
    ("must be between", "年级须在 0（学龄前）到 12 之间。"),
    ("must be at least", "不能小于规定的最小值。"),
    ("not a teacher of this institution", "不是本机构的教师。"),
    ("not a venue of this institution", "不是本机构的场地。"),
    ("the certificate number is of level", "学段与教师资格证号不一致。"),
    ("say what was rectified", "请说明整改了什么。"),
    ("only expected after rectification was ordered", "监管部门尚未下达整改通知，或已回复过。"),
)


def phrase(message: str) -> str:
    return next((zh for en, zh in PHRASES if en in message), "")


def field_problems(error: DomainError) -> list[str]:
    """Each field a refusal names, with why, in Chinese."""
    out = []
    for name, messages in error.errors.items():
        label = FIELDS.get(name.split(".")[-1], name)
        for message in messages:
            out.append(f"{label}：{phrase(message) or message}")
    return out


def explain(error: DomainError) -> str:
    """One sentence (or a few) a clerk can act on."""
    if isinstance(error, NotFound):
        return "该记录不存在或不属于本机构。"
    if error.rule in RULES:
        head = RULES[error.rule]
    elif isinstance(error, Conflict):
        head = phrase(error.message) or "记录的状态已经变化，请刷新页面后再试。"
    else:
        head = phrase(error.message) or "提交的内容未通过校验，未保存任何内容。"
    details = [p for p in field_problems(error) if not p.endswith(head)]
    return "；".join([head.rstrip("。"), *details]) if details else head
