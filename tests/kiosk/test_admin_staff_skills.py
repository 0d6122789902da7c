"""Technician skills on /admin/staff and in the foreman's console: the edit
form's Skills checkboxes (in the reader's language) save the skills beside
the inspections, show them checked again, and the foreman's assign dialog
names them."""

from __future__ import annotations

import json
import re
from typing import Any

from shared.persistence.models import StaffUser
from shared.services.core import Core
from tests.conftest import Shop
from tests.kiosk.test_admin_staff import _form_fields, _manager
from tests.kiosk.test_kiosk_api import foreman_session


def qualifications_of(core: Core, user_id: int) -> list[str]:
    with core.db.read() as session:
        user = session.get(StaffUser, user_id)
        assert user is not None
        return list(user.qualifications or ())


def test_the_edit_form_saves_and_shows_the_skills(app: Any, core: Core, shop: Shop) -> None:
    manager = _manager(app, core, shop)
    wang = shop.technicians[0]
    page = manager.get(f"/admin/staff/{wang}?lang=zh_Hans").get_data(as_text=True)
    assert "技能" in page and "新能源 / 高压" in page and "钣金喷漆" in page and "四轮定位" in page
    for skill in ("ev", "paint", "alignment"):
        assert re.search(rf'<input[^>]*name="{skill}"[^>]*type="checkbox"', page), skill
    form = {
        **_form_fields(page, "edit-form"),
        "name": "王师傅",
        "role": "technician",
        "badge": "1001",
        "team_lead": "y",
        "ev": "y",
        "alignment": "y",
    }
    saved = manager.post(f"/admin/staff/{wang}", data=form)
    assert saved.status_code == 303, saved.get_data(as_text=True)
    assert qualifications_of(core, wang) == ["team_lead", "ev", "alignment"]

    again = manager.get(f"/admin/staff/{wang}?lang=en").get_data(as_text=True)
    checked = set(re.findall(r'<input[^>]*checked[^>]*name="([a-z_]+)"', again))
    checked |= set(re.findall(r'<input[^>]*name="([a-z_]+)"[^>]*checked', again))
    assert checked == {"team_lead", "ev", "alignment"}
    # The list names them in the reader's words.
    listed = manager.get("/admin/staff?lang=en").get_data(as_text=True)
    assert "EV / high voltage" in listed and "Wheel alignment" in listed

    # Unticking a skill takes it away; the inspections stay as ticked.
    fresh = _form_fields(again, "edit-form")
    form = {**form, **fresh}
    del form["ev"]
    assert manager.post(f"/admin/staff/{wang}", data=form).status_code == 303
    assert qualifications_of(core, wang) == ["team_lead", "alignment"]


def test_the_foreman_names_the_skills(client: Any, core: Core, shop: Shop) -> None:
    foreman_session(client, core, shop)
    page = client.get("/foreman?lang=zh_Hans").get_data(as_text=True)
    found = re.search(r'<script type="application/json" id="strings">(.*?)</script>', page, re.S)
    assert found
    words = json.loads(found.group(1))["qualifications"]
    assert words["ev"] == "新能源 / 高压"
    assert words["paint"] == "钣金喷漆"
    assert words["alignment"] == "四轮定位"
    assert words["team_lead"] and words["qc_inspector"]
