"""What the server-rendered front ends' forms (Flask-WTF) share: every POST form carries the
CSRF token, reads an HTML form post only, and refuses the characters the API refuses.

Forms check only shape (lengths, dates, control characters); what is allowed is decided by the
services the views call, exactly as for the API.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from flask import request
from flask_wtf import FlaskForm
from flask_wtf.form import _Auto
from wtforms import PasswordField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, ValidationError

from ..text import FORBIDDEN_CLASS

# The same characters as the API refuses: controls, zero-width, bidi overrides, lone surrogates.
_CONTROL = re.compile(f"[{FORBIDDEN_CLASS}]")


def options(pairs: Iterable[tuple[str, str]]) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


def no_control_chars(_form: Any, field: Any) -> None:
    # PostgreSQL cannot store NUL, and nobody's note needs a bell.
    if isinstance(field.data, str) and _CONTROL.search(field.data):
        raise ValidationError("不能包含控制字符。")


def strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class HtmlForm(FlaskForm):
    """A form read from an HTML form post only. Flask-WTF would also read a JSON body, parsing
    it outside every error handler (a 500 for "[1]"; also inside the error page itself, which
    renders the sign-out form): our pages never post JSON."""

    class Meta(FlaskForm.Meta):
        def wrap_formdata(self, form: Any, formdata: Any) -> Any:
            if request.is_json:
                return None if formdata is _Auto else formdata
            return super().wrap_formdata(form, formdata)


class TokenSignInForm(HtmlForm):
    token = PasswordField("令牌", filters=[strip],
                          validators=[DataRequired("请输入令牌。"), Length(max=200),
                                      no_control_chars])


class SignOutForm(HtmlForm):
    pass
