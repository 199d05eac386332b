"""Who people are: valid resident ID numbers, the name tables, the subsidy identities."""

from __future__ import annotations

from datetime import date

from stdnum.cn import ric

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜"
            "叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史")
GIVEN = ("伟芳娜秀敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华建国志红玉梅春生海燕文德福荣"
         "晓东子豪宇轩浩然欣怡梓涵雨婷佳琪思远俊杰嘉怡昊天博文一诺")

FAMILY_IDENTITIES = ("dibao", "dibao_edge", "monitored", "filed_poor", "low_income", "at_risk",
                     "returned_to_poverty")
PERSONAL_IDENTITIES = ("severe_disability", "disabled", "entitled")


def make_resident_id(region: str, birth: date, seq: int) -> str:
    """A valid GB 11643 resident ID: region, birth date, 3-digit sequence, check character."""
    if len(region) != 6 or not region.isdigit():
        raise ValueError(f"region must be 6 digits, got {region!r}")
    if not 0 <= seq <= 999:
        raise ValueError(f"seq must be 0..999, got {seq}")
    base = f"{region}{birth:%Y%m%d}{seq:03d}"
    return base + ric.calc_check_digit(base + "0")
