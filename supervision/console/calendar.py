"""日历与校历: statutory holidays and their overrides, school-year vacations (the services of
supervision.calendar)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from .. import calendar as cal
from .. import clock
from ..access.policy import is_citywide_regulator
from ..errors import Forbidden, Invalid, NotFound
from ..web.request import db_session, request_work
from . import bp, queries
from .forms import CalendarDayForm, CalendarDeleteForm, SchoolYearForm
from .signin import console_actor

INVALID_TEXT = {
    "a statutory holiday needs its name (e.g. 春节)": "法定节假日须填写名称（如“春节”）。",
    "must not be before start": "结束日期不能早于开始日期。",
    "must start after the winter vacation ends": "暑假须在寒假结束之后开始。",
    "a school year is named like 2026-2027": "学年名称格式应为 2026-2027。",
}
# The services refuse a district bureau (supervision/access.py); this is how the console says so.
CITY_ONLY_TEXT = "日历与校历由市教育局统一维护，区级监管人员只能查看，不能设定或修改。"


def _month(raw: str | None) -> dt.date:
    try:
        first = dt.date.fromisoformat(f"{raw}-01") if raw else None
    except ValueError:
        first = None
    if first is None or not 2000 <= first.year <= 2100:
        today = clock.today()
        first = today.replace(day=1)
    return first


def _weeks(first: dt.date) -> tuple[list[list[Any]], dt.date, dt.date]:
    """The month as weeks Monday to Sunday (None for days outside it), and its neighbours."""
    next_month = (first + dt.timedelta(days=32)).replace(day=1)
    days = cal.calendar_days(db_session(), first, next_month - dt.timedelta(days=1))
    vacations = cal.vacation_periods(db_session(), first, next_month - dt.timedelta(days=1))
    cells: list[Any] = [None] * first.weekday()
    for info in days:
        vacation = next((p for p in vacations if p.start <= info.date <= p.end), None)
        cells.append((info, vacation))
    cells += [None] * (-len(cells) % 7)
    weeks = [cells[i:i + 7] for i in range(0, len(cells), 7)]
    previous = (first - dt.timedelta(days=1)).replace(day=1)
    return weeks, previous, next_month


def _render(first: dt.date, *, day_form: CalendarDayForm | None = None,
            year_form: SchoolYearForm | None = None, status: int = 200) -> tuple[str, int]:
    actor = console_actor()
    session = db_session()
    weeks, previous, following = _weeks(first)
    years = cal.school_years(session)
    if year_form is None:
        year_form = _year_form(next((y for y in years if y.name == request.args.get("edit")),
                                    None))
    coverage = {year: cal.year_covered(session, year)
                for year in (first.year, first.year + 1)}
    return render_template(
        "console/calendar.html", first=first, weeks=weeks, previous=previous,
        following=following, years=years, year_form=year_form,
        day_form=day_form or CalendarDayForm(formdata=None, date=first),
        delete_form=CalendarDeleteForm(formdata=None),
        overrides=queries.calendar_overrides(session, first.year),
        coverage=coverage, school_year_of=cal.school_year_of,
        can_edit=is_citywide_regulator(actor), city_only_text=CITY_ONLY_TEXT,
        school_year_covered=cal.school_year_covered(session, first),
        today=clock.today()), status


def _year_form(year: cal.SchoolYearInfo | None) -> SchoolYearForm:
    if year is None:
        return SchoolYearForm(formdata=None)
    return SchoolYearForm(formdata=None, name=year.name, winter_start=year.winter_vacation[0],
                          winter_end=year.winter_vacation[1],
                          summer_start=year.summer_vacation[0],
                          summer_end=year.summer_vacation[1])


@bp.get("/calendar")
def calendar_page() -> tuple[str, int]:
    return _render(_month(request.args.get("month")))


def _refused(first: dt.date, **forms: Any) -> tuple[str, int]:
    flash(CITY_ONLY_TEXT, "danger")
    return _render(first, status=403, **forms)


def _invalid(form: Any, exc: Invalid) -> None:
    for name, messages in (exc.errors or {"_": [exc.message]}).items():
        field = getattr(form, name.split(".")[0].replace("_vacation", "_start"), None)
        texts = [INVALID_TEXT.get(m, m) for m in messages]
        if field is None:
            flash("；".join(texts), "danger")
        else:
            field.errors = [*list(field.errors), *texts]


# Each form's service call runs in a savepoint of the request's unit of work: a refusal undoes
# just that, and the page is rendered again from the same session.
@bp.post("/calendar/days")
def calendar_put_day() -> Response | tuple[str, int]:
    form = CalendarDayForm()
    if not form.validate():
        return _render(_month(None), day_form=form, status=422)
    day = form.date.data
    assert day is not None
    try:
        with request_work().savepoint():
            cal.put_override(db_session(), console_actor(), day, kind=form.kind.data,
                             name=form.name.data or None)
    except Forbidden:
        return _refused(day.replace(day=1), day_form=form)
    except Invalid as exc:
        _invalid(form, exc)
        return _render(day.replace(day=1), day_form=form, status=422)
    flash(f"已设定 {day.isoformat()}。", "success")
    return redirect(url_for("console.calendar_page", month=day.strftime("%Y-%m")))


@bp.post("/calendar/days/delete")
def calendar_delete_day() -> Response | tuple[str, int]:
    form = CalendarDeleteForm()
    try:
        day = dt.date.fromisoformat(form.date.data or "")
    except ValueError:
        flash("日期无效。", "danger")
        return _render(_month(None), status=422)
    try:
        with request_work().savepoint():
            cal.delete_override(db_session(), console_actor(), day)
    except Forbidden:
        return _refused(day.replace(day=1))
    except NotFound:
        flash(f"{day.isoformat()} 没有人工设定，无需删除。", "warning")
        return _render(day.replace(day=1), status=404)
    flash(f"已删除 {day.isoformat()} 的人工设定，恢复内置数据。", "success")
    return redirect(url_for("console.calendar_page", month=day.strftime("%Y-%m")))


@bp.post("/calendar/school-years")
def calendar_put_school_year() -> Response | tuple[str, int]:
    form = SchoolYearForm()
    if not form.validate():
        return _render(_month(None), year_form=form, status=422)
    try:
        with request_work().savepoint():
            cal.put_school_year(db_session(), console_actor(), form.name.data or "",
                                winter=(form.winter_start.data, form.winter_end.data),
                                summer=(form.summer_start.data, form.summer_end.data))
    except Forbidden:
        return _refused(_month(None), year_form=form)
    except Invalid as exc:
        _invalid(form, exc)
        return _render(_month(None), year_form=form, status=422)
    flash(f"已保存 {form.name.data} 学年校历。", "success")
    return redirect(url_for("console.calendar_page", month=request.form.get("month") or None))
