"""Word lists for the synthetic city: surnames by frequency, given names by era, place names.

Everything here is data; `generator.py` draws from it with its own seeded `random.Random`.
"""

from __future__ import annotations

import random

# The most common surnames with their share of the population in percent (public-security
# household statistics, 2020). The tail beyond this list is folded into the weights.
SURNAME_SHARES: tuple[tuple[str, float], ...] = (
    ("王", 7.12), ("李", 7.00), ("张", 6.74), ("刘", 5.10), ("陈", 4.61), ("杨", 3.22),
    ("黄", 2.45), ("赵", 2.23), ("吴", 2.05), ("周", 1.91), ("徐", 1.75), ("孙", 1.54),
    ("马", 1.29), ("朱", 1.28), ("胡", 1.16), ("郭", 1.12), ("何", 1.04), ("林", 1.01),
    ("高", 1.00), ("罗", 0.98), ("郑", 0.93), ("梁", 0.85), ("谢", 0.76), ("宋", 0.71),
    ("唐", 0.70), ("许", 0.66), ("韩", 0.65), ("冯", 0.64), ("邓", 0.63), ("曹", 0.62),
    ("彭", 0.58), ("曾", 0.58), ("肖", 0.57), ("田", 0.52), ("董", 0.51), ("袁", 0.50),
    ("潘", 0.49), ("于", 0.49), ("蒋", 0.48), ("蔡", 0.47), ("余", 0.47), ("杜", 0.46),
    ("叶", 0.45), ("程", 0.44), ("苏", 0.41), ("魏", 0.41), ("吕", 0.40), ("丁", 0.40),
    ("任", 0.39), ("沈", 0.37), ("姚", 0.36), ("卢", 0.36), ("姜", 0.35), ("崔", 0.34),
    ("钟", 0.33), ("谭", 0.33), ("陆", 0.32), ("汪", 0.31), ("范", 0.31), ("金", 0.30),
    ("石", 0.30), ("廖", 0.29), ("贾", 0.29), ("夏", 0.28), ("韦", 0.28), ("付", 0.27),
    ("方", 0.27), ("白", 0.26), ("邹", 0.26), ("孟", 0.26), ("熊", 0.26), ("秦", 0.25),
    ("邱", 0.25), ("江", 0.24), ("尹", 0.24), ("薛", 0.23), ("闫", 0.23), ("段", 0.22),
    ("雷", 0.22), ("侯", 0.22), ("龙", 0.21), ("史", 0.21), ("陶", 0.20), ("黎", 0.20),
    ("贺", 0.20), ("顾", 0.19), ("毛", 0.19), ("郝", 0.19), ("龚", 0.18), ("邵", 0.18),
    ("万", 0.17), ("钱", 0.17), ("严", 0.17), ("覃", 0.16), ("武", 0.16), ("戴", 0.16),
    ("莫", 0.16), ("孔", 0.15), ("向", 0.15), ("汤", 0.15),
)  # fmt: skip

COMMON_SURNAMES = tuple(s for s, _ in SURNAME_SHARES[:20])

# Characters of given names by sex and by birth era: 建国 and 秀英 belong to the grandparents,
# 子涵 and 梓萱 to the grandchildren.
GIVEN_NAME_CHARS: dict[tuple[str, str], str] = {
    ("M", "old"): "建国军华明德福贵强平志春海林成文永富荣忠宝山元喜庆祥广学义",
    ("F", "old"): "秀英兰桂芳珍凤玉翠梅花琴淑娥霞莲云香荣菊素爱美巧金银",
    ("M", "mid"): "伟勇军磊涛斌强鹏杰峰超波辉刚健亮东海龙俊明飞宁勇新斌凯坤",
    ("F", "mid"): "丽静敏燕艳娟霞玲红婷芳莉萍雪琳颖洁慧娜晶倩丹瑞琼蕾媛",
    ("M", "young"): "浩宇轩子涵博文睿泽昊俊天晨一诺铭锦航思鹏嘉瑞皓煜梓奕辰阳",
    ("F", "young"): "欣怡梓涵雨萱诗琪佳悦可馨语彤思雅若晴梦瑶依妍紫淇一诺安然",
}


def era_of(birth_year: int) -> str:
    if birth_year < 1960:
        return "old"
    if birth_year < 1990:
        return "mid"
    return "young"


class WeightedTable:
    """O(1) weighted draws: a lookup table sized so the smallest weight still has a slot."""

    def __init__(self, items: tuple[tuple[str, float], ...], size: int = 20000) -> None:
        total = sum(w for _, w in items)
        table: list[str] = []
        for item, weight in items:
            table.extend([item] * max(1, round(size * weight / total)))
        self.table = table
        self.n = len(table)

    def draw(self, rng: random.Random) -> str:
        return self.table[int(rng.random() * self.n)]


SURNAMES = WeightedTable(SURNAME_SHARES)

# Two-character name roots for streets, communities, compounds and roads.
NAME_FIRST = "东西南北新兴安永和福宁康胜利丰华明清泰盛龙凤金银建光文德振长锦春"
NAME_SECOND = "城安华兴丰泰宁阳和平源河湖港园苑林桥庄店集口湾滩州山景秀"

# The city and its districts are real GB/T 2260 divisions (Dongying, one of the cities in the
# design brief's sources), in the order a growing demo adds them; everything below them is
# invented. (code, name, county?)
CITY_CODE, CITY_NAME = "370500", "东营市"
DISTRICTS: tuple[tuple[str, str, bool], ...] = (
    ("370502", "东营区", False),
    ("370522", "利津县", True),
    ("370503", "河口区", False),
    ("370523", "广饶县", True),
    ("370505", "垦利区", False),
)

COMPOUND_SUFFIXES = ("小区", "花园", "家园", "苑", "新村", "雅居", "嘉园", "名邸")
ROAD_SUFFIXES = ("路", "路", "路", "街", "大道")
VILLAGE_PATTERNS = ("{s}家村", "{s}庄村", "{s}集村", "{s}家庄村", "{s}营村", "前{s}村", "后{s}村")

# Mobile prefixes of the three carriers (all valid 11-digit numbers start with 13–19).
_MOBILE_PREFIX_NUMBERS = (*range(130, 140), *range(150, 160), 166, 170, *range(173, 179))
MOBILE_PREFIXES = tuple(
    str(n) for n in (*_MOBILE_PREFIX_NUMBERS, *range(180, 190), 191, 198, 199) if n != 154
)


def name_roots(rng: random.Random) -> list[str]:
    """All two-character roots in a seeded order; callers take them without repeats."""
    roots = sorted({a + b for a in NAME_FIRST for b in NAME_SECOND if a != b})
    rng.shuffle(roots)
    return roots
