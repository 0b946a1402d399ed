import logging

from hypothesis import given
from hypothesis import strategies as st

from linli.core.masking import PersonalDataLogFilter, mask_id_number, mask_name, mask_phone, scrub
from linli.core.testing.factories import make_id_number


def test_masks_have_the_documented_shape():
    assert mask_id_number("32010219900101123X") == "3201**********123X"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_name("欧阳娜娜") == "欧**娜"
    assert mask_name("李四") == "李*"
    assert mask_id_number("") == mask_phone(None) == ""


@given(st.integers(0, 499), st.text(alphabet="abc :=,", max_size=20))
def test_no_id_number_or_mobile_survives_scrubbing(sequence, noise):
    number = make_id_number(sequence=sequence)
    text = f"{noise}{number}{noise} tel 13912345678{noise}"
    cleaned = scrub(text)
    assert number not in cleaned and "13912345678" not in cleaned
    assert mask_id_number(number) in cleaned


def test_log_filter_rewrites_records(caplog):
    logger = logging.getLogger("linli.test.masking")
    logger.addFilter(PersonalDataLogFilter())
    number = make_id_number()
    with caplog.at_level(logging.INFO, logger="linli.test.masking"):
        logger.info("looked up %s with phone %s", number, "13800138000")
    assert number not in caplog.text and "13800138000" not in caplog.text
    assert "138****8000" in caplog.text
