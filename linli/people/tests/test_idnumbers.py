import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linli.core.testing.factories import make_id_number
from linli.people.idnumbers import InvalidIdNumber, parse_id_number, phone_problem

births = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2025, 12, 31))


@given(birth=births, sequence=st.integers(0, 499), sex=st.sampled_from("MF"))
def test_valid_numbers_give_back_birth_date_and_sex(birth, sequence, sex):
    number, parsed_birth, parsed_sex = parse_id_number(
        make_id_number(birth=birth, sequence=sequence, sex=sex)
    )
    assert (parsed_birth, parsed_sex) == (birth, sex)
    assert len(number) == 18


@given(birth=births, position=st.integers(0, 16), delta=st.integers(1, 9))
def test_any_single_wrong_digit_is_caught(birth, position, delta):
    number = make_id_number(birth=birth)
    wrong = number[:position] + str((int(number[position]) + delta) % 10) + number[position + 1 :]
    with pytest.raises(InvalidIdNumber):
        parse_id_number(wrong)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("37050219800101123", "18 characters"),
        ("3705021980010112345", "18 characters"),
        ("37050219801301123X", "not a real date"),
        ("370502198002301234", "not a real date"),
        ("3705021980A1011234", "digits"),
        ("", "18 characters"),
    ],
)
def test_malformed_numbers_say_what_is_wrong(value, reason):
    with pytest.raises(InvalidIdNumber, match=reason):
        parse_id_number(value)


def test_future_birth_date_is_refused():
    number = make_id_number(birth=dt.date(2030, 1, 1))
    with pytest.raises(InvalidIdNumber, match="future"):
        parse_id_number(number, today=dt.date(2026, 11, 23))


def test_lowercase_x_and_spaces_are_normalised():
    number = None
    for sequence in range(500):
        candidate = make_id_number(sequence=sequence)
        if candidate.endswith("X"):
            number = candidate
            break
    assert number is not None
    assert parse_id_number(" " + number.lower() + " ")[0] == number


@pytest.mark.parametrize("phone", ["13800138000", "0546-8221234", "05468221234"])
def test_good_phones(phone):
    assert phone_problem(phone) is None


@pytest.mark.parametrize("phone", ["1380013800", "23800138000", "abc", "12345"])
def test_bad_phones(phone):
    assert phone_problem(phone)
