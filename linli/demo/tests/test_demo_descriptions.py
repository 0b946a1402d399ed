"""Demo case descriptions read like their category."""

from linli.cases.seeding import TAXONOMY_FILE, read_json
from linli.demo.cases import DESCRIPTIONS


def test_every_minor_class_has_descriptions_of_its_own():
    minors = {
        minor["code"] for major in read_json(TAXONOMY_FILE)["majors"] for minor in major["minors"]
    }
    assert set(DESCRIPTIONS) == minors
    assert all(DESCRIPTIONS[code] for code in minors)
