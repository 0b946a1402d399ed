"""Elder mode (大字模式) in a real browser at phone width: every text at least 24 px (18 pt),
every menu link and form control at least 60 px high, and text with strong contrast."""

import pytest
from django.urls import reverse

from linli.core.roles import Role
from linli.core.testing.browser import chromium_page
from linli.core.testing.factories import make_user

pytestmark = pytest.mark.browser

# Per visible element: its own text's font size and contrast against the first opaque
# background behind it (WCAG 2 relative luminance); and the height of each target.
MEASURE = """() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => {
    v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  }).reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || c[3] > 0.9) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const shown = (el) =>
    el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  const describe = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
    + (typeof el.className === "string" && el.className.trim()
       ? "." + el.className.trim().split(/\\s+/).join(".") : "");
  const texts = [];
  for (const el of document.body.querySelectorAll("*")) {
    if (!shown(el) || el.closest(".leaflet-container, noscript, script")) continue;
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const style = getComputedStyle(el);
    const [a, b] = [lum(rgb(style.color)), lum(background(el))].sort((x, y) => y - x);
    texts.push({el: describe(el), size: parseFloat(style.fontSize),
                contrast: (a + 0.05) / (b + 0.05), text: el.textContent.trim().slice(0, 30)});
  }
  const targets = [...document.querySelectorAll(
    "nav.main a, header.top a, header.top button, header.top select, main button, main .btn,"
    + " main input:not([type=hidden]):not([type=checkbox]):not([type=radio]), main select,"
    + " main textarea, main label:has(> input[type=checkbox])"
  )].filter(shown).map((el) => ({el: describe(el), height: el.getBoundingClientRect().height,
                                 text: (el.textContent || el.name || "").trim().slice(0, 30)}));
  return {texts, targets};
}"""


@pytest.mark.django_db(transaction=True)
def test_elder_mode_text_contrast_and_targets_at_360px(live_server, town, people):
    user = make_user("elderly-eyes", Role.GRID_WORKER, [town.grid])
    user.set_password("large-letters-2026")
    user.save()
    pages = [
        "/",
        reverse("people:persons"),
        reverse("people:household_detail", args=[people.household.id]),
        reverse("people:household_new"),
        reverse("cases:report"),
        reverse("cases:queue"),
    ]
    with chromium_page() as page:
        page.goto(live_server.url + "/")
        page.fill("#id_username", "elderly-eyes")
        page.fill("#id_password", "large-letters-2026")
        page.click("form[action='/login/'] button[type=submit]")
        page.wait_for_url(live_server.url + "/")
        standard = page.evaluate(MEASURE)
        page.click("header.top form[action='/elder-mode/'] button")
        page.wait_for_selector("html.elder")
        problems = []
        for path in pages:
            page.goto(live_server.url + path)
            assert page.locator("html.elder").count() == 1, path
            found = page.evaluate(MEASURE)
            assert found["texts"] and found["targets"], path
            problems += [
                (path, t["el"], t["text"], f"{t['size']}px")
                for t in found["texts"]
                if t["size"] < 24
            ]
            problems += [
                (path, t["el"], t["text"], f"contrast {t['contrast']:.1f}")
                for t in found["texts"]
                if t["contrast"] < 7
            ]
            problems += [
                (path, t["el"], t["text"], f"{t['height']:.0f}px high")
                for t in found["targets"]
                if t["height"] < 60
            ]
        assert not problems, problems
        # The standard mode is smaller: the measure above can tell the two apart.
        assert min(t["size"] for t in standard["texts"]) < 24
        assert min(t["height"] for t in standard["targets"]) < 60
