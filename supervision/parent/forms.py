"""The parents' forms. Shape only (lengths, ranges, control characters): the services decide
what is allowed, exactly as for the API."""

from __future__ import annotations

from wtforms import DecimalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from ..web.forms import HtmlForm, no_control_chars, options, strip

GRADES = [("0", "学前")] + [(str(g), f"小学{g}年级") for g in range(1, 7)] + [
    ("7", "初一"), ("8", "初二"), ("9", "初三"), ("10", "高一"), ("11", "高二"), ("12", "高三")]
COMPLAINT_CATEGORIES = [("refund", "退费问题"), ("fees", "收费问题"), ("teaching", "教学问题"),
                        ("safety", "安全问题"), ("other", "其他")]


def _text(label: str, max_len: int, *, required: str | None = None) -> TextAreaField:
    validators = ([DataRequired(required)] if required else [Optional()]) + [
        Length(max=max_len, message=f"最多 {max_len} 字。"), no_control_chars]
    return TextAreaField(label, filters=[strip], validators=validators)


class EnrollForm(HtmlForm):
    student_name = StringField("学生姓名", filters=[strip],
                               validators=[DataRequired("请填写学生姓名。"),
                                           Length(max=50, message="最多 50 字。"),
                                           no_control_chars])
    student_grade = SelectField("年级", choices=options(GRADES), validators=[DataRequired()])
    # No upper bound here: the 60-hour cap is the service's to refuse and to explain.
    class_hours = IntegerField("购买课时", validators=[
        DataRequired("请填写课时数。"), NumberRange(min=1, max=100000, message="请填写正整数。")])


class ActionForm(HtmlForm):
    """A button that only needs its CSRF token (确认课消, 模拟付款)."""


class DisputeForm(HtmlForm):
    reason = _text("异议原因", 1000, required="请说明异议原因。")


class RefundForm(HtmlForm):
    amount = DecimalField("退费金额（元，不填即全部可退金额）", places=2,
                          validators=[Optional(), NumberRange(min=0.01, message="金额须大于 0。")])
    reason = _text("退费原因", 1000, required="请说明退费原因。")


class ComplaintForm(HtmlForm):
    category = SelectField("投诉类别", choices=options(COMPLAINT_CATEGORIES),
                           validators=[DataRequired()])
    text = _text("投诉内容", 2000, required="请填写投诉内容。")


class ReviewForm(HtmlForm):
    stars = SelectField("评分", choices=options([(str(n), "★" * n) for n in range(5, 0, -1)]),
                        validators=[DataRequired()])
    text = _text("评价内容", 1000, required="请写几句评价。")
