"""The console's forms (Flask-WTF): each POST form carries the CSRF token.

Forms check only shape (lengths, dates, control characters); what is allowed is decided by the
services the views call, exactly as for the API.
"""

from __future__ import annotations

from wtforms import (
    BooleanField,
    DateField,
    Form,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from ..web.forms import HtmlForm, SignOutForm, TokenSignInForm, no_control_chars, options, strip

__all__ = ["HtmlForm", "SignOutForm", "no_control_chars", "options", "strip"]

FLAG_ACTIONS = ("acknowledge", "order_rectification", "resolve", "dismiss", "reopen")


class SignInForm(TokenSignInForm):
    token = PasswordField("API 令牌", filters=[strip],
                          validators=[DataRequired("请输入令牌。"), Length(max=200),
                                      no_control_chars])


class FlagActionForm(HtmlForm):
    action = SelectField("操作", choices=options((a, a) for a in FLAG_ACTIONS),
                         validators=[DataRequired()])
    note = TextAreaField("处理意见", filters=[strip],
                         validators=[Optional(), Length(max=2000, message="最多 2000 字。"),
                                     no_control_chars])
    due_on = DateField("整改期限", validators=[Optional()])


class CalendarDayForm(HtmlForm):
    date = DateField("日期", validators=[DataRequired("请填写日期。")])
    kind = SelectField("类型", choices=options([("holiday", "法定节假日（休息）"),
                                                ("workday", "工作日（含调休上班）")]),
                       validators=[DataRequired()])
    name = StringField("名称", filters=[strip],
                       validators=[Optional(), Length(max=100), no_control_chars])


class CalendarDeleteForm(HtmlForm):
    date = HiddenField("日期", validators=[DataRequired()])


class SchoolYearForm(HtmlForm):
    name = StringField("学年", filters=[strip],
                       validators=[DataRequired("请填写学年。"), Length(max=9), no_control_chars])
    winter_start = DateField("寒假开始", validators=[DataRequired("请填写日期。")])
    winter_end = DateField("寒假结束", validators=[DataRequired("请填写日期。")])
    summer_start = DateField("暑假开始", validators=[DataRequired("请填写日期。")])
    summer_end = DateField("暑假结束", validators=[DataRequired("请填写日期。")])


class FlagFilterForm(Form):
    """The queue's filters, read from the query string (a GET: no CSRF, nothing changes)."""

    district = SelectField("辖区", choices=[], validate_choice=False, default="")
    severity = SelectField("严重程度", choices=[], validate_choice=False, default="")
    rule = SelectField("规则", choices=[], validate_choice=False, default="")
    status = SelectField("状态", choices=[], validate_choice=False, default="")
    overdue = BooleanField("仅看逾期")
    sort = SelectField("排序", choices=[], validate_choice=False, default="severity")


class ComplaintCloseForm(HtmlForm):
    outcome = SelectField("处理结果", choices=options([
        ("upheld", "投诉成立"), ("rejected", "投诉不成立"), ("mediated", "调解解决")]),
        validators=[DataRequired("请选择处理结果。")])
    note = TextAreaField("处理意见", filters=[strip],
                         validators=[Optional(), Length(max=2000, message="最多 2000 字。"),
                                     no_control_chars])


class TipActionForm(HtmlForm):
    action = SelectField("操作", choices=options([("investigate", "开始核查"), ("close", "办结")]),
                         validators=[DataRequired()])
    outcome = SelectField("核查结论", choices=options([
        ("", "—"), ("confirmed", "情况属实"), ("unfounded", "查无实据")]),
        validators=[Optional()])
    note = TextAreaField("处理意见", filters=[strip],
                         validators=[Optional(), Length(max=2000, message="最多 2000 字。"),
                                     no_control_chars])
    # The registered institution the tip turned out to concern, if any (its number).
    institution_id = IntegerField("涉及机构编号", validators=[Optional()])
