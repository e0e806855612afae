"""The institutions' forms. Shape only (lengths, dates, control characters): the services
decide what is allowed, exactly as for the API."""

from __future__ import annotations

from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    DecimalField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from ..web.forms import HtmlForm, no_control_chars, options, strip
from . import labels


class ActionForm(HtmlForm):
    """A button that only needs its CSRF token (取消课次)."""


class AttendanceForm(HtmlForm):
    # The ticked enrollment ids come as a list of checkboxes (request.form.getlist).
    class_hours = IntegerField("本节课时（不填即按课时长计算）", validators=[
        Optional(), NumberRange(min=1, max=1000, message="请填写正整数。")])


class SessionForm(HtmlForm):
    course_id = SelectField("课程", coerce=int, validators=[DataRequired("请选择课程。")])
    # Not limited to the options shown (a teacher who left is not offered): the service
    # decides, and refuses another institution's teacher or one who left, in Chinese.
    teacher_id = SelectField("授课教师", coerce=int, validate_choice=False,
                             validators=[DataRequired("请选择教师。")])
    starts_at = DateTimeLocalField("开始时间", format="%Y-%m-%dT%H:%M",
                                   validators=[DataRequired("请填写开始时间。")])
    ends_at = DateTimeLocalField("结束时间", format="%Y-%m-%dT%H:%M",
                                 validators=[DataRequired("请填写结束时间。")])
    # Set by the page after it has shown the timing warnings once.
    confirmed = BooleanField("我已知晓上述提示，仍然保存")


class CourseForm(HtmlForm):
    name = StringField("课程名称", filters=[strip], validators=[
        DataRequired("请填写课程名称。"), Length(max=200, message="最多 200 字。"),
        no_control_chars])
    subject = SelectField("科目", validators=[DataRequired("请选择科目。")])
    category = SelectField("类别", choices=options(labels.CATEGORY.items()),
                           validators=[DataRequired()])
    # Grade 0 is preschool: InputRequired, since DataRequired would refuse a 0.
    grade_min = IntegerField("最低年级（0 为学龄前）", validators=[
        InputRequired("请填写最低年级。"), NumberRange(min=-1000, max=1000)])
    grade_max = IntegerField("最高年级", validators=[
        InputRequired("请填写最高年级。"), NumberRange(min=-1000, max=1000)])
    mode = SelectField("形式", choices=options(labels.MODE.items()), validators=[DataRequired()])
    class_size = IntegerField("班额", validators=[
        DataRequired("请填写班额。"), NumberRange(min=1, max=100000, message="请填写正整数。")])
    minutes_per_class_hour = IntegerField("每课时分钟数（不填按默认）", validators=[
        Optional(), NumberRange(min=1, max=1000, message="请填写正整数。")])
    # In yuan on the page, at most two decimals; the view converts to integer fen.
    price_yuan = DecimalField("每课时单价（元）", places=2, validators=[
        InputRequired("请填写单价。"), NumberRange(min=0, max=1000000, message="单价不能为负。")])
    venue_id = SelectField("教学场地", coerce=int, validators=[Optional()])
    # Set by the page after it has shown the price and category warnings once.
    confirmed = BooleanField("我已知晓上述提示，仍然保存")


class TeacherForm(HtmlForm):
    name = StringField("姓名", filters=[strip], validators=[
        DataRequired("请填写姓名。"), Length(max=100, message="最多 100 字。"), no_control_chars])
    id_number = StringField("身份证号", filters=[strip], validators=[
        Optional(), Length(max=18, message="身份证号为 18 位。"), no_control_chars])
    qualification_cert_no = StringField("教师资格证号", filters=[strip], validators=[
        Optional(), Length(max=17, message="资格证号为 17 位。"), no_control_chars])
    cert_subject = StringField("任教学科", filters=[strip], validators=[
        Optional(), Length(max=32), no_control_chars])
    is_inservice_school_teacher = BooleanField("在职中小学教师")
    background_check_status = SelectField(
        "背景审查", choices=options(labels.BACKGROUND.items()), validators=[DataRequired()])
    background_checked_on = DateField("审查日期", validators=[Optional()])
    employment = SelectField("用工方式", choices=options(labels.EMPLOYMENT.items()),
                             validators=[DataRequired()])
    hired_on = DateField("入职日期", validators=[DataRequired("请填写入职日期。")])


class LeaveForm(HtmlForm):
    """离职: the day the teacher left (the page fills in today)."""

    left_on = DateField("离职日期", validators=[DataRequired("请填写离职日期。")])


class RespondForm(HtmlForm):
    note = TextAreaField("整改说明", filters=[strip], validators=[
        DataRequired("请说明整改情况。"), Length(max=2000, message="最多 2000 字。"),
        no_control_chars])


class ReasonForm(HtmlForm):
    reason = TextAreaField("拒绝理由", filters=[strip], validators=[
        DataRequired("请填写拒绝理由。"), Length(max=1000, message="最多 1000 字。"),
        no_control_chars])


class ContactForm(HtmlForm):
    address = StringField("地址", filters=[strip], validators=[
        DataRequired("请填写地址。"), Length(max=300, message="最多 300 字。"), no_control_chars])
    contact_phone = StringField("联系电话", filters=[strip], validators=[
        Optional(), Length(max=32, message="最多 32 位。"), no_control_chars])


class VenueForm(HtmlForm):
    address = StringField("场地地址", filters=[strip], validators=[
        DataRequired("请填写场地地址。"), Length(max=300, message="最多 300 字。"),
        no_control_chars])
    capacity = IntegerField("容纳人数", validators=[
        DataRequired("请填写容纳人数。"), NumberRange(min=1, max=100000, message="请填写正整数。")])


class ImportForm(HtmlForm):
    kind = SelectField("导入内容", choices=options(labels.IMPORT_KIND.items()),
                       validators=[DataRequired()])
    file = FileField("文件（.xlsx 或 .csv）", validators=[FileRequired("请选择要导入的文件。")])
