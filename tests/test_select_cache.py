"""The desk's selects keep their HTML between pages: same output as WTForms', never stale."""

from __future__ import annotations

from wtforms import Form
from wtforms import SelectField as PlainSelectField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]

from flask_supportdesk.forms import SelectField

CHOICES = [SelectChoice("", "Unassigned"), SelectChoice("7", "Ann <admin>"), SelectChoice("8", "Bob & co")]


class Cached(Form):
    assignee = SelectField("Assignee", choices=CHOICES, validate_choice=False)


class Plain(Form):
    assignee = PlainSelectField("Assignee", choices=CHOICES, validate_choice=False)


def _html(form_class: type[Form], selected: str, **kwargs: str) -> str:
    form = form_class(data={"assignee": selected})
    return str(form.assignee(**kwargs))


def test_same_html_as_wtforms_for_every_selection_and_argument() -> None:
    for selected in ("", "7", "8", "gone"):
        for kwargs in ({}, {"id": "sd-main-assignee"}, {"class": "sd-input"}):
            cached = _html(Cached, selected, **kwargs)
            assert cached == _html(Plain, selected, **kwargs)
            # The second rendering comes from the cache and is the same.
            assert _html(Cached, selected, **kwargs) == cached
    assert '<option selected value="8">' in _html(Cached, "8")
    assert "Ann &lt;admin&gt;" in _html(Cached, "")


def test_changed_choices_are_rendered_again() -> None:
    form = Cached(data={"assignee": "7"})
    before = str(form.assignee())
    form.assignee.choices = [*CHOICES, SelectChoice("9", "Cleo")]
    after = str(form.assignee())
    assert "Cleo" not in before and '<option value="9">Cleo</option>' in after


def test_choice_with_its_own_attributes_is_rendered_by_wtforms() -> None:
    form = Cached(data={"assignee": ""})
    form.assignee.choices = [SelectChoice("7", "Ann", render_kw={"disabled": True})]
    plain = Plain(data={"assignee": ""})
    plain.assignee.choices = [SelectChoice("7", "Ann", render_kw={"disabled": True})]
    assert str(form.assignee()) == str(plain.assignee())
    assert "disabled" in str(form.assignee())
